#include "passes/inject_outliers.h"

#include <cmath>
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


class InjectOutliersPass final : public Pass {
 public:
  explicit InjectOutliersPass(InjectOutliersOptions options) : options_(options) {}
  std::string_view Name() const override { return "inject-outliers"; }
  void BindOptions(OptionBinder& b) override { InjectOutliersOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    if (model.layout != "hf") {
      return absl::FailedPreconditionError("inject-outliers needs Hugging Face tensor names (layout hf)");
    }
    const std::string type = model.model_type();
    if (type != "qwen2" && type != "llama") {
      return absl::UnimplementedError(StrCat("inject-outliers supports model_type qwen2 and llama, not '", type, "'"));
    }
    QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterFor(type));
    QC_ASSIGN_OR_RETURN(arch::ModelSpec spec, arch::ParseModelSpec(model.config));
    QC_RETURN_IF_ERROR(adapter->Validate(spec));
    const int64_t hidden = spec.hidden_size;
    if (options_.channels < 1 || options_.channels > hidden) {
      return absl::InvalidArgumentError(StrCat("inject-outliers: channels=", options_.channels, " must be in 1..", hidden));
    }
    if (!std::isfinite(options_.factor) || options_.factor == 0) {
      return absl::InvalidArgumentError(StrCat("inject-outliers: factor=", options_.factor, " must be finite and non-zero"));
    }
    // Per-channel multipliers: F on the chosen channels, 1 elsewhere; the linears get their inverse.
    std::vector<float> up(hidden, 1.0f), down(hidden, 1.0f);
    for (int64_t k = 0; k < options_.channels; ++k) {
      const int64_t c = (2 * k + 1) * hidden / (2 * options_.channels);
      up[c] = static_cast<float>(options_.factor);
      down[c] = static_cast<float>(1.0 / options_.factor);
    }
    auto name = [&](Role r, int64_t layer = -1) { return adapter->TensorName(TensorRole{r, layer, -1}); };

    // Check every dtype before changing anything, so a refusal leaves the model as it was.
    std::vector<std::pair<std::string, std::vector<std::string>>> groups;  // norm -> its readers
    for (int64_t l = 0; l < spec.num_layers; ++l) {
      groups.push_back({name(Role::kAttnNorm, l), {name(Role::kQ, l), name(Role::kK, l), name(Role::kV, l)}});
      groups.push_back({name(Role::kFfnNorm, l), {name(Role::kGate, l), name(Role::kUp, l)}});
    }
    const bool tied = model.tensors.Find(name(Role::kLmHead)) == nullptr;
    const std::string head_source = tied ? name(Role::kEmbedding) : name(Role::kLmHead);
    groups.push_back({name(Role::kFinalNorm), {head_source}});
    for (const auto& [norm, readers] : groups) {
      std::vector<std::string> all = readers;
      all.push_back(norm);
      for (const std::string& t : all) {
        const TensorEntry* e = model.tensors.Find(t);
        if (e == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", t, "'"));
        if (!IsDenseFloat(e->info.dtype)) {
          return absl::InvalidArgumentError(StrCat("tensor '", t, "' is ", quantc::Name(e->info.dtype),
                                                   "; inject-outliers needs F32/F16/BF16 weights (run fp8-to-bf16 first)"));
        }
        if (e->info.cols() != hidden) {
          return absl::InvalidArgumentError(StrCat("tensor '", t, "' ", ShapeToString(e->info.shape),
                                                   " does not have hidden size ", hidden, " columns"));
        }
      }
    }
    // A tied head shares the embedding's bytes; scaling the head's columns needs its own copy.
    if (tied) {
      TensorEntry head = *model.tensors.Find(head_source);
      head.name = name(Role::kLmHead);
      QC_RETURN_IF_ERROR(model.tensors.Add(std::move(head)));
      groups.back().second = {name(Role::kLmHead)};
      model.config["tie_word_embeddings"] = false;
      if (ctx.notes != nullptr) {
        ctx.notes->push_back(StrCat("inject-outliers: untied ", name(Role::kLmHead), " from ", head_source,
                                    " to divide its columns (the output stores both)"));
      }
    }
    int64_t changed = 0;
    for (const auto& [norm, readers] : groups) {
      Scale(*model.tensors.FindMutable(norm), up);
      for (const std::string& t : readers) Scale(*model.tensors.FindMutable(t), down);
      changed += 1 + static_cast<int64_t>(readers.size());
    }
    if (ctx.stats != nullptr) ctx.stats->Add("tensors-changed", changed);
    return absl::OkStatus();
  }

 private:
  // Every row times diag(scale), stored in F32 (the ×F of a BF16 norm entry is exact there).
  static void Scale(TensorEntry& e, const std::vector<float>& scale) {
    e.source = MakeColumnScaleSource(e.source, e.info, DType::kF32, scale);
    e.info.dtype = DType::kF32;
  }

  InjectOutliersOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateInjectOutliersPass(InjectOutliersOptions options) {
  return std::make_unique<InjectOutliersPass>(options);
}

}  // namespace quantc::passes
