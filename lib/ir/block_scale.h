// Block-scaled FP8 checkpoints (DeepSeek-V3/R1/V3.1 `<name>_scale_inv`, V4 `<base>.scale`): the
// naming of a weight's scale companion and the block size from quantization_config. Shared by
// the fp8-to-bf16 pass and the runner, which executes FP8 weights as stored.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"

namespace quantc {

// The scale companion of an F8_E4M3 weight, or nullptr.
const TensorEntry* FindBlockScale(const TensorTable& tensors, std::string_view weight_name);

// quantization_config.weight_block_size, default {128, 128}; INVALID_ARGUMENT if malformed.
absl::StatusOr<std::pair<int64_t, int64_t>> BlockScaleSize(const Model& model);

// Checks a scale against its weight: 2-D weight, scale dtype F32/BF16/F8_E8M0, shape
// [ceil(rows/br), ceil(cols/bc)]. Messages name both tensors and their files.
absl::Status CheckBlockScale(const TensorEntry& weight, const TensorEntry& scale, std::pair<int64_t, int64_t> block);

}  // namespace quantc
