// Weight-stored matmul on the GPU: every row is decoded from its stored blocks inside the kernel,
// 32 weights (one "chunk") at a time, and multiplied with up to kTokens input rows at once.
// One warp per output row; lane l takes chunks l, l + 32, ... of the row; the warp's partial sums
// are reduced with shuffles. Decoders follow lib/kernels/ggml_quants (blocks.h: the same structs,
// the same arithmetic as ref::DequantizeRow*) so the GPU's weights are the CPU runner's, value for
// value; only the summation order differs.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "lib/cuda/matmul_kernels.h"

namespace quantc::cuda::kernels {
namespace {

constexpr int kChunk = 32;
constexpr int kTokens = 8;  // input rows per pass over the weights

__device__ __forceinline__ float Half(const uint8_t* p) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(p[0] | (p[1] << 8))));
}

// Decodes chunk `c` (32 weights) of a row whose blocks start at `row` into out[0..32).
template <Format F>
__device__ __forceinline__ void DecodeChunk(const uint8_t* row, int64_t c, float* out) {
  if constexpr (F == Format::kF32) {
    const float* p = reinterpret_cast<const float*>(row) + c * kChunk;
    for (int j = 0; j < kChunk; ++j) out[j] = p[j];
  } else if constexpr (F == Format::kF16) {
    const uint8_t* p = row + c * kChunk * 2;
    for (int j = 0; j < kChunk; ++j) out[j] = Half(p + 2 * j);
  } else if constexpr (F == Format::kBF16) {
    const uint8_t* p = row + c * kChunk * 2;
    for (int j = 0; j < kChunk; ++j) out[j] = __uint_as_float(static_cast<unsigned>(p[2 * j] | (p[2 * j + 1] << 8)) << 16);
  } else if constexpr (F == Format::kQ8_0) {  // {f16 d; int8 qs[32]}
    const uint8_t* b = row + c * 34;
    const float d = Half(b);
    for (int j = 0; j < kChunk; ++j) out[j] = d * static_cast<float>(static_cast<int8_t>(b[2 + j]));
  } else if constexpr (F == Format::kQ4_0) {  // {f16 d; u8 qs[16]}: j low, j + 16 high
    const uint8_t* b = row + c * 18;
    const float d = Half(b);
    for (int j = 0; j < 16; ++j) {
      out[j] = d * static_cast<float>((b[2 + j] & 0xF) - 8);
      out[j + 16] = d * static_cast<float>((b[2 + j] >> 4) - 8);
    }
  } else if constexpr (F == Format::kMXFP4) {  // {u8 e; u8 qs[16]}: doubled E2M1 × 2^(e - 128)
    constexpr float kValues[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    const uint8_t* b = row + c * 17;
    const float d = __uint_as_float(b[0] < 2 ? 0x00200000u << b[0] : static_cast<unsigned>(b[0] - 1) << 23);
    for (int j = 0; j < 16; ++j) {
      out[j] = kValues[b[1 + j] & 0xF] * d;
      out[j + 16] = kValues[b[1 + j] >> 4] * d;
    }
  } else if constexpr (F == Format::kQ4_K) {  // {f16 d, dmin; u8 scales[12]; u8 qs[128]}, 8 sub-blocks
    const uint8_t* b = row + (c / 8) * 144;
    const int s = static_cast<int>(c % 8);
    const uint8_t* sc = b + 4;
    int scale, min;
    if (s < 4) {
      scale = sc[s] & 63;
      min = sc[s + 4] & 63;
    } else {
      scale = (sc[s + 4] & 0xF) | ((sc[s - 4] >> 6) << 4);
      min = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
    }
    const float d = Half(b) * scale, m = Half(b + 2) * min;
    const uint8_t* q = b + 16 + 32 * (s / 2);
    const int shift = (s % 2) * 4;
    for (int j = 0; j < kChunk; ++j) out[j] = d * ((q[j] >> shift) & 0xF) - m;
  } else if constexpr (F == Format::kQ6_K) {  // {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}
    const uint8_t* b = row + (c / 8) * 210;
    const int h = static_cast<int>(c % 8) / 4, g = static_cast<int>(c % 4);
    const uint8_t* ql = b + 64 * h + (g % 2) * 32;
    const uint8_t* qh = b + 128 + 32 * h;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * h + 2 * g;
    const float d = Half(b + 208);
    for (int l = 0; l < kChunk; ++l) {
      const int low = g < 2 ? (ql[l] & 0xF) : (ql[l] >> 4);
      const int q = (low | (((qh[l] >> (2 * g)) & 3) << 4)) - 32;
      out[l] = d * sc[l / 16] * q;
    }
  }
}

template <Format F>
__global__ void MatMulKernel(const uint8_t* w, int64_t rows, int64_t cols, int64_t row_bytes, const float* x,
                             int n, float* y) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const uint8_t* row = w + r * row_bytes;
  const int64_t chunks = cols / kChunk;
  float acc[kTokens] = {};
  float v[kChunk];
  for (int64_t c = lane; c < chunks; c += 32) {
    DecodeChunk<F>(row, c, v);
    for (int t = 0; t < n; ++t) {
      const float* xt = x + t * cols + c * kChunk;
      float s = 0.0f;
      for (int j = 0; j < kChunk; ++j) s = fmaf(v[j], xt[j], s);
      acc[t] += s;
    }
  }
  for (int t = 0; t < n; ++t) {
    float s = acc[t];
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
    if (lane == 0) y[t * rows + r] = s;
  }
}

template <Format F>
int Launch(const void* w, int64_t rows, int64_t cols, int64_t row_bytes, const float* x, int64_t n, float* y) {
  constexpr int kWarps = 4;
  const dim3 grid(static_cast<unsigned>((rows + kWarps - 1) / kWarps));
  for (int64_t t0 = 0; t0 < n; t0 += kTokens) {
    const int tokens = static_cast<int>(n - t0 < kTokens ? n - t0 : kTokens);
    MatMulKernel<F><<<grid, kWarps * 32>>>(static_cast<const uint8_t*>(w), rows, cols, row_bytes, x + t0 * cols,
                                            tokens, y + t0 * rows);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return static_cast<int>(e);
  }
  return 0;
}

}  // namespace

int LaunchMatMul(Format format, const void* w, int64_t rows, int64_t cols, int64_t row_bytes, const float* x,
                 int64_t n, float* y) {
  switch (format) {
    case Format::kF32: return Launch<Format::kF32>(w, rows, cols, row_bytes, x, n, y);
    case Format::kF16: return Launch<Format::kF16>(w, rows, cols, row_bytes, x, n, y);
    case Format::kBF16: return Launch<Format::kBF16>(w, rows, cols, row_bytes, x, n, y);
    case Format::kQ8_0: return Launch<Format::kQ8_0>(w, rows, cols, row_bytes, x, n, y);
    case Format::kQ4_0: return Launch<Format::kQ4_0>(w, rows, cols, row_bytes, x, n, y);
    case Format::kQ4_K: return Launch<Format::kQ4_K>(w, rows, cols, row_bytes, x, n, y);
    case Format::kQ6_K: return Launch<Format::kQ6_K>(w, rows, cols, row_bytes, x, n, y);
    case Format::kMXFP4: return Launch<Format::kMXFP4>(w, rows, cols, row_bytes, x, n, y);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace quantc::cuda::kernels
