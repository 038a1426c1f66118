#include "passes/rotate.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/arch/adapter.h"
#include "lib/arch/model_spec.h"
#include "lib/kernels/hadamard/hadamard.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "nlohmann/json.hpp"
#include "lib/pass/pipeline.h"
#include "passes/registry.h"
#include "passes/util/tensor_sources.h"

namespace quantc::passes {
namespace {

using arch::Role;
using arch::TensorRole;
namespace hd = kernels::hadamard;
using PlanPtr = std::shared_ptr<const hd::Plan>;

// The Hadamard of size n; INVALID_ARGUMENT "rotate: <what>: <why>" when lib/kernels/hadamard has none.
absl::StatusOr<PlanPtr> PlanFor(int64_t n, std::string_view what) {
  absl::StatusOr<hd::Plan> plan = hd::MakePlan(n);
  if (!plan.ok()) return absl::InvalidArgumentError(StrCat("rotate: ", what, ": ", plan.status().message()));
  return std::make_shared<const hd::Plan>(std::move(*plan));
}

// v -> (I ⊗ H)·D·v on each vector: D = diag(signs) (none when empty), then H on every consecutive
// plan->n floats (R1; R2 and R4 with no signs and, for R4, one block).
VectorTransform BlockHadamard(PlanPtr plan, std::vector<int8_t> signs = {}) {
  auto d = std::make_shared<const std::vector<int8_t>>(std::move(signs));
  return [plan, d](float* v, int64_t count, int64_t length) {
    if (!d->empty()) {
      for (int64_t r = 0; r < count; ++r) {
        for (int64_t i = 0; i < length; ++i) v[r * length + i] *= (*d)[i];
      }
    }
    hd::Apply(*plan, v, count * (length / plan->n));
  };
}

// R1's M = (I ⊗ H)·D, D the seeded signs of the hidden size (none for seed 0).
VectorTransform R1(PlanPtr plan, int64_t hidden, int64_t seed) {
  return BlockHadamard(plan, seed != 0 ? hd::RandomSigns(hidden, static_cast<uint64_t>(seed)) : std::vector<int8_t>());
}

// H on the value part of every head of a [heads × (nope + v)] vector (kv_b's columns): rows
// h·(nope + v) + nope .. + v, gathered so that one Apply does them all.
VectorTransform HeadValues(PlanPtr plan, int64_t heads, int64_t nope) {
  return [plan, heads, nope](float* v, int64_t count, int64_t length) {
    const int64_t dv = plan->n, per = nope + dv;
    std::vector<float> values(static_cast<size_t>(count * heads * dv));
    for (int64_t r = 0; r < count * heads; ++r) {
      std::copy_n(v + (r / heads) * length + (r % heads) * per + nope, dv, values.data() + r * dv);
    }
    hd::Apply(*plan, values.data(), count * heads);
    for (int64_t r = 0; r < count * heads; ++r) {
      std::copy_n(values.data() + r * dv, dv, v + (r / heads) * length + (r % heads) * per + nope);
    }
  };
}


// One transform of one tensor: `f` on each row (columns = false: the matrix's input side; a 1-D
// tensor is one row) or each column (its output side), that side `width` wide.
struct Step {
  std::string tensor;
  int64_t width;
  VectorTransform f;
  bool columns;
  std::string_view what;  // for messages: "r2 (values)"
  std::string_view description;  // for Describe(): "rotate-values"
};

class RotatePass final : public Pass {
 public:
  explicit RotatePass(RotateOptions options) : options_(options) {}
  std::string_view Name() const override { return "rotate"; }
  void BindOptions(OptionBinder& b) override { RotateOptions::Bind(b, options_); }
  const RotateOptions& options() const { return options_; }

  absl::Status Run(Model& model, PassContext& ctx) override {
    if (model.layout != "hf") return absl::FailedPreconditionError("rotate needs Hugging Face tensor names (layout hf)");
    QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterFor(model.model_type()));
    QC_ASSIGN_OR_RETURN(arch::ModelSpec spec, arch::ParseModelSpec(model.config));
    QC_RETURN_IF_ERROR(adapter->Validate(spec));
    auto name = [&](Role r, int64_t layer = -1, int64_t expert = -1) {
      return adapter->TensorName(TensorRole{r, layer, expert});
    };

    // Every size is checked before the model changes.
    const int64_t hidden = spec.hidden_size, block = options_.block == 0 ? hidden : options_.block;
    if (block < 1 || hidden % block != 0) {
      return absl::InvalidArgumentError(StrCat("rotate: block ", options_.block, " does not divide hidden_size ", hidden));
    }
    QC_ASSIGN_OR_RETURN(PlanPtr r1, PlanFor(block, options_.block == 0 ? "hidden_size" : "block"));
    const bool mla = spec.mla.enabled();
    const int64_t head_dim = mla ? spec.mla.v_head_dim : spec.head_dim;
    PlanPtr r2;
    if (options_.r2) {
      QC_ASSIGN_OR_RETURN(r2, PlanFor(head_dim, mla ? "r2: v_head_dim" : "r2: head_dim"));
    }
    std::vector<std::pair<std::string, PlanPtr>> downs;
    nlohmann::ordered_json down_sizes = nlohmann::ordered_json::object();
    if (options_.r4) {
      if (spec.online_hadamard.any()) {
        return absl::FailedPreconditionError("rotate: r4: the model already has an online Hadamard "
                                             "(config.json quantc.online_hadamard); r4 runs once");
      }
      QC_RETURN_IF_ERROR(PlanDownProjections(model, spec, *adapter, downs, down_sizes));
    }
    QC_RETURN_IF_ERROR(CheckNormsAreOnes(model, spec, *adapter));

    // R1: x -> M x with M = (I ⊗ H_block)·D on the stream; readers W·Mᵀ (M on rows), writers M·W.
    const VectorTransform m = R1(r1, hidden, options_.seed);
    std::vector<std::string> readers = {name(Role::kEmbedding)}, writers;
    if (model.tensors.Find(name(Role::kLmHead)) != nullptr) readers.push_back(name(Role::kLmHead));  // else tied
    for (int64_t l = 0; l < spec.num_layers; ++l) {
      if (mla) {
        readers.push_back(name(spec.mla.q_lora_rank > 0 ? Role::kQA : Role::kQ, l));
        readers.push_back(name(Role::kKVA, l));
      } else {
        for (Role r : {Role::kQ, Role::kK, Role::kV}) readers.push_back(name(r, l));
      }
      writers.push_back(name(Role::kO, l));
      if (spec.moe.IsMoeLayer(l)) {
        readers.push_back(name(Role::kRouter, l));
        for (int64_t e = 0; e < spec.moe.n_routed_experts; ++e) {
          readers.push_back(name(Role::kExpertGate, l, e));
          readers.push_back(name(Role::kExpertUp, l, e));
          writers.push_back(name(Role::kExpertDown, l, e));
        }
        if (spec.moe.n_shared_experts > 0) {
          readers.push_back(name(Role::kSharedGate, l));
          readers.push_back(name(Role::kSharedUp, l));
          writers.push_back(name(Role::kSharedDown, l));
        }
      } else {
        readers.push_back(name(Role::kGate, l));
        readers.push_back(name(Role::kUp, l));
        writers.push_back(name(Role::kDown, l));
      }
    }
    std::vector<Step> steps;
    for (const std::string& t : readers) steps.push_back({t, hidden, m, false, "R1 (the residual stream)", "rotate-in"});
    for (const std::string& t : writers) steps.push_back({t, hidden, m, true, "R1 (the residual stream)", "rotate-out"});

    // R2: per head v -> H v; v_proj / kv_b value rows H·W, o_proj's head columns W·Hᵀ. Every head
    // uses the same H, so each query head's o_proj block (GQA: head h reads KV head h / group)
    // undoes its KV head's transform.
    if (options_.r2) {
      const VectorTransform per_head = BlockHadamard(r2);
      for (int64_t l = 0; l < spec.num_layers; ++l) {
        if (mla) {
          const int64_t nope = spec.mla.qk_nope_head_dim;
          steps.push_back({name(Role::kKVB, l), spec.num_heads * (nope + head_dim), HeadValues(r2, spec.num_heads, nope),
                           true, "r2 (values)", "rotate-values"});
        } else {
          const int64_t width = spec.num_kv_heads * head_dim;
          steps.push_back({name(Role::kV, l), width, per_head, true, "r2 (values)", "rotate-values"});
          if (spec.attention_bias) {  // Qwen2: the bias is one row of values
            steps.push_back({name(Role::kVBias, l), width, per_head, false, "r2 (values)", "rotate-values"});
          }
        }
        steps.push_back(
            {name(Role::kO, l), spec.num_heads * head_dim, per_head, false, "r2 (attention output)", "rotate-heads-in"});
      }
    }

    // R4: down_proj W·Hᵀ (H on rows); consumers apply H to its input (config.json records it).
    for (const auto& [t, plan] : downs) {
      steps.push_back({t, plan->n, BlockHadamard(plan), false, "r4 (down_proj input)", "rotate-down-in"});
    }
    QC_RETURN_IF_ERROR(ApplySteps(model, steps));
    if (options_.r4) {
      model.config["quantc"]["online_hadamard"]["down_proj"] = down_sizes;
      if (ctx.notes != nullptr) {
        ctx.notes->push_back(StrCat("rotate: r4 recorded an online Hadamard before every down_proj in config.json (quantc."
                                    "online_hadamard.down_proj = ", down_sizes.dump(), "); GGUF cannot carry it"));
      }
    }
    if (ctx.stats != nullptr) ctx.stats->Add("transforms-folded", static_cast<int64_t>(steps.size()));
    return absl::OkStatus();
  }

 private:
  // RMSNorm commutes with the rotation only when its scale is ones (fuse-norms).
  static absl::Status CheckNormsAreOnes(const Model& model, const arch::ModelSpec& spec, const arch::ArchAdapter& a) {
    std::vector<std::string> norms = {a.TensorName({Role::kFinalNorm})};
    for (int64_t l = 0; l < spec.num_layers; ++l) {
      norms.push_back(a.TensorName({Role::kAttnNorm, l}));
      norms.push_back(a.TensorName({Role::kFfnNorm, l}));
    }
    for (const std::string& n : norms) {
      const TensorEntry* e = model.tensors.Find(n);
      if (e == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", n, "'"));
      QC_ASSIGN_OR_RETURN(std::vector<float> g, ReadAllAsF32(*e->source, e->info));
      for (float v : g) {
        if (v != 1.0f) {
          return absl::FailedPreconditionError(StrCat("rotate: norm '", n, "' is not all ones (run fuse-norms first)"));
        }
      }
    }
    return absl::OkStatus();
  }

  // R4's targets: every down projection with the Hadamard of its input width, and the widths by
  // kind ("size": dense MLPs, "expert_size", "shared_expert_size"), one width per kind.
  static absl::Status PlanDownProjections(const Model& model, const arch::ModelSpec& spec, const arch::ArchAdapter& a,
                                          std::vector<std::pair<std::string, PlanPtr>>& downs,
                                          nlohmann::ordered_json& sizes) {
    std::vector<std::pair<std::string, const char*>> targets;
    for (int64_t l = 0; l < spec.num_layers; ++l) {
      if (!spec.moe.IsMoeLayer(l)) {
        targets.emplace_back(a.TensorName({Role::kDown, l}), "size");
        continue;
      }
      for (int64_t e = 0; e < spec.moe.n_routed_experts; ++e) {
        targets.emplace_back(a.TensorName({Role::kExpertDown, l, e}), "expert_size");
      }
      if (spec.moe.n_shared_experts > 0) targets.emplace_back(a.TensorName({Role::kSharedDown, l}), "shared_expert_size");
    }
    std::map<int64_t, PlanPtr> plans;
    for (const auto& [t, key] : targets) {
      const TensorEntry* e = model.tensors.Find(t);
      if (e == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", t, "'"));
      if (e->info.shape.size() != 2) {
        return absl::InvalidArgumentError(StrCat("tensor '", t, "' ", ShapeToString(e->info.shape), " is not a matrix"));
      }
      const int64_t width = e->info.shape[1];
      if (sizes.contains(key) && sizes[key].get<int64_t>() != width) {
        return absl::InvalidArgumentError(StrCat("rotate: r4: tensor '", t, "' takes ", width, " inputs, other down ",
                                                 "projections of its kind ", sizes[key].get<int64_t>()));
      }
      sizes[key] = width;
      if (!plans.contains(width)) {
        QC_ASSIGN_OR_RETURN(plans[width], PlanFor(width, StrCat("r4: input width ", width, " of '", t, "'")));
      }
      downs.emplace_back(t, plans[width]);
    }
    return absl::OkStatus();
  }

  // Checks every step, then wraps each tensor's source once per step. A tensor's last step stores
  // F32 with f32=true, else the tensor's own dtype; earlier steps (o_proj: R1 and r2; down_proj:
  // R1 and r4) hand F32 to the next, so each weight is rounded once.
  absl::Status ApplySteps(Model& model, const std::vector<Step>& steps) const {
    std::map<std::string, size_t> last;  // the index of each tensor's last step
    std::map<std::string, DType> dtype;  // each tensor's dtype before the pass
    for (size_t i = 0; i < steps.size(); ++i) {
      const Step& s = steps[i];
      const TensorEntry* e = model.tensors.Find(s.tensor);
      if (e == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", s.tensor, "'"));
      if (!IsDenseFloat(e->info.dtype)) {
        return absl::InvalidArgumentError(StrCat("tensor '", s.tensor, "' is ", quantc::Name(e->info.dtype),
                                                 "; rotate works on F32/F16/BF16 weights (run fp8-to-bf16 first)"));
      }
      const Shape& shape = e->info.shape;
      const bool ok = shape.size() == 2 ? shape[s.columns ? 0 : 1] == s.width
                                        : shape.size() == 1 && !s.columns && shape[0] == s.width;
      if (!ok) {
        return absl::InvalidArgumentError(StrCat("tensor '", s.tensor, "' ", ShapeToString(shape), " has no ", s.width,
                                                 "-wide ", s.columns ? "output" : "input", " for ", s.what));
      }
      last[s.tensor] = i;
      dtype.emplace(s.tensor, e->info.dtype);
    }
    for (size_t i = 0; i < steps.size(); ++i) {
      const Step& s = steps[i];
      TensorEntry* e = model.tensors.FindMutable(s.tensor);
      TensorInfo matrix = e->info;
      if (matrix.shape.size() == 1) matrix.shape = {1, matrix.shape[0]};
      const DType to = last[s.tensor] == i && !options_.f32 ? dtype[s.tensor] : DType::kF32;
      e->source = MakeVectorTransformSource(e->source, matrix, to, s.f, s.columns, std::string(s.description));
      e->info.dtype = to;
    }
    return absl::OkStatus();
  }

  RotateOptions options_;
};

}  // namespace

absl::StatusOr<ResidualTransform> ResidualRotation(int64_t hidden, const RotateOptions& options) {
  const int64_t block = options.block == 0 ? hidden : options.block;
  if (block < 1 || hidden % block != 0) {
    return absl::InvalidArgumentError(StrCat("rotate: block ", options.block, " does not divide hidden_size ", hidden));
  }
  QC_ASSIGN_OR_RETURN(PlanPtr plan, PlanFor(block, options.block == 0 ? "hidden_size" : "block"));
  VectorTransform m = R1(plan, hidden, options.seed);
  return [m, hidden](float* x, int64_t rows) { m(x, rows, hidden); };
}

absl::StatusOr<std::vector<RotateOptions>> RecordedRotations(std::string_view pipeline) {
  std::vector<RotateOptions> out;
  if (pipeline.empty()) return out;
  QC_ASSIGN_OR_RETURN(auto passes, ParsePipeline(pipeline, Registry()));
  for (const auto& p : passes) {
    if (const auto* rotate = dynamic_cast<const RotatePass*>(p.get())) out.push_back(rotate->options());
  }
  return out;
}

std::unique_ptr<Pass> CreateRotatePass(RotateOptions options) { return std::make_unique<RotatePass>(options); }

}  // namespace quantc::passes
