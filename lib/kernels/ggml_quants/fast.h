// AVX2 variants of the legacy, IQ4, MXFP4 and plain row kernels (legacy_avx2.cc), with ref.h's
// names and contract, and bit-identical to ref:: on every input (tests/kernels/
// ggml_legacy_quants_test.cc). Each is compiled with __attribute__((target("avx2,fma,f16c"))), so
// the library needs no -march; call them only when avx2::CpuHasAvx2() (k_quants_avx2.h), which
// dispatch.cc checks once. The K-quant variants are declared in k_quants_avx2.h.
#pragma once

#include <cstdint>

namespace quantc::kernels::ggml_quants::avx2 {

// Decoders: the runner decodes weights with these on every matmul.
void DequantizeRowQ4_0(const void* src, float* y, int64_t n);
void DequantizeRowQ4_1(const void* src, float* y, int64_t n);
void DequantizeRowQ5_0(const void* src, float* y, int64_t n);
void DequantizeRowQ5_1(const void* src, float* y, int64_t n);
void DequantizeRowQ8_0(const void* src, float* y, int64_t n);
void DequantizeRowIQ4_NL(const void* src, float* y, int64_t n);
void DequantizeRowIQ4_XS(const void* src, float* y, int64_t n);
void DequantizeRowMXFP4(const void* src, float* y, int64_t n);
void DequantizeRowF16(const void* src, float* y, int64_t n);
void DequantizeRowBF16(const void* src, float* y, int64_t n);

// Encoders with a closed form (no search), where SIMD pays: Q8_0 (the most written block type),
// F16 and BF16. The importance argument is ignored, as in ref.
void QuantizeRowQ8_0(const float* x, void* dst, int64_t n, const float* importance);
void QuantizeRowF16(const float* x, void* dst, int64_t n, const float* importance);
void QuantizeRowBF16(const float* x, void* dst, int64_t n, const float* importance);

}  // namespace quantc::kernels::ggml_quants::avx2
