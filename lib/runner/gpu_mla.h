// Multi-head latent attention (DeepSeek-V2/V3) on the device, for GpuRunner: the CPU runner's
// MlaAttention (runner.cc) and AttendLatent (layers.h) with the same latent cache. Per layer and
// position the cache keeps one row of kv_lora + rope floats, the RMS-normalized KV latent (after
// kv_a_layernorm) and the rotated shared key part k_pe; per-head keys and values are never
// expanded. kv_b is absorbed: its key rows turn each query's nope part into a query in latent
// space (scores are taken against the latent rows, plus q_pe · k_pe), its value rows turn the
// attention-weighted latent into each head's output (dk = nope + rope and dv may differ). kv_b is
// decoded once to FP32 on the host (HF's kv_b_proj or GGUF's split attn_k_b / attn_v_b) and kept
// on the device in the two layouts the kernels read (lib/cuda/ops_kernels.h).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "lib/arch/adapter.h"
#include "lib/cuda/cuda.h"
#include "lib/runner/gpu_projection.h"
#include "lib/runner/weights.h"

namespace quantc::runner {

// One layer's MLA weights on the device.
struct GpuMla {
  // q_a and kv_a (or q and kv_a without q_lora_rank) side by side: [q_lora (or heads * qk) | kv_lora | rope].
  Projection a;
  Projection q_b;  // rows == 0 without q_lora_rank
  Projection o;
  cuda::DeviceBuffer q_a_norm, kv_a_norm;
  cuda::DeviceBuffer w_k;   // FP32 [heads, nope, kv_lora]: kv_b's key rows, absorbed into the query
  cuda::DeviceBuffer w_vt;  // FP32 [heads, kv_lora, v]: kv_b's value rows, transposed
  // Bytes one token's pass reads (the projections and both kv_b layouts).
  uint64_t bytes() const;
};

// INVALID_ARGUMENT naming the tensor when a matrix's shape does not fit the spec; UNIMPLEMENTED
// for a kv_lora_rank the attention kernel cannot hold (over 512).
absl::StatusOr<GpuMla> UploadMla(const arch::ModelSpec& spec, const arch::ArchAdapter& adapter, Weights& w,
                                 int64_t layer);

// Floats one position takes in one layer's latent cache.
int64_t MlaCacheWidth(const arch::MlaSpec& m);

// One forward pass's MLA buffers for up to `tokens` tokens.
struct MlaScratch {
  cuda::DeviceBuffer a;      // [tokens, GpuMla::a.rows]
  cuda::DeviceBuffer qa;     // [tokens, q_lora]: q_a normalized
  cuda::DeviceBuffer q;      // [tokens, heads * qk]: q_b's output
  cuda::DeviceBuffer q_abs;  // [tokens, heads, kv_lora + rope]: absorbed queries
  cuda::DeviceBuffer ctx;    // [tokens, heads, kv_lora]: attention-weighted latents
  cuda::DeviceBuffer attn;   // [tokens, heads * v]: o's input
};
absl::StatusOr<MlaScratch> AllocateMlaScratch(const arch::ModelSpec& spec, int64_t tokens);

// What one layer's attention reads and writes besides its weights; pointers are device memory.
struct MlaStep {
  const float* xn = nullptr;  // [n, hidden]: attn_norm(x)
  int64_t n = 0;
  const int32_t* pos0 = nullptr;  // the cache length before these tokens
  const float* cos = nullptr;     // rope tables [capacity, rope / 2] (yarn's attention factor included)
  const float* sin = nullptr;
  float* cache = nullptr;   // [capacity, MlaCacheWidth]: rows pos0 .. pos0 + n - 1 are written
  float softmax_scale = 0;  // mscale² / sqrt(nope + rope), as the CPU runner
  float* x = nullptr;       // [n, hidden]: the residual stream, += attention
};
// Queues the layer's attention on `stream` (no host synchronization: a decode step with MLA can be
// recorded into a CUDA graph).
absl::Status EnqueueMla(const GpuMla& layer, const arch::ModelSpec& spec, const MlaStep& step, const MlaScratch& s,
                        const cuda::Stream& stream);

}  // namespace quantc::runner
