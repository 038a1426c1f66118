// rotate: QuaRot's R1, an orthogonal Hadamard rotation of the residual stream. With Q = (H·D/√n)ᵀ
// (n = hidden size, D a seeded random ±1 diagonal, lib/kernels/hadamard), the stream becomes
// Qᵀx: every matrix that reads it (embedding rows, q/k/v or MLA's q_a/kv_a, gate/up, the MoE
// router/experts/shared, lm_head) becomes W·Q, every matrix that writes it (o_proj, down_proj of
// the MLP, every expert and the shared experts) becomes Qᵀ·W. RMSNorm commutes with Q once its
// scale is ones, so fuse-norms must run first. The model computes the same function; its weights
// lose the outlier channels low-bit quantizers suffer from.
// Contract: layout "hf" (qwen2, llama, deepseek_v3), every norm weight ones (fuse-norms), weights
// F32/F16/BF16; hidden size 2^k·m for a buildable Hadamard order m (else INVALID_ARGUMENT naming
// it). Options: seed (the ±1 diagonal; 0 = none), f32 (store rotated matrices in F32: exact).
#pragma once

#include <memory>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct RotateOptions {
  int64_t seed = 1;
  bool f32 = false;
  static void Bind(OptionBinder& b, RotateOptions& o) {
    b.Int("seed", &o.seed, "seed of the random ±1 diagonal (0: plain Hadamard)");
    b.Bool("f32", &o.f32, "store rotated matrices in F32 (exact) instead of their own dtype");
  }
};

std::unique_ptr<Pass> CreateRotatePass(RotateOptions options = {});

}  // namespace quantc::passes
