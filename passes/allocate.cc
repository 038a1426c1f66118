#include "passes/allocate.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <span>
#include <vector>

#include "fmt/core.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/runner/eval.h"
#include "lib/runner/runner.h"
#include "lib/support/progress.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/quantize.h"
#include "passes/util/calibration.h"

namespace quantc::passes {
namespace {

namespace gq = kernels::ggml_quants;

struct Member {
  size_t index;    // in model.tensors
  int64_t layer;
  DType planned;   // the mix's type
  double kld = 0;  // with this tensor alone at the group's smallest type
};

struct Group {
  std::string kind;  // "ffn_down.weight"
  std::vector<Member> members;
  DType smallest;
};

// "blk.12.ffn_down.weight" -> {12, "ffn_down.weight"}; layer -1 for tensors outside the blocks.
std::pair<int64_t, std::string> SplitLayer(const std::string& name) {
  if (!name.starts_with("blk.")) return {-1, name};
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos || dot == 4) return {-1, name};
  int64_t layer = 0;
  for (size_t i = 4; i < dot; ++i) {
    if (name[i] < '0' || name[i] > '9') return {-1, name};
    layer = layer * 10 + (name[i] - '0');
  }
  return {layer, name.substr(dot + 1)};
}

// The groups whose members the mix gives different types, members in layer order.
std::vector<Group> VaryingGroups(const Model& model, const std::vector<TypeChoice>& choices) {
  std::map<std::string, Group> by_key;
  const auto& entries = model.tensors.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const TypeChoice& c = choices[i];
    if (!c.quantized || c.overridden || !Traits(c.type).is_block_quant) continue;
    const auto [layer, kind] = SplitLayer(entries[i].name);
    if (layer < 0) continue;
    Group& g = by_key[StrCat(kind, " ", ShapeToString(entries[i].info.shape))];
    g.kind = kind;
    g.members.push_back({i, layer, c.type});
  }
  std::vector<Group> out;
  for (auto& [key, g] : by_key) {
    const int64_t cols = entries[g.members.front().index].info.cols();
    g.smallest = g.members.front().planned;
    bool varies = false;
    for (const Member& m : g.members) {
      varies |= m.planned != g.smallest;
      if (gq::RowBytes(m.planned, cols) < gq::RowBytes(g.smallest, cols)) g.smallest = m.planned;
    }
    if (varies) out.push_back(std::move(g));
  }
  return out;
}

class AllocatePass final : public Pass {
 public:
  explicit AllocatePass(AllocateOptions options) : options_(std::move(options)) {}
  std::string_view Name() const override { return "allocate"; }
  void BindOptions(OptionBinder& b) override { AllocateOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    if (model.layout != "gguf") return absl::FailedPreconditionError("allocate needs the GGUF layout (run gguf-layout first)");
    QC_ASSIGN_OR_RETURN(const int64_t windows, CalibrationWindows(ctx, "allocate", options_.samples, options_.ctx));
    QuantizeOptions q;
    q.type = options_.scheme;
    q.overrides = options_.overrides;
    q.pure = options_.pure;
    QC_ASSIGN_OR_RETURN(std::vector<TypeChoice> choices, PlanQuantChoices(model, q, ctx.importance != nullptr));
    std::vector<Group> groups = VaryingGroups(model, choices);
    if (groups.empty()) {
      ctx.notes->push_back(StrCat("allocate: ", options_.scheme, " gives every layer the same types; nothing to re-place"));
      return absl::OkStatus();
    }
    QC_RETURN_IF_ERROR(MeasureSensitivities(model, ctx, windows, groups));

    std::vector<std::string> plan;
    int64_t measured = 0, moved = 0;
    for (Group& g : groups) {
      const int64_t cols = model.tensors.entries()[g.members.front().index].info.cols();
      std::vector<DType> types;
      for (const Member& m : g.members) types.push_back(m.planned);
      std::stable_sort(types.begin(), types.end(),
                       [&](DType a, DType b) { return gq::RowBytes(a, cols) > gq::RowBytes(b, cols); });
      std::vector<size_t> order(g.members.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return g.members[a].kld > g.members[b].kld; });
      std::vector<DType> chosen(g.members.size());
      for (size_t k = 0; k < order.size(); ++k) chosen[order[k]] = types[k];
      for (size_t k = 0; k < g.members.size(); ++k) {
        plan.push_back(StrCat(model.tensors.entries()[g.members[k].index].name, "=", quantc::Name(chosen[k])));
        moved += chosen[k] != g.members[k].planned;
      }
      measured += static_cast<int64_t>(g.members.size());
      ctx.notes->push_back(Describe(g, chosen));
    }
    model.metadata.Set(kAllocateMixKey, MetaValue::String(options_.scheme));
    model.metadata.Set(kAllocateTypesKey, MetaValue::StringArray(std::move(plan)));
    ctx.stats->Add("groups", static_cast<int64_t>(groups.size()));
    ctx.stats->Add("tensors-measured", measured);
    ctx.stats->Add("tensors-moved", moved);
    return absl::OkStatus();
  }

 private:
  // Every member's KLD with it alone at the group's smallest type: the reference stream is kept at
  // the current layer's input, so a member of layer l costs the layers l.. and the head.
  absl::Status MeasureSensitivities(Model& model, PassContext& ctx, int64_t windows, std::vector<Group>& groups) {
    QC_ASSIGN_OR_RETURN(std::unique_ptr<runner::Runner> runner, runner::Runner::Create(model));
    const arch::ModelSpec& spec = runner->spec();
    const int64_t n = options_.ctx, hidden = spec.hidden_size, layers = spec.num_layers;
    std::vector<std::vector<float>> x(static_cast<size_t>(windows)), reference(static_cast<size_t>(windows));
    for (int64_t s = 0; s < windows; ++s) {
      x[s].resize(static_cast<size_t>(n * hidden));
      QC_RETURN_IF_ERROR(runner->Embed(std::span(ctx.calibration->data() + s * n, static_cast<size_t>(n)), x[s].data()));
      reference[s] = FinalStates(*runner, x[s], 0, layers);
    }
    // Every member with its group's smallest type, in layer order.
    std::vector<std::pair<Member*, DType>> by_layer;
    for (Group& g : groups) {
      for (Member& m : g.members) by_layer.emplace_back(&m, g.smallest);
    }
    std::stable_sort(by_layer.begin(), by_layer.end(), [](const auto& a, const auto& b) { return a.first->layer < b.first->layer; });
    Progress progress("allocate", 0, by_layer.size(), ctx.show_progress);
    int64_t at_layer = 0;  // x holds the reference stream at this layer's input
    for (auto [m, low] : by_layer) {
      for (; at_layer < m->layer; ++at_layer) {
        for (auto& xs : x) AdvanceLayer(*runner, xs, at_layer);
      }
      TensorEntry& e = model.tensors.mutable_entries()[m->index];
      const TensorEntry original = e;
      std::vector<std::vector<float>> importance;
      if (ctx.importance != nullptr) {
        QC_ASSIGN_OR_RETURN(importance, ImportanceRows(*ctx.importance, e));
      }
      e.source = MakeQuantizeSource(e.name, e.source, e.info, low, std::move(importance));
      e.info.dtype = low;
      QC_RETURN_IF_ERROR(runner->ReloadLayer(m->layer));
      double kld = 0;
      for (int64_t s = 0; s < windows; ++s) kld += MeanKld(*runner, reference[s], FinalStates(*runner, x[s], m->layer, layers));
      m->kld = kld / static_cast<double>(windows);
      e = original;
      QC_RETURN_IF_ERROR(runner->ReloadLayer(m->layer));
      progress.Advance(0, 1);
    }
    return absl::OkStatus();
  }

  // x through layer l (attention, then FFN, each from an empty cache as GPTQ runs them).
  static void AdvanceLayer(const runner::Runner& r, std::vector<float>& x, int64_t l) {
    const int64_t n = static_cast<int64_t>(x.size()) / r.spec().hidden_size;
    std::vector<float> delta(x.size());
    std::unique_ptr<runner::KvCache> cache = r.NewCache();
    r.AttentionDelta(l, x.data(), n, *cache, delta.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += delta[i];
    r.FfnDelta(l, x.data(), n, delta.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += delta[i];
  }

  // The final norm's output after layers [from, to) applied to a copy of x.
  static std::vector<float> FinalStates(const runner::Runner& r, std::vector<float> x, int64_t from, int64_t to) {
    for (int64_t l = from; l < to; ++l) AdvanceLayer(r, x, l);
    std::vector<float> out(x.size());
    r.FinalNorm(x.data(), static_cast<int64_t>(x.size()) / r.spec().hidden_size, out.data());
    return out;
  }

  // Mean KL(reference || model) over the positions, the head applied 64 positions at a time.
  static double MeanKld(const runner::Runner& r, const std::vector<float>& reference, const std::vector<float>& states) {
    const int64_t hidden = r.spec().hidden_size, vocab = r.spec().vocab_size;
    const int64_t n = static_cast<int64_t>(states.size()) / hidden;
    constexpr int64_t kRows = 64;
    std::vector<float> ref_logits(static_cast<size_t>(kRows * vocab)), logits(ref_logits.size());
    double sum = 0;
    for (int64_t r0 = 0; r0 < n; r0 += kRows) {
      const int64_t rows = std::min(kRows, n - r0);
      r.Head(reference.data() + r0 * hidden, rows, ref_logits.data());
      r.Head(states.data() + r0 * hidden, rows, logits.data());
#pragma omp parallel for reduction(+ : sum) schedule(static)
      for (int64_t t = 0; t < rows; ++t) {
        sum += runner::KlDivergence(std::span(ref_logits).subspan(t * vocab, vocab), std::span(logits).subspan(t * vocab, vocab));
      }
    }
    return sum / static_cast<double>(n);
  }

  // "allocate: ffn_down.weight: q6_K on layers 0,1 (the mix: 2,3); KLD with q4_K by layer 0:0.00371 ...".
  static std::string Describe(const Group& g, const std::vector<DType>& chosen) {
    std::map<DType, std::pair<std::vector<std::string>, std::vector<std::string>>> layers;  // type -> (chosen, mix)
    for (size_t k = 0; k < g.members.size(); ++k) {
      layers[chosen[k]].first.push_back(StrCat(g.members[k].layer));
      layers[g.members[k].planned].second.push_back(StrCat(g.members[k].layer));
    }
    std::string text = StrCat("allocate: ", g.kind, ":");
    for (const auto& [type, where] : layers) {
      if (type == g.smallest) continue;
      text += StrCat(" ", quantc::Name(type), " on layers ", StrJoin(where.first, ","), " (the mix: ", StrJoin(where.second, ","), ")");
    }
    std::vector<std::string> klds;
    for (const Member& m : g.members) klds.push_back(fmt::format("{}:{:.5f}", m.layer, m.kld));
    return StrCat(text, "; KLD with ", quantc::Name(g.smallest), " by layer ", StrJoin(klds, " "));
  }

  AllocateOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateAllocatePass(AllocateOptions options) { return std::make_unique<AllocatePass>(std::move(options)); }

}  // namespace quantc::passes
