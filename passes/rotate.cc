#include "passes/rotate.h"

#include <string>
#include <vector>

#include "lib/arch/adapter.h"
#include "lib/arch/model_spec.h"
#include "lib/kernels/hadamard/hadamard.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/util/tensor_sources.h"

namespace quantc::passes {
namespace {

using arch::Role;
using arch::TensorRole;
namespace hd = kernels::hadamard;

class RotatePass final : public Pass {
 public:
  explicit RotatePass(RotateOptions options) : options_(options) {}
  std::string_view Name() const override { return "rotate"; }
  void BindOptions(OptionBinder& b) override { RotateOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    if (model.layout != "hf") return absl::FailedPreconditionError("rotate needs Hugging Face tensor names (layout hf)");
    QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterFor(model.model_type()));
    QC_ASSIGN_OR_RETURN(arch::ModelSpec spec, arch::ParseModelSpec(model.config));
    QC_RETURN_IF_ERROR(adapter->Validate(spec));
    auto name = [&](Role r, int64_t layer = -1, int64_t expert = -1) {
      return adapter->TensorName(TensorRole{r, layer, expert});
    };
    absl::StatusOr<hd::Plan> plan = hd::MakePlan(spec.hidden_size);
    if (!plan.ok()) return absl::InvalidArgumentError(StrCat("rotate: hidden_size: ", plan.status().message()));
    auto shared_plan = std::make_shared<const hd::Plan>(std::move(*plan));
    auto signs = std::make_shared<const std::vector<int8_t>>(
        options_.seed != 0 ? hd::RandomSigns(spec.hidden_size, static_cast<uint64_t>(options_.seed))
                           : std::vector<int8_t>());
    // x -> M x on each vector, M = H·D/√n (the stream becomes M x; readers W·Mᵀ, writers M·W).
    VectorTransform rotate = [shared_plan, signs](float* v, int64_t count, int64_t) {
      hd::Apply(*shared_plan, v, count, signs->empty() ? nullptr : signs->data());
    };

    // Norms must be scale-free for RMSNorm to commute with the rotation.
    std::vector<std::string> norms = {name(Role::kFinalNorm)};
    for (int64_t l = 0; l < spec.num_layers; ++l) norms.push_back(name(Role::kAttnNorm, l)), norms.push_back(name(Role::kFfnNorm, l));
    for (const std::string& n : norms) {
      const TensorEntry* e = model.tensors.Find(n);
      if (e == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", n, "'"));
      QC_ASSIGN_OR_RETURN(std::vector<float> g, ReadAllAsF32(*e->source, e->info));
      for (float v : g) {
        if (v != 1.0f) return absl::FailedPreconditionError(StrCat("rotate: norm '", n, "' is not all ones (run fuse-norms first)"));
      }
    }

    std::vector<std::string> readers = {name(Role::kEmbedding)}, writers;
    if (model.tensors.Find(name(Role::kLmHead)) != nullptr) readers.push_back(name(Role::kLmHead));  // else tied
    for (int64_t l = 0; l < spec.num_layers; ++l) {
      if (spec.mla.enabled()) {
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
    for (const std::string& t : readers) QC_RETURN_IF_ERROR(Transform(model, t, spec.hidden_size, rotate, false));
    for (const std::string& t : writers) QC_RETURN_IF_ERROR(Transform(model, t, spec.hidden_size, rotate, true));
    if (ctx.stats != nullptr) ctx.stats->Add("matrices-rotated", static_cast<int64_t>(readers.size() + writers.size()));
    return absl::OkStatus();
  }

 private:
  // Rows (readers: the stream is their input dim) or columns (writers: their output dim) rotated.
  absl::Status Transform(Model& model, const std::string& name, int64_t hidden, const VectorTransform& rotate,
                         bool columns) const {
    TensorEntry* e = model.tensors.FindMutable(name);
    if (e == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", name, "'"));
    const DType d = e->info.dtype;
    if (d != DType::kF32 && d != DType::kF16 && d != DType::kBF16) {
      return absl::InvalidArgumentError(StrCat("tensor '", name, "' is ", quantc::Name(d),
                                               "; rotate works on F32/F16/BF16 weights (run fp8-to-bf16 first)"));
    }
    const Shape& s = e->info.shape;
    if (s.size() != 2 || s[columns ? 0 : 1] != hidden) {
      return absl::InvalidArgumentError(StrCat("tensor '", name, "' ", ShapeToString(s), " does not ",
                                               columns ? "write" : "read", " the ", hidden, "-wide residual stream"));
    }
    const DType to = options_.f32 ? DType::kF32 : d;
    e->source = MakeVectorTransformSource(e->source, e->info, to, rotate, columns, columns ? "rotate-out" : "rotate-in");
    e->info.dtype = to;
    return absl::OkStatus();
  }

  RotateOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateRotatePass(RotateOptions options) { return std::make_unique<RotatePass>(options); }

}  // namespace quantc::passes
