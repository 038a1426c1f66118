// AVX2 variants of the K-quant row kernels, bit-identical to ref:: (same contract as ref.h):
// quantizers in k_quants_avx2.cc, decoders in k_quants_avx2_dequant.cc.
// Compiled per function with __attribute__((target("avx2,fma,f16c"))), so the library needs no
// -march; call them only when CpuHasAvx2() (dispatch.cc picks once).
//   Dequantize: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K; each multiply and subtract is done as ref does it
//     (no FMA), so every float equals ref's.
//   Quantize: Q2_K .. Q6_K, with and without importance: the per-sub-block scale searches run
//     one sub-block per SIMD lane with ref's exact operation sequence.
#pragma once

#include <cstdint>

namespace quantc::kernels::ggml_quants::avx2 {

// True when this CPU runs AVX2, FMA and F16C (what these kernels are compiled for).
bool CpuHasAvx2();

void QuantizeRowQ2_K(const float* x, void* dst, int64_t n, const float* importance);
void QuantizeRowQ3_K(const float* x, void* dst, int64_t n, const float* importance);
void QuantizeRowQ4_K(const float* x, void* dst, int64_t n, const float* importance);
void QuantizeRowQ5_K(const float* x, void* dst, int64_t n, const float* importance);
void QuantizeRowQ6_K(const float* x, void* dst, int64_t n, const float* importance);

void DequantizeRowQ2_K(const void* src, float* y, int64_t n);
void DequantizeRowQ3_K(const void* src, float* y, int64_t n);
void DequantizeRowQ4_K(const void* src, float* y, int64_t n);
void DequantizeRowQ5_K(const void* src, float* y, int64_t n);
void DequantizeRowQ6_K(const void* src, float* y, int64_t n);

}  // namespace quantc::kernels::ggml_quants::avx2
