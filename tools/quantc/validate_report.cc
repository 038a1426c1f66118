#include "tools/quantc/validate_report.h"

#include <algorithm>
#include <cmath>

#include "fmt/core.h"
#include "fmt/format.h"
#include "lib/support/file_util.h"
#include "lib/support/strings.h"
#include "nlohmann/json.hpp"

namespace quantc::tools {
namespace {

constexpr double kInfiniteSnr = 200;  // dB: what "equal to the reference" counts as in comparisons

double PplDelta(const RowResult& r) { return r.eval.ppl / r.eval.ref->ref_ppl - 1; }

std::string Departure(const RowResult& r) {
  if (r.layers.empty()) return "-";
  if (!r.departs_at) return "none (equal)";
  const LayerSnr& l = r.layers[*r.departs_at];
  return fmt::format("{} ({:.1f} dB)", l.name, l.snr_db);
}

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string GateText(const Gates& g) {
  std::vector<std::string> parts;
  if (g.max_kld) parts.push_back(fmt::format("mean KLD ≤ {}", *g.max_kld));
  if (g.max_ppl_delta) parts.push_back(fmt::format("ΔPPL ≤ {:+.2f}%", 100 * *g.max_ppl_delta));
  if (g.min_top1) parts.push_back(fmt::format("same top-1 ≥ {:.2f}%", 100 * *g.min_top1));
  return parts.empty() ? "none (report only)" : StrJoin(parts, ", ");
}

// Per-layer SNR as a line chart: x the hidden state, y dB; equal states drawn at the top edge.
std::string SnrChart(const RowResult& r) {
  const double w = 560, h = 220, left = 48, right = 12, top = 14, bottom = 36;
  double hi = 0, lo = 1e9;
  bool any_equal = false;
  for (const LayerSnr& l : r.layers) {
    if (std::isfinite(l.snr_db)) hi = std::max(hi, l.snr_db), lo = std::min(lo, l.snr_db);
    any_equal = any_equal || !std::isfinite(l.snr_db);
  }
  if (lo > hi) lo = 0, hi = 60;  // every state equal
  lo = std::floor(std::min(lo, 0.0) / 10) * 10, hi = std::ceil((hi + 5) / 10) * 10;
  // States equal to the reference's sit on a line of their own above the scale, marked "equal".
  const double top_value = any_equal ? hi + (hi - lo) / 5 : hi;
  const size_t n = r.layers.size();
  auto x = [&](size_t i) { return left + (w - left - right) * (n > 1 ? double(i) / double(n - 1) : 0.5); };
  auto y = [&](double db) { return top + (h - top - bottom) * (1 - (std::min(db, top_value) - lo) / (top_value - lo)); };
  std::string svg = fmt::format(R"(<svg width="{}" height="{}" role="img">)", w, h);
  for (double t = lo; t <= hi + 1e-9; t += (hi - lo) / 5) {
    svg += fmt::format(R"(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" class="grid"/><text x="{}" y="{:.1f}" class="tick" text-anchor="end">{:.0f}</text>)",
                       left, w - right, y(t), y(t), left - 4, y(t) + 4, t);
  }
  if (any_equal) {
    svg += fmt::format(R"(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" class="grid" stroke-dasharray="4 3"/><text x="{}" y="{:.1f}" class="tick" text-anchor="end">equal</text>)",
                       left, w - right, y(top_value), y(top_value), left - 4, y(top_value) + 4);
  }
  auto plotted = [&](double db) { return std::isfinite(db) ? db : top_value; };
  std::string points;
  for (size_t i = 0; i < n; ++i) points += fmt::format("{:.1f},{:.1f} ", x(i), y(plotted(r.layers[i].snr_db)));
  svg += fmt::format(R"(<polyline points="{}" class="line"/>)", points);
  for (size_t i = 0; i < n; ++i) {
    const bool bad = r.departs_at && *r.departs_at == static_cast<int64_t>(i);
    const double db = r.layers[i].snr_db;
    svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="{}" class="{}"><title>{}: {}</title></circle>)", x(i),
                       y(plotted(db)), bad ? 5 : 3, bad ? "dot bad" : "dot", Escape(r.layers[i].name),
                       std::isfinite(db) ? fmt::format("{:.2f} dB", db) : "equal");
    if (i == 0 || i + 1 == n || bad || n <= 16 || i % ((n + 15) / 16) == 0) {
      const std::string tick = i == 0 ? "emb" : i + 1 == n ? "final" : std::to_string(i - 1);
      svg += fmt::format(R"(<text x="{:.1f}" y="{}" class="tick" text-anchor="middle">{}</text>)", x(i), h - bottom + 14, tick);
    }
  }
  svg += fmt::format(R"(<text x="{}" y="{}" class="axis" text-anchor="middle">hidden state (layer output)</text>)", (w + left) / 2, h - 6);
  svg += fmt::format(R"~(<text x="12" y="{}" class="axis" transform="rotate(-90 12 {})" text-anchor="middle">SNR dB</text>)~", h / 2, h / 2);
  return svg + "</svg>";
}

// The per-token KLD distribution as bars over log-spaced bins.
std::string KldChart(const RowResult& r) {
  const double w = 560, h = 180, left = 48, right = 12, top = 10, bottom = 36;
  const std::vector<double>& edges = KldBinEdges();
  const size_t bins = r.kld_histogram.size();
  int64_t peak = 1;
  for (int64_t c : r.kld_histogram) peak = std::max(peak, c);
  const double bw = (w - left - right) / double(bins);
  std::string svg = fmt::format(R"(<svg width="{}" height="{}" role="img">)", w, h);
  for (size_t b = 0; b < bins; ++b) {
    const double bh = (h - top - bottom) * double(r.kld_histogram[b]) / double(peak);
    const std::string range = b == 0 ? fmt::format("< {:g}", edges[0]) : b < edges.size() ? fmt::format("{:g} – {:g}", edges[b - 1], edges[b])
                                                                                           : fmt::format("≥ {:g}", edges.back());
    svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" class="bar"><title>KLD {}: {} tokens</title></rect>)",
                       left + b * bw + 1, h - bottom - bh, bw - 2, bh, range, r.kld_histogram[b]);
  }
  for (size_t b = 0; b < edges.size(); b += 4) {
    svg += fmt::format(R"(<text x="{:.1f}" y="{}" class="tick" text-anchor="middle">{:g}</text>)", left + (b + 1) * bw, h - bottom + 14, edges[b]);
  }
  svg += fmt::format(R"(<text x="{}" y="{}" class="axis" text-anchor="middle">KL divergence per token (nats, log scale)</text>)", (w + left) / 2, h - 6);
  svg += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>)", left - 4, top + 8, peak);
  return svg + "</svg>";
}

constexpr const char* kStyle = R"(body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1f24}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}table{border-collapse:collapse}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right}th{background:#f6f8fa}
td.l,th.l{text-align:left}tr.pass td.s{background:#dafbe1;color:#116329;font-weight:600}
tr.fail td.s{background:#ffebe9;color:#a40e26;font-weight:600}td.bad{color:#a40e26;font-weight:600}
pre{background:#f6f8fa;padding:8px;white-space:pre-wrap;word-break:break-all}.grid{stroke:#eaeef2}.tick{font-size:10px;fill:#57606a}
.axis{font-size:11px;fill:#24292f}.line{fill:none;stroke:#0969da;stroke-width:2}.dot{fill:#0969da}
.dot.bad{fill:#cf222e}.bar{fill:#8250df}.cards{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px}.meta{color:#57606a})";

}  // namespace

const std::vector<double>& KldBinEdges() {
  static const std::vector<double> edges = [] {
    std::vector<double> e;
    for (int q = -24; q <= 4; ++q) e.push_back(std::pow(10.0, q / 4.0));  // 1e-6 .. 10
    return e;
  }();
  return edges;
}

std::vector<int64_t> KldHistogram(const std::vector<double>& klds) {
  const std::vector<double>& edges = KldBinEdges();
  std::vector<int64_t> counts(edges.size() + 1);
  for (double k : klds) ++counts[std::upper_bound(edges.begin(), edges.end(), k) - edges.begin()];
  return counts;
}

std::optional<int64_t> LargestSnrDrop(const std::vector<LayerSnr>& layers) {
  std::optional<int64_t> at;
  double worst = 0, previous = kInfiniteSnr;
  for (size_t i = 0; i < layers.size(); ++i) {
    const double snr = std::min(layers[i].snr_db, kInfiniteSnr);
    if (previous - snr > worst) worst = previous - snr, at = static_cast<int64_t>(i);
    previous = snr;
  }
  return at;
}

std::string ReportText(const ValidationReport& rep) {
  std::string out = fmt::format("reference {}: ppl {:.4f} over {} tokens of {} ({} windows of {})\n", rep.ref, rep.ref_ppl,
                                rep.tokens, rep.text, rep.windows, rep.ctx);
  out += fmt::format("{:<28} {:<4} {:>10} {:>6} {:>9} {:>8} {:>9} {:>9} {:>8} {:>9}  {:<26} {}\n", "candidate", "on", "size",
                     "bpw", "PPL", "dPPL", "KLD", "KLD p99", "top-1", "dp", "departs at (SNR)", "gate");
  for (const RowResult& r : rep.rows) {
    const runner::RefMetrics& m = *r.eval.ref;
    out += fmt::format("{:<28} {:<4} {:>10} {:>6.2f} {:>9.4f} {:>+7.2f}% {:>9.5f} {:>9.5f} {:>7.2f}% {:>+9.5f}  {:<26} {}\n",
                       r.label, r.target, FormatBytes(r.bytes), r.bits_per_weight, r.eval.ppl, 100 * PplDelta(r),
                       m.kld_mean, m.kld_p99, 100 * m.top1_agree, m.delta_p_mean, Departure(r),
                       r.failures.empty() ? "pass" : "FAIL: " + StrJoin(r.failures, "; "));
  }
  return out;
}

std::string ReportJson(const ValidationReport& rep) {
  using J = nlohmann::ordered_json;
  auto number = [](double v) { return std::isfinite(v) ? J(v) : J(nullptr); };
  J gates = J::object();
  if (rep.gates.max_kld) gates["max_kld"] = *rep.gates.max_kld;
  if (rep.gates.max_ppl_delta) gates["max_ppl_delta"] = *rep.gates.max_ppl_delta;
  if (rep.gates.min_top1) gates["min_top1"] = *rep.gates.min_top1;
  J rows = J::array();
  bool pass = true;
  for (const RowResult& r : rep.rows) {
    const runner::RefMetrics& m = *r.eval.ref;
    J layers = J::array();
    for (const LayerSnr& l : r.layers) layers.push_back({{"name", l.name}, {"snr_db", number(l.snr_db)}, {"cosine", l.cosine}});
    J row{{"label", r.label}, {"path", r.path}, {"kind", r.kind}, {"target", r.target}, {"engine", r.engine},
          {"pipeline", r.pipeline}, {"bytes", r.bytes}, {"bits_per_weight", r.bits_per_weight}, {"ppl", r.eval.ppl},
          {"ppl_delta", PplDelta(r)}, {"kld_mean", m.kld_mean}, {"kld_p99", m.kld_p99}, {"kld_p999", m.kld_p999},
          {"top1_agree", m.top1_agree}, {"delta_p_mean", m.delta_p_mean}, {"kld_bin_edges", KldBinEdges()},
          {"kld_histogram", r.kld_histogram}, {"hidden_states", layers},
          {"departs_at", r.departs_at ? J(r.layers[*r.departs_at].name) : J(nullptr)}, {"pass", r.failures.empty()},
          {"failures", r.failures}, {"seconds", r.seconds}};
    pass = pass && r.failures.empty();
    rows.push_back(std::move(row));
  }
  J j{{"ref", rep.ref}, {"text", rep.text}, {"ctx", rep.ctx}, {"tokens", rep.tokens}, {"windows", rep.windows},
      {"ref_ppl", rep.ref_ppl}, {"ref_parameters", rep.ref_parameters}, {"gates", gates}, {"pass", pass},
      {"commands", rep.commands}, {"rows", rows}};
  return j.dump(2) + "\n";
}

std::string ReportHtml(const ValidationReport& rep) {
  bool pass = true;
  for (const RowResult& r : rep.rows) pass = pass && r.failures.empty();
  std::string html = fmt::format(R"(<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>quantc validate: {}</title><style>{}</style></head><body>
<h1>quantc validate — {}</h1>
<p class="meta">Reference <b>{}</b>: PPL {:.4f} on {} ({} scored tokens, {} windows of {}). Gates: {}.</p>
<table><tr><th class="l">candidate</th><th class="l">target</th><th class="l">engine</th><th>size</th><th>bits/weight</th><th>PPL</th><th>ΔPPL</th><th>mean KLD</th><th>KLD p99</th><th>KLD p99.9</th><th>same top-1</th><th>Δp</th><th class="l">departs at (SNR)</th><th class="l">gate</th></tr>
)", Escape(rep.ref), kStyle, pass ? "all candidates pass" : "some candidates fail", Escape(rep.ref), rep.ref_ppl,
                                 Escape(rep.text), rep.tokens, rep.windows, rep.ctx, Escape(GateText(rep.gates)));
  for (const RowResult& r : rep.rows) {
    const runner::RefMetrics& m = *r.eval.ref;
    auto cls = [&](std::string_view what) {
      for (const std::string& f : r.failures) {
        if (f.find(what) != std::string::npos) return std::string(" class=\"bad\"");
      }
      return std::string();
    };
    html += fmt::format(
        "<tr class=\"{}\"><td class=\"l\" title=\"{}\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{:.2f}</td>"
        "<td>{:.4f}</td><td{}>{:+.2f}%</td><td{}>{:.5f}</td><td>{:.5f}</td><td>{:.5f}</td><td{}>{:.2f}%</td><td>{:+.5f}</td>"
        "<td class=\"l\">{}</td><td class=\"l s\">{}</td></tr>\n",
        r.failures.empty() ? "pass" : "fail", Escape(r.path), Escape(r.label), r.target, Escape(r.engine), FormatBytes(r.bytes),
        r.bits_per_weight, r.eval.ppl, cls("PPL"), 100 * PplDelta(r), cls("KLD"), m.kld_mean, m.kld_p99, m.kld_p999,
        cls("top-1"), 100 * m.top1_agree, m.delta_p_mean, Escape(Departure(r)),
        r.failures.empty() ? "PASS" : "FAIL: " + Escape(StrJoin(r.failures, "; ")));
  }
  html += "</table>\n<h2>Per-layer hidden-state SNR against the reference</h2>\n<div class=\"cards\">";
  bool any_layers = false;
  for (const RowResult& r : rep.rows) {
    if (r.layers.empty()) continue;
    any_layers = true;
    html += fmt::format("<div class=\"card\"><b>{}</b> on {} — departs at {}<br>{}</div>", Escape(r.label), r.target,
                        Escape(Departure(r)), SnrChart(r));
  }
  if (!any_layers) html += "<p>No candidate ran in quantc's runner (hidden states come from it only).</p>";
  html += "</div>\n<h2>KL divergence per token</h2>\n<div class=\"cards\">";
  for (const RowResult& r : rep.rows) {
    html += fmt::format("<div class=\"card\"><b>{}</b> on {} ({}) — mean {:.5f}, p99.9 {:.5f}<br>{}</div>", Escape(r.label),
                        r.target, Escape(r.engine), r.eval.ref->kld_mean, r.eval.ref->kld_p999, KldChart(r));
  }
  html += "</div>\n<h2>Commands</h2>\n<pre>";
  for (const std::string& c : rep.commands) html += Escape(c) + "\n";
  for (const RowResult& r : rep.rows) {
    if (!r.pipeline.empty()) html += Escape(fmt::format("# {}: made by the pipeline {}\n", r.label, r.pipeline));
  }
  return html + "</pre>\n</body></html>\n";
}

}  // namespace quantc::tools
