// compressed-tensors `pack-quantized` checkpoints (vllm-project/compressed-tensors; what vLLM's
// CompressedTensorsWNA16 loads): the tensors that stand for a weight "X.weight" and the
// config.json keys that describe them. Shared by the passes that write the format (int-quant,
// gptq through passes/util/pack_quantized.h) and the runner, which executes it as stored.
//
//   X.weight_packed      I32 [out, ceil(in·bits/32)]   codes, dense little-endian bit stream per row
//   X.weight_scale       model dtype [out, in/group]   ([out, 1] per channel)
//   X.weight_zero_point  I32 [ceil(out·bits/32), in/group]   asymmetric only, packed along dim 0
//   X.weight_shape       I64 [2] = {out, in}
//   (X.weight_g_idx      I32 [in], actorder "group": not supported here)
// config.json: quantization_config = {quant_method: "compressed-tensors", format: "pack-quantized",
//   quantization_status: "compressed", ignore: [module names left unquantized],
//   config_groups: {group_0: {targets: ["Linear"], weights: {num_bits, type: "int", symmetric,
//   strategy: "group"|"channel", group_size: G|null, actorder, dynamic: false, ...}}}}.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"

namespace quantc {

// What quantization_config says about the weights (one config group).
struct PackedIntConfig {
  int bits = 4;
  int64_t group_size = -1;   // -1: one scale per output channel (strategy "channel")
  bool symmetric = true;
  std::string actorder;      // "" (null) or "weight" (static groups; no g_idx). "group" is refused
  std::string observer = "minmax";
};

// "X.weight" + "_packed" -> "X.weight_packed" (the suffixes below).
inline constexpr std::string_view kPackedSuffix = "_packed", kScaleSuffix = "_scale", kZeroPointSuffix = "_zero_point",
                                  kShapeSuffix = "_shape", kGIdxSuffix = "_g_idx";

// The tensors standing for `weight_name` ("X.weight"), when the table holds "X.weight_packed".
struct PackedIntEntries {
  const TensorEntry* packed = nullptr;
  const TensorEntry* scale = nullptr;       // null when missing (CheckPackedInt says so)
  const TensorEntry* zero_point = nullptr;  // null for symmetric schemes
  const TensorEntry* shape = nullptr;
  const TensorEntry* g_idx = nullptr;
};
std::optional<PackedIntEntries> FindPackedInt(const TensorTable& tensors, std::string_view weight_name);

// Reads quantization_config. NOT_FOUND when there is none; INVALID_ARGUMENT when it is not
// compressed-tensors pack-quantized int weights (the message names the key); UNIMPLEMENTED for
// config groups that differ (mixed precision) and for actorder "group".
absl::StatusOr<PackedIntConfig> PackedIntConfigOf(const Model& model);

// Sets quantization_config for `config`, with `ignore` the module names (tensor names without
// ".weight") of Linear layers left unquantized.
void SetPackedIntConfig(Model& model, const PackedIntConfig& config, std::span<const std::string> ignore);

// Checks the tensors of `weight_name` against `config` (dtypes, shapes, weight_shape's values
// when it is readable) and returns the weight's [out, in]. Messages name the tensor.
absl::StatusOr<std::pair<int64_t, int64_t>> CheckPackedInt(std::string_view weight_name, const PackedIntEntries& e,
                                                           const PackedIntConfig& config);

}  // namespace quantc
