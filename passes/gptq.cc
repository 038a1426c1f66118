#include "passes/gptq.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <set>
#include <vector>

#include "lib/arch/adapter.h"
#include "lib/arch/gguf_layout.h"
#include "lib/kernels/ggml_quants/grid.h"
#include "lib/kernels/gptq/fp4_quantizer.h"
#include "lib/kernels/gptq/ggml_quantizer.h"
#include "lib/kernels/gptq/int_quantizer.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/runner/runner.h"
#include "lib/support/progress.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/quantize.h"
#include "passes/util/calibration.h"
#include "passes/util/fp4_storage.h"
#include "passes/util/hessian_collector.h"
#include "passes/util/pack_quantized.h"

namespace quantc::passes {
namespace {

using arch::Role;
namespace gptq = kernels::gptq;

// GPTQ's true-sequential steps inside a layer; -1 for matrices the runner does not multiply by an
// input of their own (router logits stay unquantized, MLA's kv_b / k_b / v_b are absorbed).
int StepOf(Role role) {
  switch (role) {
    case Role::kQ: case Role::kK: case Role::kV: case Role::kQA: case Role::kKVA: return 0;
    case Role::kQB: return 1;
    case Role::kO: return 2;
    case Role::kGate: case Role::kUp: case Role::kExpertGate: case Role::kExpertUp: case Role::kSharedGate:
    case Role::kSharedUp: return 3;
    case Role::kDown: case Role::kExpertDown: case Role::kSharedDown: return 4;
    default: return -1;
  }
}
constexpr int kSteps = 5, kFirstFfnStep = 3;
constexpr int kHeadStep = kSteps;  // after every layer: the output projection
constexpr int kEmbedStep = kSteps + 1;  // before the layers: the token embedding (GGUF, embed=true)

struct Target {
  std::string name;
  int64_t layer;
  int step;
  bool routed;   // a routed expert: sees only the tokens the router sends it
  DType type;    // GGUF: the ggml block type to quantize to (HF layout: the int scheme)
};


double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

class GptqPass final : public Pass {
 public:
  explicit GptqPass(GptqOptions options) : options_(std::move(options)) {}
  std::string_view Name() const override { return "gptq"; }
  void BindOptions(OptionBinder& b) override { GptqOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    QC_ASSIGN_OR_RETURN(const int64_t windows, CalibrationWindows(ctx, "gptq", options_.samples, options_.ctx));
    QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterForModel(model));
    QC_ASSIGN_OR_RETURN(std::vector<Target> targets, FindTargets(model, *adapter, ctx));
    if (targets.empty()) return absl::OkStatus();
    // Described before the first weight is packed (the runner reads packed weights through it):
    // the targets, and the Linear layers left in higher precision.
    std::vector<std::string> weights, modules;
    for (const Target& t : targets) {
      weights.push_back(t.name);
      modules.push_back(ModuleOf(t.name));
    }
    const std::vector<std::string> ignored = LinearModulesLeftOut(model, *adapter, weights);
    if (fp4_ && fp4_->layout == Fp4Layout::kCompressedTensors) SetFp4QuantizationConfig(model, fp4_->scheme, modules, ignored);
    if (int_scheme_) {
      SetPackedIntQuantizationConfig(model, *int_scheme_, ignored,
                                     options_.act_order && int_scheme_->group > 0 ? "weight" : "");
    }

    HessianCollector collector;
    runner::RunnerOptions ro;
    ro.matmul_observer = [&collector](const std::string& tensor, int64_t expert, const float* x, int64_t n, int64_t cols) {
      collector.Observe(tensor, expert, x, n, cols);
    };
    QC_ASSIGN_OR_RETURN(std::unique_ptr<runner::Runner> runner, runner::Runner::Create(model, ro));
    const arch::ModelSpec& spec = runner->spec();
    const int64_t n = options_.ctx, hidden = spec.hidden_size;
    // fp-target: the original model (its tensor table as it is now, before any weight is
    // replaced) runs beside the quantized one, each window first, and hands its inputs over.
    std::optional<Model> original;
    std::unique_ptr<runner::Runner> original_runner;
    if (options_.fp_target) {
      original.emplace(model);
      runner::RunnerOptions oo;
      oo.matmul_observer = [&collector](const std::string& tensor, int64_t expert, const float* x, int64_t n, int64_t cols) {
        if (expert < 0) collector.ObserveOriginal(tensor, x, n, cols);
      };
      QC_ASSIGN_OR_RETURN(original_runner, runner::Runner::Create(*original, oo));
    }

    // The residual stream of every window at the current layer's input.
    std::vector<std::vector<float>> x(static_cast<size_t>(windows));
    for (int64_t s = 0; s < windows; ++s) {
      x[s].resize(static_cast<size_t>(n * hidden));
      QC_RETURN_IF_ERROR(runner->Embed(std::span(ctx.calibration->data() + s * n, static_cast<size_t>(n)), x[s].data()));
    }
    // The original model's stream (fp-target), and its layer outputs.
    std::vector<std::vector<float>> x0;
    if (original_runner) x0 = x;
    std::vector<float> delta(static_cast<size_t>(n * hidden)), delta0(original_runner ? delta.size() : 0);
    // Steps whose matrices read the normalized stream itself need only the norm, not the layer.
    auto observe_norm = [&](int64_t l, bool ffn, const std::set<std::string>& names) {
      for (int64_t s = 0; s < windows; ++s) {
        if (original_runner) {
          collector.NextCall();
          if (ffn) original_runner->FfnInput(l, x0[s].data(), n, delta0.data());
          else original_runner->AttentionInput(l, x0[s].data(), n, delta0.data());
          for (const std::string& name : names) collector.ObserveOriginal(name, delta0.data(), n, hidden);
        }
        collector.NextCall();
        if (ffn) runner->FfnInput(l, x[s].data(), n, delta.data());
        else runner->AttentionInput(l, x[s].data(), n, delta.data());
        for (const std::string& name : names) collector.Observe(name, -1, delta.data(), n, hidden);
      }
    };
    // One window through layer l's attention or FFN: what it adds to the stream.
    auto layer_delta = [&](runner::Runner& r, int64_t l, bool ffn, const float* in, float* out) {
      if (ffn) {
        r.FfnDelta(l, in, n, out);
      } else {
        std::unique_ptr<runner::KvCache> cache = r.NewCache();
        r.AttentionDelta(l, in, n, *cache, out);
      }
    };
    // Runs every window through layer l's attention or FFN (the original model's first, when it
    // runs along), adding the results to the streams when asked.
    auto run_windows = [&](int64_t l, bool ffn, bool advance, bool advance_original) {
      for (int64_t s = 0; s < windows; ++s) {
        if (original_runner && (!advance || advance_original)) {  // observed, or moved on
          collector.NextCall();
          layer_delta(*original_runner, l, ffn, x0[s].data(), delta0.data());
          if (advance_original) {
            for (size_t i = 0; i < delta0.size(); ++i) x0[s][i] += delta0[i];
          }
        }
        collector.NextCall();
        layer_delta(*runner, l, ffn, x[s].data(), delta.data());
        if (advance) {
          for (size_t i = 0; i < delta.size(); ++i) x[s][i] += delta[i];
        }
      }
    };

    double forward_s = 0, solve_s = 0;
    int64_t quantized = 0, uncalibrated = 0, dead = 0;
    // The token embedding is no matmul: its rows are inputs. An error d in a row costs
    // |W d|^2 in every matrix that reads layer 0's normalized stream, and travels on unchanged in
    // the residual: GPTQ on each row with H = sum W^T W (those readers, still unquantized) plus
    // the identity at the same trace.
    for (const Target& t : targets) {
      if (t.step != kEmbedStep) continue;
      collector.Start({t.name});
      double trace = 0;
      for (const Role r : {Role::kQ, Role::kK, Role::kV, Role::kQA, Role::kKVA}) {
        const TensorEntry* reader = model.tensors.Find(adapter->TensorName({r, 0}));
        if (reader == nullptr || reader->info.shape.size() != 2 || reader->info.cols() != hidden) continue;
        QC_ASSIGN_OR_RETURN(std::vector<float> w, ReadAllAsF32(*reader->source, reader->info));
        for (float v : w) trace += static_cast<double>(v) * v;
        collector.NextCall();
        collector.Observe(t.name, -1, w.data(), reader->info.rows(), hidden);
      }
      std::vector<float> identity(static_cast<size_t>(hidden * hidden), 0.0f);
      const float diag = static_cast<float>(std::sqrt(std::max(trace, 1.0) / static_cast<double>(hidden)));
      for (int64_t c = 0; c < hidden; ++c) identity[c * hidden + c] = diag;
      collector.NextCall();
      collector.Observe(t.name, -1, identity.data(), hidden, hidden);
      QC_RETURN_IF_ERROR(QuantizeTarget(model, t, collector, uncalibrated, dead));
      ++quantized;
    }

    Progress progress("gptq", static_cast<uint64_t>(spec.num_layers), targets.size(), ctx.show_progress, "layers");
    for (int64_t l = 0; l < spec.num_layers; ++l) {
      bool original_moved = false;  // the original stream already past this half of the layer
      for (int step = 0; step < kSteps; ++step) {
        const bool last_of_half = step == kFirstFfnStep - 1 || step == kSteps - 1;
        std::set<std::string> names;
        bool routed = false;
        for (const Target& t : targets) {
          if (t.layer != l || t.step != step) continue;
          names.insert(t.name);
          routed |= t.routed;
        }
        if (!names.empty()) {
          collector.Start(names);
          const double hessian_before = collector.seconds();
          auto start = std::chrono::steady_clock::now();
          if ((step == 0 || step == kFirstFfnStep) && !routed) observe_norm(l, step == kFirstFfnStep, names);
          else run_windows(l, step >= kFirstFfnStep, false, last_of_half);
          original_moved = last_of_half;
          forward_s += Seconds(start) - (collector.seconds() - hessian_before);
          start = std::chrono::steady_clock::now();
          for (const Target& t : targets) {
            if (t.layer != l || t.step != step) continue;
            QC_RETURN_IF_ERROR(QuantizeTarget(model, t, collector, uncalibrated, dead));
            ++quantized;
            progress.Advance(0, 1);
          }
          solve_s += Seconds(start);
          QC_RETURN_IF_ERROR(runner->ReloadLayer(l));
        }
        // The stream moves on past attention, then past the FFN, through the quantized matrices.
        if (last_of_half) {
          const auto start = std::chrono::steady_clock::now();
          collector.Start({});
          run_windows(l, step == kSteps - 1, true, !original_moved);
          original_moved = false;
          forward_s += Seconds(start);
        }
      }
      progress.Advance(1);
    }
    for (const Target& t : targets) {
      if (t.step != kHeadStep) continue;
      collector.Start({t.name});
      auto start = std::chrono::steady_clock::now();
      for (int64_t s = 0; s < windows; ++s) {
        if (original_runner) {
          collector.NextCall();
          original_runner->FinalNorm(x0[s].data(), n, delta0.data());
          collector.ObserveOriginal(t.name, delta0.data(), n, hidden);
        }
        collector.NextCall();
        runner->FinalNorm(x[s].data(), n, delta.data());
        collector.Observe(t.name, -1, delta.data(), n, hidden);
      }
      forward_s += Seconds(start);
      start = std::chrono::steady_clock::now();
      QC_RETURN_IF_ERROR(QuantizeTarget(model, t, collector, uncalibrated, dead));
      solve_s += Seconds(start);
      ++quantized;
    }
    progress.Finish();
    if (ragged_ > 0) ctx.notes->push_back(RaggedGroupsNote("gptq", ragged_, *int_scheme_));
    ctx.stats->Add("tensors-gptq", quantized);
    ctx.stats->Add("calibration-tokens", windows * n);
    ctx.stats->Add("time-forward-ms", static_cast<int64_t>(forward_s * 1000));
    ctx.stats->Add("time-hessian-ms", static_cast<int64_t>(collector.seconds() * 1000));
    ctx.stats->Add("time-solve-ms", static_cast<int64_t>(solve_s * 1000));
    if (dead > 0) ctx.stats->Add("dead-inputs", dead);
    if (uncalibrated > 0) {
      ctx.notes->push_back(StrCat("gptq: ", uncalibrated, " matrices had no calibration input (experts no token was routed "
                                  "to, MLA's kv_b) and were rounded without a Hessian"));
    }
    return absl::OkStatus();
  }

 private:
  // The matrices GPTQ quantizes, with their types: on GGUF, those the quantize mix gives a block
  // type; on HF layout every Linear of the layers (MLA's kv_b too, rounded without a Hessian: the
  // runner absorbs it instead of multiplying inputs by it).
  absl::StatusOr<std::vector<Target>> FindTargets(const Model& model, const arch::ArchAdapter& adapter,
                                                  const PassContext& ctx) {
    std::vector<DType> types;
    if (model.layout == "gguf") {
      QuantizeOptions q;
      q.type = options_.scheme;
      q.overrides = options_.overrides;
      q.pure = options_.pure;
      QC_ASSIGN_OR_RETURN(types, PlanQuantTypes(model, q, ctx.importance != nullptr));
    } else if (model.layout == "hf" && (options_.scheme == "mxfp4" || options_.scheme == "nvfp4")) {
      Fp4Target f;
      QC_ASSIGN_OR_RETURN(f.scheme, ParseFp4Scheme("gptq", options_.scheme));
      QC_ASSIGN_OR_RETURN(f.rule, kernels::fp4::ParseScaleRule(options_.rule));
      QC_ASSIGN_OR_RETURN(f.layout, ParseFp4Layout("gptq", options_.layout));
      QC_ASSIGN_OR_RETURN(Fp4Selection selection,
                          Fp4Selection::Parse("gptq", options_.tensors.empty() ? "experts" : options_.tensors));
      QC_RETURN_IF_ERROR(NamesFor(f.layout, f.scheme, "x.weight").status());
      if (f.layout == Fp4Layout::kCompressedTensors && model.config.contains("quantization_config")) {
        return absl::FailedPreconditionError("gptq: config.json already has quantization_config; FP4 starts from F32/F16/BF16 weights");
      }
      fp4_ = f;
      selection_ = std::move(selection);
    } else if (model.layout == "hf") {
      absl::StatusOr<kernels::int_quant::IntScheme> scheme = kernels::int_quant::ParseIntScheme(options_.scheme);
      if (!scheme.ok()) {
        return absl::InvalidArgumentError(StrCat("gptq: scheme '", options_.scheme, "' on a Hugging Face layout model must be "
                                                 "an integer scheme (int4, int4-g128, int8, ...); GGUF types need gguf-layout first"));
      }
      int_scheme_ = *scheme;
      scale_dtype_ = PackedIntScaleDType(model);
      if (!options_.tensors.empty()) {
        QC_ASSIGN_OR_RETURN(Fp4Selection selection, Fp4Selection::Parse("gptq", options_.tensors));
        selection_ = std::move(selection);
      }
    } else {
      return absl::FailedPreconditionError(StrCat("gptq quantizes GGUF or Hugging Face layouts, not '", model.layout, "'"));
    }
    std::vector<Target> targets;
    const auto& entries = model.tensors.entries();
    for (size_t i = 0; i < entries.size(); ++i) {
      const TensorEntry& e = entries[i];
      const std::optional<arch::TensorRole> role = adapter.RoleOf(e.name);
      if (!role) continue;
      // The output projection (GGUF only; pack-quantized leaves lm_head out, as GPTQ's llama.py
      // does) is calibrated on the final norm's output after the last layer.
      const bool hf = int_scheme_ || fp4_;
      const bool head = role->role == Role::kLmHead && !hf && options_.head;
      const bool embed = role->role == Role::kEmbedding && !hf && options_.embed;
      if (role->layer < 0 && !head && !embed) continue;
      const int step = head    ? kHeadStep
                       : embed ? kEmbedStep
                       : role->role == Role::kKVB && hf ? 1
                                                                 : StepOf(role->role);
      if (step < 0) continue;
      DType type = e.info.dtype;
      if (!hf) {
        type = types[i];
        if (type == e.info.dtype || !Traits(type).is_block_quant) continue;
        if (!kernels::ggml_quants::HasGrid(type)) {
          return absl::UnimplementedError(StrCat("gptq: no grid for ", quantc::Name(type), " (tensor '", e.name, "')"));
        }
      } else if (selection_ && !selection_->Selects(e.name, role)) {
        continue;
      } else if (fp4_) {
        if (e.info.shape.size() != 2 || e.info.shape[1] % GroupSize(fp4_->scheme) != 0) {
          return absl::InvalidArgumentError(StrCat("gptq: tensor '", e.name, "' ", ShapeToString(e.info.shape), " has no whole ",
                                                   quantc::Name(fp4_->scheme), " blocks of ", GroupSize(fp4_->scheme), " inputs"));
        }
      } else {
        QC_RETURN_IF_ERROR(CheckPackable(e, *int_scheme_));
        ragged_ += HasRaggedLastGroup(e, *int_scheme_) ? 1 : 0;
      }
      if (!IsDenseFloat(e.info.dtype)) {
        return absl::InvalidArgumentError(StrCat("gptq: tensor '", e.name, "' is ", quantc::Name(e.info.dtype),
                                                 "; GPTQ starts from F32/F16/BF16 weights"));
      }
      const bool routed = role->role == Role::kExpertGate || role->role == Role::kExpertUp || role->role == Role::kExpertDown;
      targets.push_back({e.name, role->layer, step, routed, type});
    }
    return targets;
  }

  absl::Status QuantizeTarget(Model& model, const Target& t, const HessianCollector& collector, int64_t& uncalibrated,
                              int64_t& dead) const {
    TensorEntry* entry = model.tensors.FindMutable(t.name);
    if (entry == nullptr) return absl::InternalError(StrCat("gptq: tensor '", t.name, "' vanished"));
    TensorEntry& e = *entry;
    const Shape& shape = e.info.shape;
    const int64_t mats = shape.size() == 3 ? shape[0] : 1, rows = shape[shape.size() - 2], cols = shape.back();
    QC_ASSIGN_OR_RETURN(std::vector<float> w, ReadAllAsF32(*e.source, e.info));
    // fp-target: the weights whose outputs on the quantized stream best match the original's.
    if (const std::vector<float> cross = collector.FindCross(t.name); !cross.empty() && mats == 1) {
      const absl::Status st =
          gptq::RetargetToOriginal(w.data(), rows, cols, collector.Find(t.name, -1)->data(), cross.data(), options_.damp);
      if (!st.ok()) return absl::Status(st.code(), StrCat("gptq: tensor '", e.name, "': ", st.message()));
    }
    gptq::Options o;
    o.damp = options_.damp;
    o.block = options_.block;
    o.act_order = options_.act_order;
    o.static_groups = options_.static_groups;
    std::vector<float> identity;
    // The Hessian of matrix m (an expert of a stacked tensor), or the identity (plain rounding) for
    // a matrix no calibration input reached.
    auto hessian_of = [&](int64_t m) -> const float* {
      if (const gptq::HessianAccumulator* h = collector.Find(e.name, mats > 1 ? m : -1)) return h->data();
      if (identity.empty()) {
        identity.assign(static_cast<size_t>(cols * cols), 0.0f);
        for (int64_t c = 0; c < cols; ++c) identity[c * cols + c] = 1;
      }
      ++uncalibrated;
      return identity.data();
    };
    auto solve = [&](float* weights, const float* hessian, gptq::RowQuantizer& q) -> absl::Status {
      absl::StatusOr<gptq::Result> r = gptq::Quantize(weights, rows, cols, hessian, q, o);
      if (!r.ok()) return absl::Status(r.status().code(), StrCat("gptq: tensor '", e.name, "': ", r.status().message()));
      dead += r->dead_columns;
      return absl::OkStatus();
    };
    if (fp4_) {
      float amax = 0.0f;
      for (float v : w) amax = std::max(amax, std::fabs(v));
      const kernels::fp4::Fp4Format format = KernelFormat(fp4_->scheme);
      auto q = std::make_shared<Fp4Quantized>();
      q->global = format == kernels::fp4::Fp4Format::kNv ? kernels::fp4::NvGlobalScale(amax) : 1.0f;
      gptq::Fp4RowQuantizer quantizer(format, fp4_->rule, q->global, rows, cols);
      QC_RETURN_IF_ERROR(solve(w.data(), hessian_of(0), quantizer));
      q->codes = quantizer.codes();
      q->scales = quantizer.scales();
      QC_ASSIGN_OR_RETURN(PackedIntTensors packed, Fp4Tensors(e, fp4_->layout, fp4_->scheme,
                                                              [q]() -> absl::StatusOr<Fp4Quantized> { return *q; }));
      std::vector<PackedIntTensors> batch;
      batch.push_back(std::move(packed));
      return ReplaceWithPacked(model, std::move(batch));
    }
    if (int_scheme_) {
      gptq::IntRowQuantizer quantizer(*int_scheme_, scale_dtype_, rows, cols);
      std::vector<float> original;
      if (options_.refit) original = w;
      QC_RETURN_IF_ERROR(solve(w.data(), hessian_of(0), quantizer));
      if (options_.refit) quantizer.RefitChannelScales(original.data(), hessian_of(0), rows);
      QC_ASSIGN_OR_RETURN(PackedIntTensors packed,
                          PackInt(e, *int_scheme_, scale_dtype_, quantizer.codes(), quantizer.params()));
      std::vector<PackedIntTensors> batch;
      batch.push_back(std::move(packed));
      return ReplaceWithPacked(model, std::move(batch));
    }
    const uint64_t row_bytes = kernels::ggml_quants::RowBytes(t.type, cols);
    std::vector<uint8_t> out(static_cast<size_t>(mats * rows) * row_bytes);
    for (int64_t m = 0; m < mats; ++m) {
      gptq::GgmlRowQuantizer quantizer(t.type, cols, out.data() + static_cast<size_t>(m * rows) * row_bytes);
      QC_RETURN_IF_ERROR(solve(w.data() + m * rows * cols, hessian_of(m), quantizer));
    }
    e.source = std::make_shared<OwnedTensorSource>(std::move(out), StrCat("gptq-", quantc::Name(t.type)));
    e.info.dtype = t.type;
    return absl::OkStatus();
  }

  GptqOptions options_;
  std::optional<kernels::int_quant::IntScheme> int_scheme_;  // HF layout: the integer scheme
  struct Fp4Target {
    Fp4Scheme scheme = Fp4Scheme::kMxfp4;
    kernels::fp4::ScaleRule rule = kernels::fp4::ScaleRule::kCeil;
    Fp4Layout layout = Fp4Layout::kCompressedTensors;
  };
  std::optional<Fp4Target> fp4_;       // HF layout: mxfp4 / nvfp4
  std::optional<Fp4Selection> selection_;  // HF layout: the `tensors` option (fp4 default: experts)
  DType scale_dtype_ = DType::kBF16;
  int64_t ragged_ = 0;  // weights whose last group is shorter (pack-quantized, noted)
};

}  // namespace

std::unique_ptr<Pass> CreateGptqPass(GptqOptions options) { return std::make_unique<GptqPass>(std::move(options)); }

}  // namespace quantc::passes
