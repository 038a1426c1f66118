// Storing FP4-quantized weights (lib/kernels/fp4 codes and scale bytes) in the checkpoint layouts
// lib/ir/fp4_weight.h reads: compressed-tensors mxfp4/nvfp4-pack-quantized (what vLLM loads for
// DeepSeek-V3-architecture models), DeepSeek-V4's own tensors (MXFP4), and, in GGUF layout, ggml's
// MXFP4 blocks. A pass that quantizes (fp4-pack's RTN, gptq) hands a producer of the whole
// weight's quantization; each output tensor computes it when a writer streams it (so nothing is
// held between tensors: an NVFP4 weight needs its whole amax before any group, and one weight at
// a time in FP32 is what the reordering sources hold too).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/fp4_weight.h"
#include "lib/arch/adapter.h"
#include "lib/ir/model.h"
#include "lib/kernels/fp4/fp4.h"
#include "passes/util/pack_quantized.h"

namespace quantc::passes {

// One weight [rows, cols] on the FP4 grid: codes [rows, cols / 2] (element 2j low nibble), scale
// bytes [rows, cols / group], NVFP4's per-tensor multiplier (1 for MXFP4).
struct Fp4Quantized {
  std::vector<uint8_t> codes, scales;
  float global = 1.0f;
};
// Computes the quantization; called once per output tensor, so it must give the same result each
// time (deterministic, or computed once and kept by the caller).
using Fp4Producer = std::function<absl::StatusOr<Fp4Quantized>()>;

// The tensors of `layout` standing for `weight` (2-D [rows, cols], cols a multiple of the group),
// each streaming `produce`'s result; put them in the table with ReplaceWithPacked (which takes any
// weight's replacement entries). The DeepSeek-V4 layout stores codes as I8, others as U8.
absl::StatusOr<PackedIntTensors> Fp4Tensors(const TensorEntry& weight, Fp4Layout layout, Fp4Scheme scheme,
                                            Fp4Producer produce);
// GGUF layout: `weight` (2-D, or stacked 3-D experts as rows) as one ggml MXFP4 tensor of the same
// name (blocks of 32: the E8M0 byte, then 16 bytes in ggml's nibble order, element j low and
// j + 16 high). Exact: ggml's values are the same codes doubled under half the scale.
absl::StatusOr<PackedIntTensors> GgmlMxfp4Tensors(const TensorEntry& weight, Fp4Producer produce);

inline kernels::fp4::Fp4Format KernelFormat(Fp4Scheme s) {
  return s == Fp4Scheme::kMxfp4 ? kernels::fp4::Fp4Format::kMx : kernels::fp4::Fp4Format::kNv;
}

// The option values passes take (fp4-pack, gptq): "mxfp4" / "nvfp4"; "compressed-tensors" /
// "deepseek-v4". INVALID_ARGUMENT names `pass`, the option and the choices.
absl::StatusOr<Fp4Scheme> ParseFp4Scheme(std::string_view pass, std::string_view text);
absl::StatusOr<Fp4Layout> ParseFp4Layout(std::string_view pass, std::string_view text);

// Which weights get FP4: "experts" (routed experts, as DeepSeek-V4 ships them), "linear" (every
// Linear weight but lm_head) or a regex searched in the tensor name.
class Fp4Selection {
 public:
  static absl::StatusOr<Fp4Selection> Parse(std::string_view pass, const std::string& text);
  // `linear`: the name is a Linear layer's weight (arch::IsLinearRole, ".weight").
  bool Selects(const std::string& name, const std::optional<arch::TensorRole>& role) const;

 private:
  std::string text_;
  std::optional<std::regex> regex_;
};

// config.json's quantization_config for compressed-tensors FP4: one group whose targets are
// `targets` (module names, or "re:" regexes), `ignore` the Linear modules left in higher precision.
void SetFp4QuantizationConfig(Model& model, Fp4Scheme scheme, std::span<const std::string> targets,
                              std::span<const std::string> ignore);

}  // namespace quantc::passes
