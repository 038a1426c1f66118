// rotate: QuaRot's rotations (arXiv:2404.00456; spcl/QuaRot fake_quant/rotation_utils.py), folded
// into the weights. Orthonormal Hadamard matrices come from lib/kernels/hadamard.
//  R1 (always): the residual stream becomes M·x with M = H·D, H the Hadamard of the hidden size
//    (or, with block=B, I ⊗ H_B: a B-sized Hadamard on each block of B channels) and D a seeded
//    random ±1 diagonal. Every matrix that reads the stream (embedding rows, q/k/v or MLA's
//    q_a/kv_a, gate/up, the MoE router/experts/shared, lm_head) becomes W·Mᵀ, every matrix that
//    writes it (o_proj, down_proj of the MLP, every expert and the shared experts) M·W. RMSNorm
//    commutes with M once its scale is ones, so fuse-norms must run first.
//  R2 (r2=true): per attention head, the value vectors become H·v (H of head_dim, or MLA's
//    v_head_dim; no signs, as QuaRot's rotate_ov_proj): v_proj's rows of each KV head (and its
//    bias, Qwen2) or kv_b's value rows of each head become H·W, o_proj's input columns of each
//    head W·Hᵀ. All heads share H, so under GQA each query head's o_proj block undoes the H of the
//    KV head it reads.
//  R4 (r4=true): down_proj (dense, every routed expert, the shared experts) becomes W·Hᵀ with H
//    the Hadamard of its input width (no signs, as QuaRot's apply_exact_had_to_linear); the model
//    then needs H on that input at run time, which config.json records as
//    "quantc": {"online_hadamard": {"down_proj": {...}}} (lib/arch/model_spec.h). GGUF cannot
//    carry it (gguf-layout refuses such a model).
// The model computes the same function; its weights lose the outlier channels low-bit quantizers
// suffer from.
// Contract: layout "hf" (qwen2, llama, deepseek_v3), every norm weight ones (fuse-norms), weights
// F32/F16/BF16; every Hadamard size (hidden or block, head dim, down_proj widths) 2^k·m for a
// buildable order m, block dividing hidden (else INVALID_ARGUMENT naming the size); r4 once.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/pass/pass.h"

namespace quantc::passes {

struct RotateOptions {
  int64_t seed = 1;
  bool f32 = false;
  int64_t block = 0;
  bool r2 = false;
  bool r4 = false;
  static void Bind(OptionBinder& b, RotateOptions& o) {
    b.Int("seed", &o.seed, "seed of R1's random ±1 diagonal (0: plain Hadamard)");
    b.Bool("f32", &o.f32, "store rotated matrices in F32 (exact) instead of their own dtype");
    b.Int("block", &o.block, "R1 as I ⊗ H_block, a Hadamard per block of this many channels (e.g. 32); 0: hidden size");
    b.Bool("r2", &o.r2, "also rotate each attention head's values (v_proj/kv_b rows, o_proj columns)");
    b.Bool("r4", &o.r4, "also fold a Hadamard into down_proj's input; records the online transform in config.json");
  }
};

std::unique_ptr<Pass> CreateRotatePass(RotateOptions options = {});

// R1 as the pass applies it to the residual stream: x -> M·x on each of `rows` rows of x
// [rows, hidden]. `quantc validate` maps a reference's hidden states into a rotated model's basis
// with it (M is orthogonal, so the error it then measures is the error in the original basis).
using ResidualTransform = std::function<void(float* x, int64_t rows)>;
absl::StatusOr<ResidualTransform> ResidualRotation(int64_t hidden, const RotateOptions& options);

// The options of every rotate pass in a model's recorded pipeline text (quantc.pipeline), in order.
absl::StatusOr<std::vector<RotateOptions>> RecordedRotations(std::string_view pipeline);

}  // namespace quantc::passes
