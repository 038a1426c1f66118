// DeepSeek-Infer's model-parallel layout (DeepSeek-V3 inference/convert.py, specs/deepseek-
// checkpoints.md §3): the demo name of every HF tensor name, its split dim, and the adapter through
// which the runner reads one rank's tensors by role. The shard pass and the runner share this one
// table, so a layout quantc writes is the layout it runs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/arch/adapter.h"

namespace quantc::arch {

struct InferName {
  std::string name;               // "layers.5.ffn.experts.17.w1.scale"
  int split_dim = -1;             // 0 column-parallel, 1 row-parallel, -1 replicated
  std::optional<int64_t> expert;  // routed expert index (placed whole on one rank)
};

// convert.py's rewrite of an HF name: strip "model.", self_attn -> attn, mlp -> ffn,
// weight_scale_inv -> scale, e_score_correction_bias -> bias, then the key (second-to-last
// component) through its table. INVALID_ARGUMENT names the tensor when the key is not in it.
absl::StatusOr<InferName> DeepSeekInferName(std::string_view hf_name);

// DeepSeek-V3's roles under demo names (model_type and spec checks as DeepseekV3Adapter). RoleOf
// is not provided (nullopt): mp models are only read by role.
const ArchAdapter& DeepSeekInferAdapter();

}  // namespace quantc::arch
