// llama.cpp's CPU backend multiplies a weight of type T by activations first converted to T's
// "vec_dot_type" (ggml-cpu.c type_traits_cpu at 81ff7abe): Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL/MXFP4,
// Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants and IQ4_XS, F16/BF16 for F16/BF16 weights, nothing
// for F32. The integer dot products that follow equal the FP32 product of the decoded weights and
// the decoded activations (up to summation order), so rounding the activations this way and
// multiplying in FP32 reproduces llama.cpp's numerics closely enough for top-1 comparisons: the
// rounding shifts logits by ~0.1-0.3 on the tiny fixtures, far more than summation order does.
#pragma once

#include <cstdint>

#include "lib/dtypes/dtype.h"

namespace quantc::kernels::ggml_quants {

enum class ActivationRounding : uint8_t { kNone, kF16, kBF16, kQ8_0, kQ8_1, kQ8_K };

// The rounding llama.cpp's CPU matmul applies to activations multiplied by a `weight` matrix.
ActivationRounding ActivationRoundingFor(DType weight);

// Rounds x[0..n) in place as `r` does: quantize as the x86 CPU backend does (dot.h: Q8_0/Q8_1 by
// its AVX2 path, Q8_K by quantize_row_q8_K_ref), then decode. n must be a multiple of the block
// (32, or 256 for Q8_K). MatMul uses this only for types without integer kernels (dot.h).
void RoundActivations(ActivationRounding r, float* x, int64_t n);

}  // namespace quantc::kernels::ggml_quants
