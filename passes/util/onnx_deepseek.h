// DeepSeek-V3 (MLA attention, sigmoid-routed MoE) in plain ONNX ops, for the onnx-decoder pass.
// onnxruntime's GroupQueryAttention wants one head size for q, k and v; MLA's differ (qk 192 = 128
// nope + 64 rope, v 128 in V3), so attention is written out: the latent c_kv is expanded through
// kv_b into per-head keys and values (the unabsorbed form, as transformers computes it), the rope
// part rotated by com.microsoft RotaryEmbedding (interleaved pairs, position_ids from the graph
// input), the cache holds full per-head k [.., qk_head_dim] and v [.., v_head_dim] (what
// transformers.js sizes from the session's input metadata), and softmax(q·kᵀ·scale + mask)·v runs
// over past + new tokens with an additive causal and padding mask built once per graph.
// The MoE router reproduces lib/runner's Route (group top-2 sums, top-k over the 0-masked scores,
// weights from the unbiased scores, normalized and scaled); its output is a dense [.., experts]
// gate, and every routed expert runs on every token, weighted by its gate column (exact; the
// work of all experts, not top_k of them — a plain decoder, not a fast one).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "lib/arch/model_spec.h"
#include "passes/util/onnx_builder.h"

namespace quantc::passes {

// The additive attention mask [batch, 1, sequence, total] in the graph's float type: 0 where key
// position j may be seen by query i (j <= past + i and attention_mask[b, j] = 1), else the
// type's lowest finite value.
std::string OnnxCausalMask(OnnxBuilder& b);

// One MLA attention block reading `x` [batch, sequence, hidden]; writes present.{layer}.key/value.
absl::StatusOr<std::string> OnnxMlaAttention(OnnxBuilder& b, const arch::ModelSpec& spec, int64_t layer, const std::string& x,
                                             const std::string& mask);

// One routed MoE block (shared experts added) reading `x`.
absl::StatusOr<std::string> OnnxMoe(OnnxBuilder& b, const arch::ModelSpec& spec, int64_t layer, const std::string& x);

}  // namespace quantc::passes
