// shard(n=N): lays a DeepSeek-V2/V3/R1 checkpoint out for N-way model parallelism exactly as
// DeepSeek-Infer's inference/convert.py does (specs/deepseek-checkpoints.md §3): demo names
// (embed, attn_norm, wq_a/q_norm/wq_b, wkv_a/kv_norm/wkv_b, wo, gate(+bias), w1/w2/w3, norm, head;
// weight_scale_inv -> scale), column splits on dim 0 (wq, wq_b, wkv_b, w1, w3, embed, head),
// row splits on dim 1 (wo, w2), each scale split with its weight, routed experts whole on the rank
// owning their contiguous range, everything else replicated, MTP layers dropped. Tensors keep their
// dtypes (run fp8-to-bf16 first for BF16 shards). The pass only renames and places: the mp writer
// slices while it streams, so each input tensor is read once.
// Contract: layout "hf", model_type deepseek_v3 or deepseek_v2; N divides the routed experts, the
// attention heads and every split dimension (scales included) — otherwise INVALID_ARGUMENT naming
// the tensor and dimension. Result: layout "mp", mp_ranks N.
#pragma once

#include <memory>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct ShardOptions {
  int64_t n = 1;
  static void Bind(OptionBinder& b, ShardOptions& o) { b.Int("n", &o.n, "number of model-parallel ranks"); }
};

std::unique_ptr<Pass> CreateShardPass(ShardOptions options = {});

}  // namespace quantc::passes
