// llama.cpp's quantized matmul arithmetic (ggml-cpu at 81ff7abe): the FP32 input row is quantized
// to the weight type's "vec_dot_type" (Q8_0 blocks of 32 or Q8_K blocks of 256), then each weight
// row is multiplied by it with integer dot products per block and one FP32 multiply-add per block
// (ggml_vec_dot_<w>_<a>). This is both how llama.cpp computes a GGUF and the runner's fast path for
// block types: it reads 4-8 bits per weight instead of decoding to FP32.
//
// Two variants per kernel, as for the row kernels (quants.h): Reference is plain scalar code;
// Fast is the AVX2 variant where the CPU has it. Integer sums are exact, and both variants add the
// per-block float terms in the same order, so Fast equals Reference bit for bit (tested). Against
// llama.cpp the results differ only in the order of those float additions.
//
// Activation rounding follows the x86 CPU backend: Q8_0 as quantize_row_q8_0's AVX2 path
// (d = amax / 127 in fp16, codes = round-half-even(x * (127 / amax))), Q8_K as
// quantize_row_q8_K_ref (iscale = -127 / the signed value of largest magnitude, FP32 d = 1 / iscale).
#pragma once

#include <cstdint>

#include "lib/dtypes/dtype.h"

namespace quantc::kernels::ggml_quants {

enum class ActivationBlocks : uint8_t { kQ8_0, kQ8_K };

// Quantizes n activations (a multiple of the block size) into whole activation blocks.
using QuantizeActivationsFn = void (*)(const float* x, void* dst, int64_t n);
// Dot products of one weight row with `count` (1..kMaxDotRows) quantized activation rows of n
// elements, a_stride bytes apart: out[j] = <weights, activations + j * a_stride>. Taking several
// rows at once lets the fast kernels decode each weight block once for all of them (prefill).
inline constexpr int kMaxDotRows = 4;
using VecDotFn = void (*)(const void* weights, const void* activations, uint64_t a_stride, int count, int64_t n,
                          float* out);

struct DotKernels {
  ActivationBlocks activations = ActivationBlocks::kQ8_0;
  QuantizeActivationsFn quantize = nullptr;
  VecDotFn dot = nullptr;
};

// The kernels for a weight type, or null where there are none (then multiply decoded rows).
// Types: Q4_0, Q8_0, IQ4_NL (Q8_0 activations); Q4_K, Q5_K, Q6_K (Q8_K activations).
const DotKernels* ReferenceDot(DType weight);
const DotKernels* FastDot(DType weight);

// Bytes of one quantized activation row of n elements.
uint64_t ActivationRowBytes(ActivationBlocks blocks, int64_t n);

// Decodes a quantized activation row (tests and the rounding emulation).
void DequantizeActivations(ActivationBlocks blocks, const void* src, float* y, int64_t n);

}  // namespace quantc::kernels::ggml_quants
