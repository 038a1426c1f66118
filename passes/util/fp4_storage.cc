#include "passes/util/fp4_storage.h"

#include <cstring>

#include "lib/kernels/ggml_quants/blocks.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::passes {
namespace {

enum class Part { kCodes, kScales, kGlobal, kGgml };

// One output tensor of a weight's FP4 quantization: computes it whole, streams its part.
class Fp4PartSource final : public TensorSource {
 public:
  Fp4PartSource(std::string weight, Fp4Producer produce, Part part)
      : weight_(std::move(weight)), produce_(std::move(produce)), part_(part) {}

  absl::Status Stream(ByteSink sink) const override {
    QC_ASSIGN_OR_RETURN(Fp4Quantized q, produce_());
    switch (part_) {
      case Part::kCodes: return sink(q.codes);
      case Part::kScales: return sink(q.scales);
      case Part::kGlobal: {
        uint8_t bytes[4];
        std::memcpy(bytes, &q.global, 4);
        return sink(bytes);
      }
      case Part::kGgml: return sink(ToGgml(q));
    }
    return absl::InternalError("unknown FP4 part");
  }
  std::string Describe() const override { return StrCat("fp4(", weight_, ")"); }

 private:
  // Our groups of 32 are ggml's blocks: the same E8M0 byte and codes, nibbles reordered.
  std::vector<uint8_t> ToGgml(const Fp4Quantized& q) const {
    using kernels::ggml_quants::BlockMXFP4;
    constexpr int kQK = kernels::ggml_quants::kQK;
    const size_t blocks = q.scales.size();
    std::vector<uint8_t> out(blocks * sizeof(BlockMXFP4));
    for (size_t b = 0; b < blocks; ++b) {
      BlockMXFP4 block;
      block.e = q.scales[b];
      const uint8_t* c = q.codes.data() + b * (kQK / 2);  // element 2j low, 2j + 1 high
      auto code = [&](int i) { return static_cast<uint8_t>(i % 2 ? c[i / 2] >> 4 : c[i / 2] & 0x0F); };
      for (int j = 0; j < kQK / 2; ++j) block.qs[j] = static_cast<uint8_t>(code(j) | (code(j + kQK / 2) << 4));
      std::memcpy(out.data() + b * sizeof(BlockMXFP4), &block, sizeof(BlockMXFP4));
    }
    return out;
  }

  std::string weight_;
  Fp4Producer produce_;
  Part part_;
};

TensorEntry PartEntry(const TensorEntry& weight, std::string name, DType dtype, Shape shape, const Fp4Producer& produce,
                      Part part) {
  return TensorEntry{.name = std::move(name),
                     .info = {dtype, std::move(shape)},
                     .source = std::make_shared<Fp4PartSource>(weight.name, produce, part),
                     .origin = weight.origin,
                     .placement = weight.placement};
}

absl::Status CheckDims(const TensorEntry& w, int64_t group, bool stacked_ok) {
  const Shape& s = w.info.shape;
  if (!(s.size() == 2 || (stacked_ok && s.size() == 3)) || !IsDenseFloat(w.info.dtype)) {
    return absl::InvalidArgumentError(StrCat("tensor '", w.name, "' (", ShapeToString(s), " ", Name(w.info.dtype),
                                             ") is not a ", stacked_ok ? "2-D or 3-D" : "2-D", " F32/F16/BF16 weight: cannot pack FP4"));
  }
  if (s.back() % group != 0) {
    return absl::InvalidArgumentError(StrCat("tensor '", w.name, "' has ", s.back(), " inputs, not a multiple of the FP4 group (",
                                             group, "): leave it out of the pattern"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PackedIntTensors> Fp4Tensors(const TensorEntry& weight, Fp4Layout layout, Fp4Scheme scheme,
                                            Fp4Producer produce) {
  const int64_t group = GroupSize(scheme);
  QC_RETURN_IF_ERROR(CheckDims(weight, group, false));
  QC_ASSIGN_OR_RETURN(Fp4TensorNames names, NamesFor(layout, scheme, weight.name));
  const int64_t rows = weight.info.shape[0], cols = weight.info.shape[1];
  PackedIntTensors t{weight.name, {}};
  const DType code_dtype = layout == Fp4Layout::kDeepSeekV4 ? DType::kI8 : DType::kU8;
  const DType scale_dtype = scheme == Fp4Scheme::kNvfp4 ? DType::kF8E4M3
                            : layout == Fp4Layout::kDeepSeekV4 ? DType::kF8E8M0 : DType::kU8;
  t.entries.push_back(PartEntry(weight, names.codes, code_dtype, {rows, cols / 2}, produce, Part::kCodes));
  t.entries.push_back(PartEntry(weight, names.scales, scale_dtype, {rows, cols / group}, produce, Part::kScales));
  if (!names.global.empty()) {
    // compressed-tensors stores the reciprocal: weight_global_scale = 1 / multiplier.
    Fp4Producer global = produce;
    if (layout == Fp4Layout::kCompressedTensors) {
      global = [produce]() -> absl::StatusOr<Fp4Quantized> {
        QC_ASSIGN_OR_RETURN(Fp4Quantized q, produce());
        q.global = 1.0f / q.global;
        return q;
      };
    }
    t.entries.push_back(PartEntry(weight, names.global, DType::kF32,
                                  layout == Fp4Layout::kModelOpt ? Shape{} : Shape{1}, global, Part::kGlobal));
  }
  return t;
}

absl::StatusOr<PackedIntTensors> GgmlMxfp4Tensors(const TensorEntry& weight, Fp4Producer produce) {
  QC_RETURN_IF_ERROR(CheckDims(weight, 32, true));
  PackedIntTensors t{weight.name, {}};
  t.entries.push_back(PartEntry(weight, weight.name, DType::kMXFP4, weight.info.shape, produce, Part::kGgml));
  return t;
}

absl::StatusOr<Fp4Scheme> ParseFp4Scheme(std::string_view pass, std::string_view text) {
  if (text == "mxfp4") return Fp4Scheme::kMxfp4;
  if (text == "nvfp4") return Fp4Scheme::kNvfp4;
  return absl::InvalidArgumentError(StrCat(pass, ": format='", text, "': expected mxfp4 or nvfp4"));
}

absl::StatusOr<Fp4Layout> ParseFp4Layout(std::string_view pass, std::string_view text) {
  if (text == "compressed-tensors") return Fp4Layout::kCompressedTensors;
  if (text == "deepseek-v4") return Fp4Layout::kDeepSeekV4;
  return absl::InvalidArgumentError(StrCat(pass, ": layout='", text, "': expected compressed-tensors or deepseek-v4"));
}

absl::StatusOr<Fp4Selection> Fp4Selection::Parse(std::string_view pass, const std::string& text) {
  Fp4Selection s;
  s.text_ = text;
  if (text == "experts" || text == "linear") return s;
  try {
    s.regex_ = std::regex(text);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(StrCat(pass, ": tensors='", text, "' is not a regex (nor experts, linear): ", e.what()));
  }
  return s;
}

bool Fp4Selection::Selects(const std::string& name, const std::optional<arch::TensorRole>& role) const {
  if (regex_) return std::regex_search(name, *regex_);
  const bool linear = role && arch::IsLinearRole(role->role) && name.ends_with(".weight");
  if (text_ == "experts") return linear && arch::IsRoutedExpertRole(role->role);
  return linear && role->role != arch::Role::kLmHead;
}

void SetFp4QuantizationConfig(Model& model, Fp4Scheme scheme, std::span<const std::string> targets,
                              std::span<const std::string> ignore) {
  const bool nv = scheme == Fp4Scheme::kNvfp4;
  const std::string format = StrCat(Name(scheme), "-pack-quantized");
  nlohmann::ordered_json weights = {{"num_bits", 4},
                                    {"type", "float"},
                                    {"strategy", nv ? "tensor_group" : "group"},
                                    {"group_size", GroupSize(scheme)},
                                    {"symmetric", true},
                                    {"dynamic", false},
                                    {"actorder", nullptr},
                                    {"observer", "minmax"},
                                    {"scale_dtype", nv ? "torch.float8_e4m3fn" : "torch.uint8"},
                                    {"zp_dtype", nv ? "torch.float8_e4m3fn" : "torch.uint8"}};
  model.config["quantization_config"] = {
      {"quant_method", "compressed-tensors"},
      {"format", format},
      {"quantization_status", "compressed"},
      {"config_groups",
       {{"group_0",
         {{"targets", std::vector<std::string>(targets.begin(), targets.end())},
          {"weights", weights},
          {"input_activations", nullptr},
          {"output_activations", nullptr},
          {"format", format}}}}},
      {"ignore", std::vector<std::string>(ignore.begin(), ignore.end())}};
}

}  // namespace quantc::passes
