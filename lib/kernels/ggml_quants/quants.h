// Row kernels for ggml's block types (and F32/F16/BF16, so callers treat every GGUF tensor type
// alike). Two variants per type, with the same contract (XNNPACK's reference/optimized pairs):
//   Reference: scalar, deterministic, compiled with -ffp-contract=off and no -march; its bytes
//     equal llama.cpp's quantizer's (ggml_quantize_chunk) for the same input, scale searches and
//     importance weighting included (tests/kernels/ggml_quants_test.cc, goldens from llama.cpp).
//   Fast: the fastest variant this CPU runs, picked once; bit-identical to Reference (tested).
// Rows are independent, so results do not depend on thread count or chunking.
#pragma once

#include <cstdint>

#include "lib/dtypes/dtype.h"

namespace quantc::kernels::ggml_quants {

// One row of n weights (n a multiple of the type's block size) <-> whole blocks.
//   importance: n per-column weights (an importance matrix row, mean x^2), or null. Types whose
//   llama.cpp quantizer ignores it (Q8_0, MXFP4, F16, BF16, F32) ignore it too.
using QuantizeRowFn = void (*)(const float* x, void* dst, int64_t n, const float* importance);
using DequantizeRowFn = void (*)(const void* src, float* y, int64_t n);

struct RowKernels {
  QuantizeRowFn quantize = nullptr;
  DequantizeRowFn dequantize = nullptr;
};

// Types with kernels: F32, F16, BF16 and every BlockQuantDTypes() entry.
bool HasKernels(DType type);
// The scalar reference kernels of `type` (must satisfy HasKernels).
const RowKernels& Reference(DType type);
// The fast kernels of `type` on this CPU (may be the reference ones where nothing faster exists).
const RowKernels& Fast(DType type);

// Bytes of one row of n weights of `type`.
uint64_t RowBytes(DType type, int64_t n);

// Quantizes rows [0, nrows) of x (row-major, n_per_row each) in parallel with the fast kernels;
// row r goes to dst + r * RowBytes(type, n_per_row).
void QuantizeRows(DType type, const float* x, void* dst, int64_t nrows, int64_t n_per_row,
                  const float* importance);
// Decodes nrows rows into y (row-major FP32), in parallel with the fast kernels.
void DequantizeRows(DType type, const void* src, float* y, int64_t nrows, int64_t n_per_row);

}  // namespace quantc::kernels::ggml_quants
