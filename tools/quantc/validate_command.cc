// `quantc validate REF CAND [CAND...] --text FILE [--targets cpu,npu] [--ctx 512] [--max-tokens N]
//  [--report out.html] [--json out.json] [--max-kld X] [--max-ppl-delta P] [--min-top1 T]`
// `quantc validate IN --to gguf:Q4_K_M,onnx:q4,onnx-qdq --calib calib.txt ...` (convert mode)
// Whether quantized models are good enough: every candidate on every target against the reference,
// window by window over the text (the reference runs once per window for all of them; see
// lib/runner/eval.h for the protocol), with gates that make the exit status fail (validate_report.h
// renders what was measured; validate_candidates.h says what a candidate path runs as).
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "fmt/core.h"
#include "lib/runner/eval.h"
#include "lib/support/file_util.h"
#include "lib/support/output_dir.h"
#include "lib/support/progress.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "tools/common/subprocess.h"
#include "tools/quantc/commands.h"
#include "tools/quantc/loaded_model.h"
#include "tools/quantc/validate_candidates.h"
#include "tools/quantc/validate_report.h"

namespace quantc::tools {
namespace {
namespace fs = std::filesystem;

struct ValidateOptions {
  std::string ref, text, tokenizer, report, json, max_kld, max_ppl_delta, min_top1, calib, passes, out_dir;
  std::vector<std::string> candidates, targets, to;
  runner::EvalOptions eval{.ctx = 512, .max_tokens = 16384};
  std::string command_line;
};

// "0.05", "5%" -> 0.05; `option` names the flag in messages.
absl::StatusOr<double> ParseFraction(std::string_view text, std::string_view option, bool percent_allowed) {
  std::string_view number = text;
  const bool percent = !text.empty() && text.back() == '%';
  if (percent) number.remove_suffix(1);
  double v = 0;
  if (!absl::SimpleAtod(absl::string_view(number.data(), number.size()), &v) || !std::isfinite(v) || (percent && !percent_allowed)) {
    return absl::InvalidArgumentError(StrCat(option, " ", text, ": not a number", percent_allowed ? " (or N%)" : ""));
  }
  return percent ? v / 100 : v;
}

absl::StatusOr<Gates> ParseGates(const ValidateOptions& o) {
  Gates g;
  if (!o.max_kld.empty()) { QC_ASSIGN_OR_RETURN(g.max_kld, ParseFraction(o.max_kld, "--max-kld", false)); }
  if (!o.max_ppl_delta.empty()) { QC_ASSIGN_OR_RETURN(g.max_ppl_delta, ParseFraction(o.max_ppl_delta, "--max-ppl-delta", true)); }
  if (!o.min_top1.empty()) {
    QC_ASSIGN_OR_RETURN(g.min_top1, ParseFraction(o.min_top1, "--min-top1", true));
    if (*g.min_top1 < 0 || *g.min_top1 > 1) return absl::InvalidArgumentError(StrCat("--min-top1 ", o.min_top1, ": not in 0..1 (or 0..100%)"));
  }
  return g;
}

std::vector<std::string> GateFailures(const Gates& g, const runner::EvalResult& e) {
  std::vector<std::string> out;
  const runner::RefMetrics& m = *e.ref;
  if (g.max_kld && !(m.kld_mean <= *g.max_kld)) out.push_back(fmt::format("mean KLD {:.5f} > {} (--max-kld)", m.kld_mean, *g.max_kld));
  const double delta = e.ppl / m.ref_ppl - 1;
  if (g.max_ppl_delta && !(delta <= *g.max_ppl_delta)) {
    out.push_back(fmt::format("PPL {:+.2f}% > {:+.2f}% (--max-ppl-delta)", 100 * delta, 100 * *g.max_ppl_delta));
  }
  if (g.min_top1 && !(m.top1_agree >= *g.min_top1)) {
    out.push_back(fmt::format("same top-1 {:.2f}% < {:.2f}% (--min-top1)", 100 * m.top1_agree, 100 * *g.min_top1));
  }
  return out;
}

// Convert mode: each --to item "format[:type]" becomes one `quantc convert` run into `dir`.
struct Conversion {
  std::string label;
  fs::path output;
  std::vector<std::string> argv;
};

absl::StatusOr<Conversion> PlanConversion(const ValidateOptions& o, const std::string& item, const fs::path& dir) {
  const size_t colon = item.find(':');
  const std::string format = item.substr(0, colon), type = colon == std::string::npos ? "" : item.substr(colon + 1);
  Conversion c{item, {}, {"/proc/self/exe", "convert", o.ref}};
  const std::string safe = StrCat(format, type.empty() ? "" : "-", type);
  auto add = [&](std::initializer_list<std::string> args) { c.argv.insert(c.argv.end(), args); };
  if (format == "gguf") {
    if (type.empty()) return absl::InvalidArgumentError(StrCat("--to ", item, ": name the GGUF type, e.g. gguf:Q4_K_M"));
    c.output = dir / StrCat(safe, ".gguf");
    add({"-o", c.output.string(), "--format", "gguf", "--type", type});
  } else if (format == "onnx") {
    c.output = dir / safe;
    add({"-o", c.output.string(), "--format", "onnx", "--dtypes", type.empty() ? "q4" : type});
  } else if (format == "onnx-qdq") {
    if (o.calib.empty()) return absl::InvalidArgumentError(StrCat("--to ", item, ": the NPU pipeline calibrates its activations: give --calib"));
    c.output = dir / safe;
    add({"-o", c.output.string(), "--format", "onnx-qdq"});
    if (!type.empty()) add({"--type", type});
  } else if (format == "safetensors") {
    c.output = dir / safe;
    add({"-o", c.output.string(), "--format", "safetensors"});
    if (!type.empty()) add({"--type", type});
  } else if (format == "mp") {
    if (type.empty()) return absl::InvalidArgumentError(StrCat("--to ", item, ": name the ranks, e.g. mp:8"));
    c.output = dir / safe;
    add({"-o", c.output.string(), "--format", "mp", "--mp", type});
  } else {
    return absl::InvalidArgumentError(StrCat("--to ", item, ": unknown format '", format, "' (gguf:TYPE, onnx[:DTYPES], onnx-qdq, safetensors[:SCHEME], mp:N)"));
  }
  if (!o.passes.empty()) add({"--passes", o.passes});
  if (!o.calib.empty()) add({"--calib", o.calib});
  return c;
}

std::string Quoted(const std::vector<std::string>& argv) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = i == 0 && argv[0] == "/proc/self/exe" ? std::string("quantc") : argv[i];
    parts.push_back(a.find_first_of(" '\"*;,()") == std::string::npos && !a.empty() ? a : StrCat("'", a, "'"));
  }
  return StrJoin(parts, " ");
}

// Where converted candidates go: --out-dir (kept), or a temporary folder removed at the end.
struct WorkDir {
  fs::path path;
  bool remove = false;
  ~WorkDir() {
    std::error_code ec;
    if (remove) fs::remove_all(path, ec);
  }
};

int64_t ParameterCount(const Model& model) {
  int64_t n = 0;
  for (const TensorEntry& e : model.tensors.entries()) {
    const std::string& name = e.name;
    if (name.ends_with("scale_inv") || name.ends_with("_scale") || name.ends_with(".scale")) continue;
    n += static_cast<int64_t>(e.info.num_elements());
  }
  return n;
}

std::string LayerName(int64_t index, int64_t states) {
  if (index == 0) return "embeddings";
  if (index == states - 1) return StrCat("layer ", index - 1, " + final norm");
  return StrCat("layer ", index - 1);
}

absl::Status RunValidate(ValidateOptions o, const GlobalOptions& global) {
  QC_ASSIGN_OR_RETURN(Gates gates, ParseGates(o));
  const bool convert_mode = !o.to.empty();
  if (convert_mode == !o.candidates.empty()) {
    return absl::InvalidArgumentError(convert_mode ? "give candidates or --to, not both"
                                                   : "give candidates to compare with the reference, or --to to convert them");
  }
  QC_ASSIGN_OR_RETURN(LoadedModel ref, LoadModel(o.ref, /*with_tokenizer=*/true, o.tokenizer));
  QC_ASSIGN_OR_RETURN(std::vector<int32_t> ids, TokenizeFile(*ref.tokenizer, o.text));
  const int64_t windows = runner::EvalWindows(static_cast<int64_t>(ids.size()), o.eval);
  if (windows == 0) {
    return absl::InvalidArgumentError(StrCat(o.text, ": ", ids.size(), " tokens; validation needs more than --ctx ", o.eval.ctx));
  }

  ValidationReport report;
  report.ref = o.ref, report.text = o.text, report.ctx = o.eval.ctx, report.gates = gates;
  report.ref_parameters = ParameterCount(*ref.model);
  report.commands.push_back(o.command_line);

  WorkDir work;
  std::vector<std::pair<std::string, std::string>> paths;  // (path, label)
  for (const std::string& c : o.candidates) paths.emplace_back(c, "");
  if (convert_mode) {
    if (o.out_dir.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "quantc-validate-XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError(StrCat(tmpl, ": cannot create a temporary folder"));
      work.path = tmpl, work.remove = true;
    } else {
      work.path = o.out_dir;
      std::error_code ec;
      fs::create_directories(work.path, ec);
      if (ec) return absl::InvalidArgumentError(StrCat(o.out_dir, ": ", ec.message()));
    }
    std::vector<Conversion> plan;
    for (const std::string& item : o.to) {
      QC_ASSIGN_OR_RETURN(Conversion c, PlanConversion(o, item, work.path));
      plan.push_back(std::move(c));
    }
    for (Conversion& c : plan) {
      if (!global.quiet) fmt::print(stderr, "validate: converting {} ({})\n", c.label, Quoted(c.argv));
      if (global.quiet) c.argv.insert(c.argv.begin() + 1, "--quiet");
      QC_ASSIGN_OR_RETURN(int rc, RunToCompletion(c.argv));
      if (rc != 0) return absl::InternalError(StrCat("--to ", c.label, ": the conversion failed (exit ", rc, "; its error is above)"));
      report.commands.push_back(Quoted(c.argv));
      paths.emplace_back(c.output.string(), c.label);
    }
  }

  CandidateContext ctx{ref.model.get(), o.targets};
  std::vector<std::unique_ptr<ValidationRow>> rows;
  for (const auto& [path, label] : paths) {
    QC_ASSIGN_OR_RETURN(auto opened, OpenCandidate(path, ctx, label));
    for (auto& row : opened) {
      if (row->model.vocab != ref.runner->spec().vocab_size) {
        return absl::InvalidArgumentError(StrCat(path, ": vocabulary ", row->model.vocab, " != the reference's ", ref.runner->spec().vocab_size));
      }
      if (row->runner != nullptr && (row->runner->spec().hidden_size != ref.runner->spec().hidden_size ||
                                     row->runner->spec().num_layers != ref.runner->spec().num_layers)) {
        row->runner = nullptr;  // another shape: logits only
      }
      rows.push_back(std::move(row));
    }
  }

  const int64_t vocab = ref.runner->spec().vocab_size, hidden = ref.runner->spec().hidden_size;
  const int64_t states = ref.runner->spec().num_layers + 1;
  bool any_hidden = false;
  for (const auto& row : rows) any_hidden = any_hidden || row->runner != nullptr;
  std::vector<runner::WindowScorer> scorers(rows.size(), runner::WindowScorer(vocab));
  std::vector<std::optional<runner::HiddenStateError>> errors(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i]->runner) errors[i].emplace(states, hidden);
  }
  std::vector<double> seconds(rows.size());
  runner::WindowScorer ref_scorer(vocab);
  std::vector<float> ref_logits(o.eval.ctx * vocab), logits(o.eval.ctx * vocab), mapped;
  std::vector<std::vector<float>> ref_states(any_hidden ? states : 0);

  const uint64_t per_window = static_cast<uint64_t>(o.eval.ctx - 1);
  Progress progress("validate", per_window * windows * (rows.size() + 1), static_cast<uint64_t>(windows),
                    !global.quiet && Progress::StderrIsTerminal(), "tokens", "windows");
  for (int64_t w = 0; w < windows; ++w) {
    std::span<const int32_t> window = std::span(ids).subspan(w * o.eval.ctx, o.eval.ctx);
    progress.SetDetail(StrCat("reference, window ", w + 1, "/", windows));
    auto cache = ref.runner->NewCache();
    runner::HiddenObserver keep;
    if (any_hidden) keep = [&](int64_t i, std::span<const float> h) { ref_states[i].assign(h.begin(), h.end()); };
    QC_RETURN_IF_ERROR(ref.runner->Forward(window, *cache, ref_logits, keep));
    ref_scorer.Add(window, ref_logits);
    progress.Advance(per_window);
    for (size_t r = 0; r < rows.size(); ++r) {
      ValidationRow& row = *rows[r];
      progress.SetDetail(StrCat(row.label, " on ", row.target, ", window ", w + 1, "/", windows));
      const auto start = std::chrono::steady_clock::now();
      if (row.runner != nullptr) {
        auto c = row.runner->NewCache();
        QC_RETURN_IF_ERROR(row.runner->Forward(window, *c, logits, [&](int64_t i, std::span<const float> h) {
          std::span<const float> want = ref_states[i];
          if (row.basis) {
            mapped.assign(want.begin(), want.end());
            row.basis(i, mapped);
            want = mapped;
          }
          errors[r]->Add(i, want, h);
        }));
      } else {
        absl::Status s = row.model.forward(window, logits);
        if (!s.ok()) return absl::Status(s.code(), StrCat(row.path, " (", row.engine, "): ", s.message()));
      }
      seconds[r] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      scorers[r].Add(window, logits, ref_logits);
      progress.Advance(per_window);
    }
    progress.Advance(0, 1);
  }
  progress.Finish();

  const runner::EvalResult ref_result = ref_scorer.Result();
  report.ref_ppl = ref_result.ppl, report.tokens = ref_result.tokens, report.windows = ref_result.windows;
  bool pass = true;
  std::vector<std::string> failed;
  for (size_t r = 0; r < rows.size(); ++r) {
    const ValidationRow& row = *rows[r];
    RowResult res;
    res.label = row.label, res.path = row.path, res.kind = row.kind, res.target = row.target, res.engine = row.engine;
    res.pipeline = row.pipeline, res.bytes = row.bytes, res.seconds = seconds[r];
    res.bits_per_weight = report.ref_parameters > 0 ? 8.0 * double(row.bytes) / double(report.ref_parameters) : 0;
    res.eval = scorers[r].Result();
    res.kld_histogram = KldHistogram(scorers[r].klds());
    if (errors[r]) {
      for (int64_t i = 0; i < states; ++i) res.layers.push_back({LayerName(i, states), errors[r]->SnrDb(i), errors[r]->Cosine(i)});
      res.departs_at = LargestSnrDrop(res.layers);
    }
    res.failures = GateFailures(gates, res.eval);
    if (!res.failures.empty()) {
      pass = false;
      failed.push_back(StrCat(res.label, " on ", res.target, ": ", StrJoin(res.failures, ", ")));
    }
    report.rows.push_back(std::move(res));
  }

  fmt::print("{}", ReportText(report));
  std::fflush(stdout);  // the table before a failing gate's error line
  for (const auto& [file, render] : {std::pair{o.report, &ReportHtml}, std::pair{o.json, &ReportJson}}) {
    if (file.empty()) continue;
    QC_ASSIGN_OR_RETURN(auto out, AtomicOutput::Begin(file, AtomicOutput::Kind::kFile, /*force=*/true));
    QC_RETURN_IF_ERROR(WriteStringToFile(out->staging(), render(report)));
    QC_RETURN_IF_ERROR(out->Commit());
  }
  if (!pass) return absl::FailedPreconditionError(StrCat("gate failed: ", StrJoin(failed, "; ")));
  return absl::OkStatus();
}

}  // namespace

CommandRunner AddValidateCommand(CLI::App& app, const GlobalOptions& global) {
  auto o = std::make_shared<ValidateOptions>();
  app.add_option("ref", o->ref, "reference: Hugging Face folder or .gguf (in convert mode, the model to convert)")->required();
  app.add_option("candidates", o->candidates,
                 "what to validate: HF folders, .gguf files, mp shard folders, --format onnx folders or .onnx files, "
                 "--format onnx-qdq folders");
  app.add_option("--text", o->text, "evaluation text (never the calibration text)")->required()->check(CLI::ExistingFile);
  app.add_option("--tokenizer", o->tokenizer, "tokenizer.json (or its folder) for a .gguf reference without tokenizer keys");
  app.add_option("--targets", o->targets, "cpu, npu, gpu (default: cpu and npu, every one each candidate runs on; gpu only when named: HF and GGUF candidates on the CUDA device)")
      ->delimiter(',')
      ->check(CLI::IsMember({"cpu", "npu", "gpu"}));
  app.add_option("--ctx", o->eval.ctx, "window length")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  app.add_option("--max-tokens", o->eval.max_tokens, "use the first N tokens of the text")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--report", o->report, "write a self-contained HTML report here");
  app.add_option("--json", o->json, "write the measurements as JSON here");
  app.add_option("--max-kld", o->max_kld, "gate: mean KL divergence (nats) at most X");
  app.add_option("--max-ppl-delta", o->max_ppl_delta, "gate: perplexity at most this much above the reference's (0.05 or 5%)");
  app.add_option("--min-top1", o->min_top1, "gate: same top-1 token as the reference at least this often (0.9 or 90%)");
  app.add_option("--to", o->to,
                 "convert mode: convert REF to each of these and validate them, e.g. gguf:Q4_K_M,gguf:Q8_0,onnx:q4,onnx-qdq,"
                 "safetensors:int4-g128,mp:2")
      ->delimiter(',');
  app.add_option("--calib", o->calib, "convert mode: calibration text for onnx-qdq and gptq")->check(CLI::ExistingFile);
  app.add_option("--passes", o->passes, "convert mode: pass pipeline for every conversion (e.g. 'rotate,gptq')");
  app.add_option("--out-dir", o->out_dir, "convert mode: keep the converted models here (default: a temporary folder, removed)");
  return [o, &global, &app] {
    o->command_line = global.command_line;
    return RunValidate(*o, global);
  };
}

}  // namespace quantc::tools
