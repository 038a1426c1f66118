// Architecture adapters: each maps a checkpoint's tensor names to canonical roles and back, and
// checks its part of the model spec. Passes, formats and the runner speak roles, never names, so
// adding an architecture means adding one adapter file (and one line in adapter.cc's list).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "lib/arch/model_spec.h"

namespace quantc::arch {

enum class Role : uint8_t {
  kEmbedding, kFinalNorm, kLmHead,                         // global
  kAttnNorm, kFfnNorm,                                     // per layer
  kQ, kK, kV, kO, kQBias, kKBias, kVBias,                  // attention
  kQA, kQANorm, kQB, kKVA, kKVANorm, kKVB,                 // MLA (kQ when q_lora_rank == 0)
  kGate, kUp, kDown,                                       // dense FFN
  kRouter, kRouterBias,                                    // MoE router + e_score_correction_bias
  kExpertGate, kExpertUp, kExpertDown,                     // routed expert i
  kSharedGate, kSharedUp, kSharedDown,                     // shared experts (one fused MLP)
  // GGUF layout only (llama.cpp's converter makes them): MLA's kv_b split per head into the key
  // up-projection, transposed (attn_k_b), and the value up-projection (attn_v_b); llama3 rope
  // frequency factors (rope_freqs).
  kKB, kVB, kRopeFreqs,
};

// Matrices a Linear layer multiplies by (projections, experts, lm_head): what weight quantizers
// quantize. Not embeddings, norms, the router and its bias, biases, rope factors.
bool IsLinearRole(Role r);
inline bool IsRoutedExpertRole(Role r) { return r == Role::kExpertGate || r == Role::kExpertUp || r == Role::kExpertDown; }

struct TensorRole {
  Role role = Role::kEmbedding;
  int64_t layer = -1;   // for per-layer roles
  int64_t expert = -1;  // for routed experts
  bool operator==(const TensorRole&) const = default;
};

class ArchAdapter {
 public:
  virtual ~ArchAdapter() = default;
  // config.json's model_type ("qwen2", "llama", "deepseek_v3").
  virtual std::string_view model_type() const = 0;
  // The checkpoint name of a role ("model.layers.3.self_attn.q_proj.weight").
  virtual std::string TensorName(const TensorRole& role) const = 0;
  // The role of a checkpoint name; nullopt for names the architecture does not run (scales, MTP).
  // A compressed-tensors "X.weight_packed" has the role of "X.weight" (HF layout).
  virtual std::optional<TensorRole> RoleOf(std::string_view name) const = 0;
  // Architecture-specific checks and defaults on a parsed spec.
  virtual absl::Status Validate(ModelSpec& spec) const = 0;
  // For stacked tensors (GGUF's ffn_*_exps hold every expert of a layer): the index of `role`'s
  // slice along the leading dimension of TensorName(role); nullopt when the tensor is the role's own.
  virtual std::optional<int64_t> StackedIndex(const TensorRole&) const { return std::nullopt; }
};

// The adapter for a model_type; NOT_FOUND lists the supported ones.
absl::StatusOr<const ArchAdapter*> AdapterFor(std::string_view model_type);
std::span<const ArchAdapter* const> AllAdapters();

// Hugging Face's naming, shared by the adapters of HF-layout checkpoints.
std::string HfTensorName(const TensorRole& role);
std::optional<TensorRole> HfRoleOf(std::string_view name);

// Base of the adapters for checkpoints in Hugging Face layout (all three today).
class HfLayoutAdapter : public ArchAdapter {
 public:
  std::string TensorName(const TensorRole& role) const override { return HfTensorName(role); }
  std::optional<TensorRole> RoleOf(std::string_view name) const override { return HfRoleOf(name); }
};

const ArchAdapter& Qwen2Adapter();       // qwen2.cc
const ArchAdapter& LlamaAdapter();       // llama.cc
const ArchAdapter& DeepseekV3Adapter();  // deepseek_v3.cc

}  // namespace quantc::arch
