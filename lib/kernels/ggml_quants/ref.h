// The scalar reference kernels, one pair per type (ggml's quantize_row_*_ref / quantize_* and
// dequantize_row_*), in one namespace so dispatch.cc can list them. Contract as quants.h:
// QuantizeRowT(x, dst, n, importance) quantizes one row of n weights (n a multiple of the block),
// using llama.cpp's importance-weighted search when importance != null; DequantizeRowT decodes.
#pragma once

#include <cstdint>

namespace quantc::kernels::ggml_quants::ref {

#define QUANTC_GGML_ROW_KERNELS(T)                                                \
  void QuantizeRow##T(const float* x, void* dst, int64_t n, const float* importance); \
  void DequantizeRow##T(const void* src, float* y, int64_t n);

// plain.cc: F32 copy, F16 and BF16 round-to-nearest-even (ggml's fp32 -> fp16 / bf16).
QUANTC_GGML_ROW_KERNELS(F32)
QUANTC_GGML_ROW_KERNELS(F16)
QUANTC_GGML_ROW_KERNELS(BF16)
// legacy.cc: 32-weight blocks.
QUANTC_GGML_ROW_KERNELS(Q4_0)
QUANTC_GGML_ROW_KERNELS(Q4_1)
QUANTC_GGML_ROW_KERNELS(Q5_0)
QUANTC_GGML_ROW_KERNELS(Q5_1)
QUANTC_GGML_ROW_KERNELS(Q8_0)
// q2_k.cc .. q6_k.cc: 256-weight super-blocks.
QUANTC_GGML_ROW_KERNELS(Q2_K)
QUANTC_GGML_ROW_KERNELS(Q3_K)
QUANTC_GGML_ROW_KERNELS(Q4_K)
QUANTC_GGML_ROW_KERNELS(Q5_K)
QUANTC_GGML_ROW_KERNELS(Q6_K)
// iq4.cc: non-uniform 4-bit levels.
QUANTC_GGML_ROW_KERNELS(IQ4_NL)
QUANTC_GGML_ROW_KERNELS(IQ4_XS)
// mxfp4.cc: OCP MXFP4 elements with ggml's nibble order.
QUANTC_GGML_ROW_KERNELS(MXFP4)

#undef QUANTC_GGML_ROW_KERNELS

}  // namespace quantc::kernels::ggml_quants::ref
