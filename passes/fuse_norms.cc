#include "passes/fuse_norms.h"

#include <string>
#include <vector>

#include "lib/arch/adapter.h"
#include "lib/arch/model_spec.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/util/tensor_sources.h"

namespace quantc::passes {
namespace {

using arch::Role;
using arch::TensorRole;


class FuseNormsPass final : public Pass {
 public:
  explicit FuseNormsPass(FuseNormsOptions options) : options_(options) {}
  std::string_view Name() const override { return "fuse-norms"; }
  void BindOptions(OptionBinder& b) override { FuseNormsOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    if (model.layout != "hf") return absl::FailedPreconditionError("fuse-norms needs Hugging Face tensor names (layout hf)");
    QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterFor(model.model_type()));
    QC_ASSIGN_OR_RETURN(arch::ModelSpec spec, arch::ParseModelSpec(model.config));
    QC_RETURN_IF_ERROR(adapter->Validate(spec));
    auto name = [&](Role r, int64_t layer = -1, int64_t expert = -1) {
      return adapter->TensorName(TensorRole{r, layer, expert});
    };
    int64_t folded = 0;
    auto fold = [&](Role norm, int64_t layer, std::vector<std::string> targets) -> absl::Status {
      QC_RETURN_IF_ERROR(Fold(model, name(norm, layer), targets));
      folded += static_cast<int64_t>(targets.size());
      return absl::OkStatus();
    };
    // A tied head shares the embedding's bytes; folding the final norm into it needs its own copy.
    if (model.tensors.Find(name(Role::kLmHead)) == nullptr) {
      const TensorEntry* embed = model.tensors.Find(name(Role::kEmbedding));
      if (embed == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", name(Role::kEmbedding), "'"));
      TensorEntry head = *embed;
      head.name = name(Role::kLmHead);
      QC_RETURN_IF_ERROR(model.tensors.Add(std::move(head)));
      model.config["tie_word_embeddings"] = false;
      if (ctx.notes != nullptr) {
        ctx.notes->push_back(StrCat("fuse-norms: untied ", name(Role::kLmHead), " from ", name(Role::kEmbedding),
                                    " to fold the final norm into it (the output stores both)"));
      }
    }
    for (int64_t l = 0; l < spec.num_layers; ++l) {
      if (spec.mla.enabled()) {
        const bool q_lora = spec.mla.q_lora_rank > 0;
        QC_RETURN_IF_ERROR(fold(Role::kAttnNorm, l, {name(q_lora ? Role::kQA : Role::kQ, l), name(Role::kKVA, l)}));
        if (q_lora) QC_RETURN_IF_ERROR(fold(Role::kQANorm, l, {name(Role::kQB, l)}));
        QC_RETURN_IF_ERROR(fold(Role::kKVANorm, l, {name(Role::kKVB, l)}));
      } else {
        QC_RETURN_IF_ERROR(fold(Role::kAttnNorm, l, {name(Role::kQ, l), name(Role::kK, l), name(Role::kV, l)}));
      }
      std::vector<std::string> ffn;
      if (spec.moe.IsMoeLayer(l)) {
        ffn.push_back(name(Role::kRouter, l));
        for (int64_t e = 0; e < spec.moe.n_routed_experts; ++e) {
          ffn.push_back(name(Role::kExpertGate, l, e));
          ffn.push_back(name(Role::kExpertUp, l, e));
        }
        if (spec.moe.n_shared_experts > 0) {
          ffn.push_back(name(Role::kSharedGate, l));
          ffn.push_back(name(Role::kSharedUp, l));
        }
      } else {
        ffn = {name(Role::kGate, l), name(Role::kUp, l)};
      }
      QC_RETURN_IF_ERROR(fold(Role::kFfnNorm, l, std::move(ffn)));
    }
    QC_RETURN_IF_ERROR(fold(Role::kFinalNorm, -1, {name(Role::kLmHead)}));
    if (ctx.stats != nullptr) ctx.stats->Add("linears-folded", folded);
    return absl::OkStatus();
  }

 private:
  // W <- W · diag(g) for each target, g <- 1.
  absl::Status Fold(Model& model, const std::string& norm_name, const std::vector<std::string>& targets) const {
    TensorEntry* norm = model.tensors.FindMutable(norm_name);
    if (norm == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", norm_name, "'"));
    QC_ASSIGN_OR_RETURN(std::vector<float> g, ReadAllAsF32(*norm->source, norm->info));
    for (const std::string& t : targets) {
      TensorEntry* e = model.tensors.FindMutable(t);
      if (e == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", t, "'"));
      if (!IsDenseFloat(e->info.dtype)) {
        return absl::InvalidArgumentError(StrCat("tensor '", t, "' is ", quantc::Name(e->info.dtype),
                                                 "; fuse-norms folds into F32/F16/BF16 weights (run fp8-to-bf16 first)"));
      }
      if (e->info.shape.size() != 2 || e->info.shape[1] != static_cast<int64_t>(g.size())) {
        return absl::InvalidArgumentError(StrCat("tensor '", t, "' ", ShapeToString(e->info.shape), " does not read the ",
                                                 g.size(), "-wide output of '", norm_name, "'"));
      }
      const DType to = options_.f32 ? DType::kF32 : e->info.dtype;
      e->source = MakeColumnScaleSource(e->source, e->info, to, g);
      e->info.dtype = to;
    }
    norm->source = MakeFillSource(norm->info, 1.0f);
    return absl::OkStatus();
  }

  FuseNormsOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateFuseNormsPass(FuseNormsOptions options) { return std::make_unique<FuseNormsPass>(options); }

}  // namespace quantc::passes
