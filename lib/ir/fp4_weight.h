// FP4 (E2M1) weights as checkpoints store them: which tensors stand for a weight "X.weight", and
// what their shapes must be. Shared by the runner (which executes them as stored), fp4-to-bf16
// (which dequantizes them) and fp4-pack (which writes them). Facts:
// /work/shared/specs/deepseek-checkpoints.md §6.3-6.4 and §7.2-7.6.
//
// Every layout packs two E2M1 codes per byte along the input dim, element 2j in the low nibble.
//   DeepSeek-V4      X.weight I8 or U8 [out, in/2]; X.scale F8_E8M0 (or U8) [out, in/32]
//                    (X = the name without ".weight"). quantization_config does not say so: the
//                    dtypes and shapes do.
//   compressed-tensors mxfp4-pack-quantized:  X.weight_packed U8 [out, in/2]; X.weight_scale U8
//                    (E8M0 bytes) [out, in/32]
//   compressed-tensors nvfp4-pack-quantized:  X.weight_packed U8 [out, in/2]; X.weight_scale F8_E4M3
//                    [out, in/16]; X.weight_global_scale F32 [1]: a divisor, w = e2m1 · scale / global
//   NVIDIA ModelOpt NVFP4: X.weight U8 [out, in/2]; X.weight_scale F8_E4M3 [out, in/16];
//                    X.weight_scale_2 F32 []: a multiplier, w = e2m1 · scale · scale_2
//                    (X.input_scale, a static activation scale, is not part of the weight)
// gpt-oss's MXFP4 experts (`*_blocks` / `*_scales`, stacked [experts, out, in/32, 16]) are not a
// ".weight": see Fp4GptOssBlocks below.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"

namespace quantc {

enum class Fp4Layout { kDeepSeekV4, kCompressedTensors, kModelOpt };
enum class Fp4Scheme { kMxfp4, kNvfp4 };  // 32 per E8M0 scale / 16 per E4M3 scale + a global one

std::string_view Name(Fp4Layout layout);  // "deepseek-v4", "compressed-tensors", "modelopt"
std::string_view Name(Fp4Scheme scheme);  // "mxfp4", "nvfp4"
inline int GroupSize(Fp4Scheme s) { return s == Fp4Scheme::kMxfp4 ? 32 : 16; }

// The tensors standing for one FP4 weight.
struct Fp4Entries {
  Fp4Layout layout = Fp4Layout::kDeepSeekV4;
  Fp4Scheme scheme = Fp4Scheme::kMxfp4;
  const TensorEntry* codes = nullptr;   // [out, in/2] bytes
  const TensorEntry* scales = nullptr;  // [out, in/group]
  const TensorEntry* global = nullptr;  // NVFP4's per-tensor scale (null for MXFP4)
};

// The FP4 tensors of `weight_name` ("X.weight"), or nullopt when the checkpoint stores it some
// other way (or not at all). Detection only: CheckFp4Weight checks the shapes.
std::optional<Fp4Entries> FindFp4Weight(const TensorTable& tensors, std::string_view weight_name);

// The names a layout gives the tensors of `weight_name`, in the order codes, scales, global
// (global empty for MXFP4). DeepSeek-V4 has no NVFP4 form (INVALID_ARGUMENT).
struct Fp4TensorNames {
  std::string codes, scales, global;
};
absl::StatusOr<Fp4TensorNames> NamesFor(Fp4Layout layout, Fp4Scheme scheme, std::string_view weight_name);

// Checks dtypes and shapes; returns the weight's logical [out, in]. Messages name the tensor.
absl::StatusOr<std::pair<int64_t, int64_t>> CheckFp4Weight(std::string_view weight_name, const Fp4Entries& e);

// NVFP4's per-tensor multiplier (ModelOpt's scale_2, or 1 / compressed-tensors' global scale); 1
// for MXFP4. Reads the scalar; INVALID_ARGUMENT when it is not a positive finite number.
absl::StatusOr<float> Fp4GlobalMultiplier(const Fp4Entries& e);

// The scale bytes, row-major [out, in/group], read whole; INVALID_ARGUMENT naming the tensor and
// the group when one is NaN (E8M0 0xFF; E4M3 0x7F / 0xFF): such a weight would run as NaN.
absl::StatusOr<std::vector<uint8_t>> ReadFp4Scales(const Fp4Entries& e);

// True when `t` is the E4M3 or E8M0 scale of an FP4 weight (so not an FP8 weight of its own).
bool IsFp4Scale(const TensorTable& tensors, const TensorEntry& t);

// True when a tensor of the table is (part of) an FP4 weight in any layout above or gpt-oss's.
bool HasFp4Weights(const TensorTable& tensors);

// gpt-oss MXFP4 experts: "P_blocks" U8 [experts, out, in/32, 16] and "P_scales" U8 (E8M0 bytes)
// [experts, out, in/32] for a parameter "P" (e.g. model.layers.0.mlp.experts.gate_up_proj), whose
// Hugging Face BF16 form is [experts, in, out] (transposed). Codes pair up like the others (byte b
// of a block: element 2b low, 2b+1 high).
struct Fp4GptOssBlocks {
  std::string parameter;  // "P"
  const TensorEntry* blocks = nullptr;
  const TensorEntry* scales = nullptr;
};
// For a "P_blocks" entry: its scales, checked ([experts, out, groups] against [.., 16]).
absl::StatusOr<std::optional<Fp4GptOssBlocks>> FindGptOssBlocks(const TensorTable& tensors, const TensorEntry& blocks);

}  // namespace quantc
