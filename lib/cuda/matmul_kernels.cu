// Weight-stored matmul on the GPU. One warp per output row; the row's blocks are shared out so a
// warp reads whole blocks side by side (coalesced), each lane decoding its part of a block in
// registers and multiplying it with up to 8 tokens' inputs at once. A format is a struct with
// its block size (kElems weights in kBytes), the lanes that share a block (kLanes) and Dot, one
// lane's share of one block. Decoders follow lib/kernels/ggml_quants (blocks.h: the same structs,
// the same arithmetic as ref::DequantizeRow*), so the GPU's weights are the CPU runner's value for
// value; only the summation order differs. Decode (one token) is bound by reading the weights:
// loads are 16 bytes where the block layout is 16-byte aligned (F32, F16, BF16, Q4_K's quants),
// else 2 x 2 bytes (Q8_0, Q4_0, Q6_K: blocks of 34, 18, 210 bytes) or single bytes (MXFP4, 17).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "lib/cuda/matmul_kernels.h"

namespace quantc::cuda::kernels {
namespace {

constexpr int kMaxTokens = 8;  // input rows per pass over the weights
constexpr int kWarps = 4;      // rows per thread block

__device__ __forceinline__ float HalfAt(const uint8_t* p) {
  return __half2float(__ushort_as_half(*reinterpret_cast<const unsigned short*>(p)));
}
// 4 bytes at a 2-byte aligned address.
__device__ __forceinline__ uint32_t Load4Of2(const uint8_t* p) {
  const unsigned short* h = reinterpret_cast<const unsigned short*>(p);
  return static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 16);
}
// Small unsigned integers (< 2^23) to float without the quarter-rate I2F: 2^23 + v, less 2^23.
__device__ __forceinline__ float SmallToFloat(uint32_t v) { return __uint_as_float(0x4B000000u | v) - 8388608.0f; }

// acc[t] += sum_j w[j] * x[t * ld + j] for j < N (N a multiple of 4; x 16-byte aligned).
template <int T, int N>
__device__ __forceinline__ void DotTokens(const float (&w)[N], const float* x, int64_t ld, float* acc) {
#pragma unroll
  for (int t = 0; t < T; ++t) {
    const float4* xt = reinterpret_cast<const float4*>(x + t * ld);
    float s = acc[t];
#pragma unroll
    for (int j = 0; j < N / 4; ++j) {
      const float4 v = xt[j];
      s = fmaf(w[4 * j], v.x, s);
      s = fmaf(w[4 * j + 1], v.y, s);
      s = fmaf(w[4 * j + 2], v.z, s);
      s = fmaf(w[4 * j + 3], v.w, s);
    }
    acc[t] = s;
  }
}

struct F32 {
  static constexpr int kElems = 4, kBytes = 16, kLanes = 1;
  template <int T>
  __device__ static void Dot(const uint8_t* b, int, const float* x, int64_t ld, float* acc) {
    const float4 v = *reinterpret_cast<const float4*>(b);
    const float w[4] = {v.x, v.y, v.z, v.w};
    DotTokens<T>(w, x, ld, acc);
  }
};

struct F16 {
  static constexpr int kElems = 8, kBytes = 16, kLanes = 1;
  template <int T>
  __device__ static void Dot(const uint8_t* b, int, const float* x, int64_t ld, float* acc) {
    const uint4 v = *reinterpret_cast<const uint4*>(b);
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
    float w[8];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[k]));
      w[2 * k] = f.x, w[2 * k + 1] = f.y;
    }
    DotTokens<T>(w, x, ld, acc);
  }
};

struct BF16 {
  static constexpr int kElems = 8, kBytes = 16, kLanes = 1;
  template <int T>
  __device__ static void Dot(const uint8_t* b, int, const float* x, int64_t ld, float* acc) {
    const uint4 v = *reinterpret_cast<const uint4*>(b);
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
    float w[8];
#pragma unroll
    for (int k = 0; k < 4; ++k) w[2 * k] = __uint_as_float(words[k] << 16), w[2 * k + 1] = __uint_as_float(words[k] & 0xFFFF0000u);
    DotTokens<T>(w, x, ld, acc);
  }
};

// {f16 d; int8 qs[32]}: 8 lanes, 4 weights each.
struct Q8_0 {
  static constexpr int kElems = 32, kBytes = 34, kLanes = 8;
  template <int T>
  __device__ static void Dot(const uint8_t* b, int sub, const float* x, int64_t ld, float* acc) {
    const float d = HalfAt(b);
    const uint32_t q = Load4Of2(b + 2 + 4 * sub);
    float w[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) w[j] = d * static_cast<float>(static_cast<int8_t>(q >> (8 * j)));
    DotTokens<T>(w, x + 4 * sub, ld, acc);
  }
};

// {f16 d; u8 qs[16]}: weight j in the low nibble of qs[j], j + 16 in the high; 4 lanes of 8.
struct Q4_0 {
  static constexpr int kElems = 32, kBytes = 18, kLanes = 4;
  template <int T>
  __device__ static void Dot(const uint8_t* b, int sub, const float* x, int64_t ld, float* acc) {
    const float d = HalfAt(b);
    const uint32_t q = Load4Of2(b + 2 + 4 * sub);
    float lo[4], hi[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      lo[j] = d * (SmallToFloat((q >> (8 * j)) & 0xF) - 8.0f);
      hi[j] = d * (SmallToFloat((q >> (8 * j + 4)) & 0xF) - 8.0f);
    }
    DotTokens<T>(lo, x + 4 * sub, ld, acc);
    DotTokens<T>(hi, x + 16 + 4 * sub, ld, acc);
  }
};

// {u8 e; u8 qs[16]}: doubled E2M1 codes × 2^(e - 128), Q4_0's nibble order; 4 lanes of 8.
struct MXFP4 {
  static constexpr int kElems = 32, kBytes = 17, kLanes = 4;
  template <int T>
  __device__ static void Dot(const uint8_t* b, int sub, const float* x, int64_t ld, float* acc) {
    constexpr float kValues[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    const float d = __uint_as_float(b[0] < 2 ? 0x00200000u << b[0] : static_cast<unsigned>(b[0] - 1) << 23);
    float lo[4], hi[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint8_t q = b[1 + 4 * sub + j];
      lo[j] = kValues[q & 0xF] * d;
      hi[j] = kValues[q >> 4] * d;
    }
    DotTokens<T>(lo, x + 4 * sub, ld, acc);
    DotTokens<T>(hi, x + 16 + 4 * sub, ld, acc);
  }
};

// {f16 d, dmin; u8 scales[12]; u8 qs[128]}: 8 sub-blocks of 32 with 6-bit scales and mins; qs
// bytes 32i .. 32i + 31 hold sub-block 2i in their low nibbles and 2i + 1 in their high ones.
// Lane `sub` takes 16 of those bytes (one aligned 16-byte load): 16 weights of each sub-block.
struct Q4_K {
  static constexpr int kElems = 256, kBytes = 144, kLanes = 8;
  __device__ static void ScaleMin(const uint8_t* sc, int s, float& scale, float& min) {
    if (s < 4) {
      scale = SmallToFloat(sc[s] & 63), min = SmallToFloat(sc[s + 4] & 63);
    } else {
      scale = SmallToFloat((sc[s + 4] & 0xF) | ((sc[s - 4] >> 6) << 4));
      min = SmallToFloat((sc[s + 4] >> 4) | ((sc[s] >> 6) << 4));
    }
  }
  template <int T>
  __device__ static void Dot(const uint8_t* b, int sub, const float* x, int64_t ld, float* acc) {
    const int i = sub / 2, h = sub % 2;
    const float d = HalfAt(b), dmin = HalfAt(b + 2);
    float s0, m0, s1, m1;
    ScaleMin(b + 4, 2 * i, s0, m0);
    ScaleMin(b + 4, 2 * i + 1, s1, m1);
    const float d0 = d * s0, n0 = dmin * m0, d1 = d * s1, n1 = dmin * m1;
    const uint4 v = *reinterpret_cast<const uint4*>(b + 16 + 32 * i + 16 * h);
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
    float lo[16], hi[16];
#pragma unroll
    for (int k = 0; k < 16; ++k) {
      const uint32_t byte = words[k / 4] >> (8 * (k % 4));
      lo[k] = d0 * SmallToFloat(byte & 0xF) - n0;
      hi[k] = d1 * SmallToFloat((byte >> 4) & 0xF) - n1;
    }
    DotTokens<T>(lo, x + 64 * i + 16 * h, ld, acc);
    DotTokens<T>(hi, x + 64 * i + 32 + 16 * h, ld, acc);
  }
};

// {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: two halves of 128; in half h, weight 32g + l
// (g < 4, l < 32) has low bits in ql[64h + 32(g % 2) + l] (low nibble for g < 2, else high),
// high bits (qh[32h + l] >> 2g) & 3, scale scales[8h + 2g + l / 16]. Lane `sub` takes four
// consecutive l of one half, for all four g: 16 weights.
struct Q6_K {
  static constexpr int kElems = 256, kBytes = 210, kLanes = 16;
  template <int T>
  __device__ static void Dot(const uint8_t* b, int sub, const float* x, int64_t ld, float* acc) {
    const int h = sub / 8, l0 = (sub % 8) * 4;
    const uint32_t ql[2] = {Load4Of2(b + 64 * h + l0), Load4Of2(b + 64 * h + 32 + l0)};
    const uint32_t qh = Load4Of2(b + 128 + 32 * h + l0);
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * h + l0 / 16);
    const float d = HalfAt(b + 208);
#pragma unroll
    for (int g = 0; g < 4; ++g) {
      const float dg = d * static_cast<float>(sc[2 * g]);
      float w[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint32_t low = (ql[g % 2] >> (8 * j + (g < 2 ? 0 : 4))) & 0xF;
        const uint32_t high = (qh >> (8 * j + 2 * g)) & 3;
        w[j] = dg * (SmallToFloat(low | (high << 4)) - 32.0f);
      }
      DotTokens<T>(w, x + 128 * h + 32 * g + l0, ld, acc);
    }
  }
};

template <class F, int T>
__global__ void __launch_bounds__(kWarps * 32) MatMulKernel(MatMulArgs a) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= a.rows) return;
  const uint8_t* row = static_cast<const uint8_t*>(a.w) + r * a.row_bytes;
  const int64_t blocks = a.cols / F::kElems;
  const int sub = lane % F::kLanes;
  float acc[T] = {};
  for (int64_t b = lane / F::kLanes; b < blocks; b += 32 / F::kLanes) {
    F::template Dot<T>(row + b * F::kBytes, sub, a.x + b * F::kElems, a.cols, acc);
  }
#pragma unroll
  for (int t = 0; t < T; ++t) {
    float s = acc[t];
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
    if (lane == 0) {
      if (a.bias != nullptr) s += a.bias[r];
      float* y = a.y + t * a.ldy + r;
      *y = a.accumulate ? *y + s : s;
    }
  }
}

template <class F>
int Launch(MatMulArgs a, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((a.rows + kWarps - 1) / kWarps));
  const int64_t n = a.n;
  for (int64_t t0 = 0; t0 < n; t0 += kMaxTokens) {
    switch (n - t0 < kMaxTokens ? n - t0 : kMaxTokens) {
      case 1: MatMulKernel<F, 1><<<grid, kWarps * 32, 0, stream>>>(a); break;
      case 2: MatMulKernel<F, 2><<<grid, kWarps * 32, 0, stream>>>(a); break;
      case 3: MatMulKernel<F, 3><<<grid, kWarps * 32, 0, stream>>>(a); break;
      case 4: MatMulKernel<F, 4><<<grid, kWarps * 32, 0, stream>>>(a); break;
      case 5: MatMulKernel<F, 5><<<grid, kWarps * 32, 0, stream>>>(a); break;
      case 6: MatMulKernel<F, 6><<<grid, kWarps * 32, 0, stream>>>(a); break;
      case 7: MatMulKernel<F, 7><<<grid, kWarps * 32, 0, stream>>>(a); break;
      default: MatMulKernel<F, 8><<<grid, kWarps * 32, 0, stream>>>(a); break;
    }
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return static_cast<int>(e);
    a.x += kMaxTokens * a.cols;
    a.y += kMaxTokens * a.ldy;
  }
  return 0;
}

}  // namespace

int LaunchMatMul(Format format, const MatMulArgs& args, CUstream_st* stream) {
  if (args.ldy < args.rows || args.cols % 32 != 0) return static_cast<int>(cudaErrorInvalidValue);
  switch (format) {
    case Format::kF32: return Launch<F32>(args, stream);
    case Format::kF16: return Launch<F16>(args, stream);
    case Format::kBF16: return Launch<BF16>(args, stream);
    case Format::kQ8_0: return Launch<Q8_0>(args, stream);
    case Format::kQ4_0: return Launch<Q4_0>(args, stream);
    case Format::kQ4_K: return Launch<Q4_K>(args, stream);
    case Format::kQ6_K: return Launch<Q6_K>(args, stream);
    case Format::kMXFP4: return Launch<MXFP4>(args, stream);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace quantc::cuda::kernels
