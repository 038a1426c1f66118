#include "passes/fp4_pack.h"

#include <cmath>
#include <regex>
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
    Fp4Scheme scheme;
    if (options_.format == "mxfp4") scheme = Fp4Scheme::kMxfp4;
    else if (options_.format == "nvfp4") scheme = Fp4Scheme::kNvfp4;
    else return absl::InvalidArgumentError(StrCat("fp4-pack: format='", options_.format, "': expected mxfp4 or nvfp4"));
    QC_ASSIGN_OR_RETURN(fp4::ScaleRule rule, fp4::ParseScaleRule(options_.rule));
    Fp4Layout layout;
    if (options_.layout == "compressed-tensors") layout = Fp4Layout::kCompressedTensors;
    else if (options_.layout == "deepseek-v4") layout = Fp4Layout::kDeepSeekV4;
    else return absl::InvalidArgumentError(StrCat("fp4-pack: layout='", options_.layout, "': expected compressed-tensors or deepseek-v4"));
    if (gguf && scheme == Fp4Scheme::kNvfp4) {
      return absl::UnimplementedError("fp4-pack: GGUF holds MXFP4 only here (llama.cpp's NVFP4 type is newer than the "
                                      "llama.cpp quantc's GGUF files are checked with): use format=mxfp4");
    }
    if (!gguf && layout == Fp4Layout::kCompressedTensors && model.config.contains("quantization_config")) {
      return absl::FailedPreconditionError("config.json already has quantization_config: fp4-pack starts from F32/F16/BF16 "
                                           "weights (dequantize first: fp8-to-bf16, fp4-to-bf16)");
    }
    QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterForModel(model));
    std::regex pattern;
    const bool by_role = options_.tensors == "experts" || options_.tensors == "linear";
    if (!by_role) {
      try {
        pattern = std::regex(options_.tensors);
      } catch (const std::regex_error& e) {
        return absl::InvalidArgumentError(StrCat("fp4-pack: tensors='", options_.tensors, "' is not a regex: ", e.what()));
      }
    }
    const fp4::Fp4Format format = scheme == Fp4Scheme::kMxfp4 ? fp4::Fp4Format::kMx : fp4::Fp4Format::kNv;
    std::vector<PackedIntTensors> packed;
    std::vector<std::string> targets, ignore;
    for (const TensorEntry& e : model.tensors.entries()) {
      const std::optional<arch::TensorRole> role = adapter->RoleOf(e.name);
      const bool linear = role && arch::IsLinearRole(role->role) && e.name.ends_with(".weight");
      bool selected = false;
      if (options_.tensors == "experts") selected = linear && arch::IsRoutedExpertRole(role->role);
      else if (options_.tensors == "linear") selected = linear && role->role != arch::Role::kLmHead;
      else selected = std::regex_search(e.name, pattern);
      const std::string module = e.name.ends_with(".weight") ? e.name.substr(0, e.name.size() - 7) : e.name;
      if (!selected) {
        if (linear) ignore.push_back(module);
        continue;
      }
      Fp4Producer produce = RtnProducer(e, format, rule);
      QC_ASSIGN_OR_RETURN(PackedIntTensors t, gguf ? GgmlMxfp4Tensors(e, std::move(produce))
                                                  : Fp4Tensors(e, layout, scheme, std::move(produce)));
      packed.push_back(std::move(t));
      targets.push_back(module);
    }
    if (packed.empty()) {
      return absl::InvalidArgumentError(StrCat("fp4-pack: tensors='", options_.tensors, "' selects no weight of this model"));
    }
    const int64_t count = static_cast<int64_t>(packed.size());
    QC_RETURN_IF_ERROR(ReplaceWithPacked(model, std::move(packed)));
    if (!gguf && layout == Fp4Layout::kCompressedTensors) SetFp4QuantizationConfig(model, scheme, targets, ignore);
    if (ctx.stats != nullptr) ctx.stats->Add("tensors-packed", count);
    return absl::OkStatus();
  }

 private:
  Fp4PackOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateFp4PackPass(Fp4PackOptions options) { return std::make_unique<Fp4PackPass>(std::move(options)); }

}  // namespace quantc::passes
