// fuse-norms: folds every RMSNorm's scale into the linears that read its output, W' = W·diag(g),
// and sets the norm's weight to ones — the first step of a rotation (QuaRot): afterwards the
// residual stream's norms are scale-free, so an orthogonal rotation commutes with them.
//   attention norm -> q/k/v (GQA) or q_a (q) and kv_a (MLA); MLA's q_a_layernorm -> q_b and
//   kv_a_layernorm -> kv_b; FFN norm -> gate/up, or the router, every routed expert's gate/up and
//   the shared experts'; the final norm -> lm_head. A tied lm_head is untied first (a copy of the
//   embedding, tie_word_embeddings set false), and the pass says so.
// Contract: layout "hf" (qwen2, llama, deepseek_v3), weights F32/F16/BF16 (run fp8-to-bf16 first).
// Options: f32=true stores the folded linears in F32 (exact: logits unchanged to FP32 rounding);
// by default they keep their dtype (one more rounding per weight).
#pragma once

#include <memory>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct FuseNormsOptions {
  bool f32 = false;
  static void Bind(OptionBinder& b, FuseNormsOptions& o) {
    b.Bool("f32", &o.f32, "store the folded linears in F32 (exact) instead of their own dtype");
  }
};

std::unique_ptr<Pass> CreateFuseNormsPass(FuseNormsOptions options = {});

}  // namespace quantc::passes
