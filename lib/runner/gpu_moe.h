// The mixture-of-experts FFN (DeepSeek-V3) on the device, for GpuRunner: the CPU runner's Moe
// (layers.h). The router's logits are computed on the device and copied to the host, where the CPU
// runner's own Route picks each token's experts and weights (sigmoid or softmax scores,
// e_score_correction_bias, group top-k, top-k, normalization, routed_scaling_factor): GPU and CPU
// route alike by construction, and the device never reimplements it. The tokens routed to each
// expert are then gathered expert by expert into one buffer and run through that expert's gate/up
// and down (cuda::MatMul on the stored weights, uploaded once at load); the shared experts run on
// every token; one kernel sums each token's experts in the CPU's order (ascending expert, then the
// shared experts) and adds them to the residual stream.
// Routing on the host makes each MoE layer wait for the device mid-pass, so a model with MoE
// layers runs its decode steps without the recorded CUDA graph (GpuRunner::Greedy).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/arch/adapter.h"
#include "lib/cuda/cuda.h"
#include "lib/runner/gpu_projection.h"
#include "lib/runner/weights.h"

namespace quantc::runner {

// One MoE layer's weights: on the device, except the router bias, which routing reads on the host.
struct GpuMoe {
  Projection router;                                // [n_routed_experts, hidden]
  const std::vector<float>* router_bias = nullptr;  // e_score_correction_bias (the Weights' copy); null: none
  std::vector<Projection> gate_up, down;            // per routed expert: [2 * inter, hidden], [hidden, inter]
  Projection shared_gate_up, shared_down;           // rows == 0: no shared experts
  // Bytes one token's pass reads: router, shared experts and top_k routed experts of average size.
  uint64_t bytes_per_token(int64_t top_k) const;
};

// INVALID_ARGUMENT naming the tensor when a matrix's shape does not fit the spec (every routed
// expert moe_intermediate_size wide, the shared experts n_shared_experts times that).
absl::StatusOr<GpuMoe> UploadMoe(const arch::ModelSpec& spec, const arch::ArchAdapter& adapter, Weights& w,
                                 int64_t layer);

// One forward pass's MoE buffers for up to `tokens` tokens (shared by every MoE layer: the stream
// orders their use).
struct MoeScratch {
  cuda::DeviceBuffer logits;       // [tokens, n_routed_experts]: the router's
  cuda::PinnedBuffer host_logits;  // the same on the host
  // The routing table, written on the host and uploaded: rows (int32 [tokens * top_k], the token of
  // each routed row, expert by expert), slots (int32 [tokens, top_k], each token's routed rows in
  // ascending expert order), weights (float [tokens, top_k], the slots' routing weights).
  cuda::PinnedBuffer host_table;
  cuda::DeviceBuffer table;
  cuda::DeviceBuffer xe, gu, h, ye;  // routed rows: [tokens * top_k, hidden / 2 inter / inter / hidden]
  cuda::DeviceBuffer shared_gu, shared_h, shared_out;  // [tokens, 2 shared inter / shared inter / hidden]
};
absl::StatusOr<MoeScratch> AllocateMoeScratch(const arch::ModelSpec& spec, int64_t tokens);

// x [n, hidden] += moe(xn) for xn = ffn_norm(x) [n, hidden], both device memory. Synchronizes the
// stream once (routing on the host).
absl::Status EnqueueMoe(const GpuMoe& layer, const arch::ModelSpec& spec, const float* xn, int64_t n, MoeScratch& s,
                        const cuda::Stream& stream, float* x);

}  // namespace quantc::runner
