// The dimensions and options of a decoder-only model, read from config.json in either of its two
// forms: released checkpoints (top-level rope_theta / rope_scaling) and transformers 5
// (rope_parameters). Architecture-independent; lib/arch/*_adapter.cc fill in what is theirs.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace quantc::arch {

enum class RopeType { kDefault, kLlama3, kYarn };

struct RopeSpec {
  RopeType type = RopeType::kDefault;
  double theta = 10000.0;
  int64_t dim = 0;             // rotated dims per head (head_dim, or qk_rope_head_dim for MLA)
  bool interleaved = false;    // rotate adjacent pairs (x0,x1),(x2,x3)... (DeepSeek) instead of halves
  double factor = 1.0;         // llama3 / yarn scale factor
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  int64_t original_max_position_embeddings = 0;          // llama3 / yarn
  double beta_fast = 32.0, beta_slow = 1.0;              // yarn
  double mscale = 1.0, mscale_all_dim = 0.0;             // yarn (DeepSeek)
  double attention_factor = 0.0;                         // yarn: 0 = derive from mscale
};

// Multi-head latent attention (DeepSeek-V2/V3). Absent when kv_lora_rank == 0.
struct MlaSpec {
  int64_t q_lora_rank = 0;  // 0: plain q_proj
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;
  bool enabled() const { return kv_lora_rank > 0; }
};

enum class MoeScoring { kSoftmax, kSigmoid };

struct MoeSpec {
  int64_t n_routed_experts = 0;  // 0: dense model
  int64_t n_shared_experts = 0;
  int64_t top_k = 0;
  int64_t n_group = 1, topk_group = 1;
  int64_t moe_intermediate_size = 0;
  int64_t first_k_dense_replace = 0;  // layers before this one are dense
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  MoeScoring scoring = MoeScoring::kSoftmax;
  bool enabled() const { return n_routed_experts > 0; }
  bool IsMoeLayer(int64_t layer) const { return enabled() && layer >= first_k_dense_replace; }
};

// quantc's own block in config.json, for what a pass could not fold into weights and every consumer
// must do at run time (docs/passes.md, "The quantc config key"):
//   "quantc": {"online_hadamard": {"down_proj": {"size": N, "expert_size": E, "shared_expert_size": S}}}
// (rotate r4): multiply each down projection's input by the orthonormal Hadamard matrix of
// lib/kernels/hadamard (MakePlan, no signs) of that width before the matmul: N for dense MLPs,
// E for routed experts, S for shared experts. A key is present only for the kinds the model has.
struct OnlineHadamardSpec {
  int64_t down_proj = 0, expert_down_proj = 0, shared_down_proj = 0;  // widths; 0 = no transform
  bool any() const { return down_proj > 0 || expert_down_proj > 0 || shared_down_proj > 0; }
};

struct ModelSpec {
  std::string model_type;
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0;
  int64_t max_position_embeddings = 0;  // 0: not given
  int64_t num_layers = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t num_mtp_layers = 0;  // DeepSeek next-token-prediction layers: carried, never run
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  RopeSpec rope;
  MlaSpec mla;
  MoeSpec moe;
  OnlineHadamardSpec online_hadamard;
};

// Reads the fields every architecture shares plus the rope, MLA, MoE and quantc blocks when
// present. Errors name config.json and the key; an online transform this version does not know
// is UNIMPLEMENTED (skipping it would compute another function).
absl::StatusOr<ModelSpec> ParseModelSpec(const nlohmann::ordered_json& config);

}  // namespace quantc::arch
