// The math of one decoder layer, on FP32 activations [n tokens, width]. Plain loops in the
// order transformers computes them; the matmuls go through kernels::MatMul.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "lib/arch/model_spec.h"
#include "lib/kernels/hadamard/hadamard.h"
#include "lib/kernels/matmul/weight_matrix.h"

namespace quantc::runner {

// out = x * rsqrt(mean(x^2) + eps) * weight, row by row (`out` may alias `x`).
void RmsNorm(const float* x, int64_t n, int64_t width, const std::vector<float>& weight, double eps, float* out);

// Causal attention of n new queries (positions pos0 .. pos0+n-1) over the cache's T keys:
// q [n, heads, dk], k [T, kv_heads, dk], v [T, kv_heads, dv] -> out [n, heads, dv].
void Attend(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads, int64_t kv_heads,
            int64_t dk, int64_t dv, float scale, float* out);

// Absorbed multi-head latent attention over a latent cache (DeepSeek-V2/V3): the cache keeps, per
// token, the normalized KV latent [kv_lora] and the rotated shared k_pe [rope] instead of per-head
// keys and values. kv_b [heads * (nope + v), kv_lora] is folded into the query (q_nope · W_k) and
// the output (W_v · Σ p latent), which is the same attention as expanding K and V.
// q [n, heads, nope + rope] (k_pe part already rotated) -> out [n, heads, v].
struct LatentAttention {
  int64_t heads, nope, rope, v, kv_lora;
  float scale;
};
void AttendLatent(const LatentAttention& a, const float* q, const float* latent, const float* k_pe,
                  const float* kv_b /* FP32 [heads * (nope + v), kv_lora] */, int64_t n, int64_t pos0, float* out);

struct FfnWeights {
  const kernels::WeightMatrix* gate = nullptr;
  const kernels::WeightMatrix* up = nullptr;
  const kernels::WeightMatrix* down = nullptr;
  // rotate(r4)'s online Hadamard on down's input (ModelSpec::online_hadamard); null: none.
  const kernels::hadamard::Plan* down_hadamard = nullptr;
};
// out [n, hidden] = down(H · (silu(gate(x)) * up(x))), H = down_hadamard or I.
void SwiGlu(const FfnWeights& w, const float* x, int64_t n, float* out);

struct MoeWeights {
  const kernels::WeightMatrix* router = nullptr;
  const std::vector<float>* router_bias = nullptr;  // e_score_correction_bias (may be null)
  std::vector<FfnWeights> experts;  // gate == nullptr: held by another rank (mp layout)
  FfnWeights shared;  // gate == nullptr when the model has no shared experts
};
// DeepSeek-V3 routing: sigmoid (or softmax) scores; groups ranked by the sum of their top-2
// biased scores; top-k experts among the best topk_group groups; weights from the unbiased
// scores, normalized if norm_topk_prob, times routed_scaling_factor; plus the shared experts.
void Moe(const arch::MoeSpec& spec, const MoeWeights& w, const float* x, int64_t n, int64_t hidden, float* out);

// The experts and weights routing picks for one token's router logits (exposed for tests).
struct Routing {
  std::vector<int64_t> experts;
  std::vector<float> weights;
};
Routing Route(const arch::MoeSpec& spec, std::span<const float> logits, const std::vector<float>* bias);

}  // namespace quantc::runner
