#include "passes/fp4_pack.h"

#include <cmath>
#include <vector>

#include "lib/arch/gguf_layout.h"
#include "lib/kernels/fp4/fp4.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/util/fp4_storage.h"

namespace quantc::passes {
namespace {

namespace fp4 = kernels::fp4;

// Round to nearest on the FP4 grid: reads the weight whole (NVFP4's tensor scale needs its amax
// before any block), quantizes every row in parallel. Deterministic, so each output tensor can
// compute it on its own.
Fp4Producer RtnProducer(const TensorEntry& w, fp4::Fp4Format format, fp4::ScaleRule rule) {
  return [name = w.name, source = w.source, info = w.info, format, rule]() -> absl::StatusOr<Fp4Quantized> {
    QC_ASSIGN_OR_RETURN(std::vector<float> x, ReadAllAsF32(*source, info));
    float amax = 0.0f;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!std::isfinite(x[i])) return absl::InvalidArgumentError(StrCat("tensor '", name, "' element ", i, " is ", x[i]));
      amax = std::max(amax, std::fabs(x[i]));
    }
    const int64_t cols = info.shape.back(), rows = static_cast<int64_t>(x.size()) / cols;
    Fp4Quantized q;
    q.global = format == fp4::Fp4Format::kNv ? fp4::NvGlobalScale(amax) : 1.0f;
    q.codes.resize(x.size() / 2);
    q.scales.resize(x.size() / fp4::GroupSize(format));
    fp4::fast::QuantizeRows(format, rule, x.data(), rows, cols, q.global, nullptr, q.codes.data(), q.scales.data());
    return q;
  };
}

class Fp4PackPass final : public Pass {
 public:
  explicit Fp4PackPass(Fp4PackOptions options) : options_(std::move(options)) {}
  std::string_view Name() const override { return "fp4-pack"; }
  void BindOptions(OptionBinder& b) override { Fp4PackOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    const bool gguf = model.layout == "gguf";
    if (!gguf && model.layout != "hf") {
      return absl::FailedPreconditionError(StrCat("fp4-pack works on Hugging Face or GGUF layout, not ", model.layout));
    }
    QC_ASSIGN_OR_RETURN(const Fp4Scheme scheme, ParseFp4Scheme("fp4-pack", options_.format));
    QC_ASSIGN_OR_RETURN(const fp4::ScaleRule rule, fp4::ParseScaleRule(options_.rule));
    QC_ASSIGN_OR_RETURN(const Fp4Layout layout, ParseFp4Layout("fp4-pack", options_.layout));
    QC_ASSIGN_OR_RETURN(const Fp4Selection selection, Fp4Selection::Parse("fp4-pack", options_.tensors));
    if (gguf && scheme == Fp4Scheme::kNvfp4) {
      return absl::UnimplementedError("fp4-pack: GGUF holds MXFP4 only here (llama.cpp's NVFP4 type is newer than the "
                                      "llama.cpp quantc's GGUF files are checked with): use format=mxfp4");
    }
    if (!gguf && layout == Fp4Layout::kCompressedTensors && model.config.contains("quantization_config")) {
      return absl::FailedPreconditionError("config.json already has quantization_config: fp4-pack starts from F32/F16/BF16 "
                                           "weights (dequantize first: fp8-to-bf16, fp4-to-bf16)");
    }
    QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterForModel(model));
    const fp4::Fp4Format format = KernelFormat(scheme);
    std::vector<PackedIntTensors> packed;
    std::vector<std::string> weights;
    for (const TensorEntry& e : model.tensors.entries()) {
      if (!selection.Selects(e.name, adapter->RoleOf(e.name))) continue;
      Fp4Producer produce = RtnProducer(e, format, rule);
      QC_ASSIGN_OR_RETURN(PackedIntTensors t, gguf ? GgmlMxfp4Tensors(e, std::move(produce))
                                                  : Fp4Tensors(e, layout, scheme, std::move(produce)));
      packed.push_back(std::move(t));
      weights.push_back(e.name);
    }
    if (packed.empty()) {
      return absl::InvalidArgumentError(StrCat("fp4-pack: tensors='", options_.tensors, "' selects no weight of this model"));
    }
    const int64_t count = static_cast<int64_t>(packed.size());
    // Left-out Linear layers are listed before the packed ones lose their ".weight" names.
    const std::vector<std::string> ignore = LinearModulesLeftOut(model, *adapter, weights);
    QC_RETURN_IF_ERROR(ReplaceWithPacked(model, std::move(packed)));
    if (!gguf && layout == Fp4Layout::kCompressedTensors) {
      std::vector<std::string> targets;
      for (const std::string& w : weights) targets.push_back(ModuleOf(w));
      SetFp4QuantizationConfig(model, scheme, targets, ignore);
    }
    if (ctx.stats != nullptr) ctx.stats->Add("tensors-packed", count);
    return absl::OkStatus();
  }

 private:
  Fp4PackOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateFp4PackPass(Fp4PackOptions options) { return std::make_unique<Fp4PackPass>(std::move(options)); }

}  // namespace quantc::passes
