// Weight-stored matmul on the GPU. A thread block computes R output rows (R = 4 for one token,
// the decode case, so each input value loaded serves four rows; 1 otherwise); its 128 threads take
// the rows' blocks side by side, each decoding its share of a block in registers.
//
// A format is a struct: its block (kElems weights in kBytes), the threads sharing a block
// (kLanes), and Decode, one thread's share as kChunks chunks of 4 consecutive weights, chunk c at
// XOffset(sub, c) in the block: raw values q and per chunk a scale and (kHasMin) a min, the weight
// being scale · q − min. The dot product is then scale · Σ q·x − min · Σ x per chunk: the
// per-weight work is decoding q and one FMA. Decoders follow lib/kernels/ggml_quants (blocks.h:
// the same structs, the same values as ref::DequantizeRow*), so the GPU's weights are the CPU
// runner's; the summation order differs. Small integers become floats without the quarter-rate
// I2F: a byte permute builds the float 2^23 + v, and one subtraction (folding in any offset such
// as Q4_0's −8) leaves v.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include "lib/cuda/matmul_kernels.h"

namespace quantc::cuda::kernels {
namespace {

constexpr int kMaxTokens = 8;  // input rows per pass over the weights
constexpr int kThreads = 128;  // per thread block

__device__ __forceinline__ float HalfAt(const uint8_t* p) {
  return __half2float(__ushort_as_half(*reinterpret_cast<const unsigned short*>(p)));
}
// 4 bytes at a 2-byte aligned address.
__device__ __forceinline__ uint32_t Load4Of2(const uint8_t* p) {
  const unsigned short* h = reinterpret_cast<const unsigned short*>(p);
  return static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 16);
}
// 4 bytes at any address, as two aligned word loads (weight buffers carry 16 bytes of slack past
// their end: cuda.cc's UploadWeight).
__device__ __forceinline__ uint32_t LoadUnaligned4(const uint8_t* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const uint32_t* w = reinterpret_cast<const uint32_t*>(a & ~uintptr_t{3});
  return __funnelshift_r(w[0], w[1], static_cast<unsigned>(a & 3) * 8);
}
// Byte j of `bytes` (0..255) less `offset`: the float 2^23 + byte, built by a byte permute.
template <int kOffset>
__device__ __forceinline__ float ByteValue(uint32_t bytes, int j) {
  return __uint_as_float(__byte_perm(bytes, 0x4B000000u, 0x7440u | j)) - (8388608.0f + kOffset);
}
// Four bytes' values into q[0..4).
template <int kOffset>
__device__ __forceinline__ void ByteValues(uint32_t bytes, float* q) {
#pragma unroll
  for (int j = 0; j < 4; ++j) q[j] = ByteValue<kOffset>(bytes, j);
}

// Where a block sits: for formats whose scales live beside the codes (kFp8Block).
struct BlockAt {
  const MatMulArgs& a;
  int64_t row, block;
};

struct F32 {
  static constexpr int kElems = 4, kBytes = 16, kLanes = 1, kChunks = 1;
  static constexpr bool kScaled = false, kHasMin = false;
  __device__ static int XOffset(int, int) { return 0; }
  __device__ static void Decode(const uint8_t* b, int, float* q, float*, float*, const BlockAt&) {
    const float4 v = *reinterpret_cast<const float4*>(b);
    q[0] = v.x, q[1] = v.y, q[2] = v.z, q[3] = v.w;
  }
};

// Eight 16-bit floats per 16-byte load; Pair turns one word into its two values (low half first).
template <class Pair>
struct Float16x8 {
  static constexpr int kElems = 8, kBytes = 16, kLanes = 1, kChunks = 2;
  static constexpr bool kScaled = false, kHasMin = false;
  __device__ static int XOffset(int, int c) { return 4 * c; }
  __device__ static void Decode(const uint8_t* b, int, float* q, float*, float*, const BlockAt&) {
    const uint4 v = *reinterpret_cast<const uint4*>(b);
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = Pair::Of(words[k]);
      q[2 * k] = f.x, q[2 * k + 1] = f.y;
    }
  }
};
struct HalfPair {
  __device__ static float2 Of(uint32_t w) { return __half22float2(*reinterpret_cast<const __half2*>(&w)); }
};
struct Bf16Pair {  // a bfloat16 is the top half of a float
  __device__ static float2 Of(uint32_t w) { return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xFFFF0000u)); }
};
using F16 = Float16x8<HalfPair>;
using BF16 = Float16x8<Bf16Pair>;

// {f16 d; int8 qs[32]}: 8 threads, 4 weights each. Signed bytes + 128 are unsigned.
struct Q8_0 {
  static constexpr int kElems = 32, kBytes = 34, kLanes = 8, kChunks = 1;
  static constexpr bool kScaled = true, kHasMin = false;
  __device__ static int XOffset(int sub, int) { return 4 * sub; }
  __device__ static void Decode(const uint8_t* b, int sub, float* q, float* scale, float*, const BlockAt&) {
    scale[0] = HalfAt(b);
    ByteValues<128>(Load4Of2(b + 2 + 4 * sub) ^ 0x80808080u, q);
  }
};

// {f16 d; u8 qs[16]}: weight j in the low nibble of qs[j], j + 16 in the high, value nibble − 8;
// 4 threads of 8 weights.
struct Q4_0 {
  static constexpr int kElems = 32, kBytes = 18, kLanes = 4, kChunks = 2;
  static constexpr bool kScaled = true, kHasMin = false;
  __device__ static int XOffset(int sub, int c) { return 16 * c + 4 * sub; }
  __device__ static void Decode(const uint8_t* b, int sub, float* q, float* scale, float*, const BlockAt&) {
    scale[0] = scale[1] = HalfAt(b);
    const uint32_t w = Load4Of2(b + 2 + 4 * sub);
    ByteValues<8>(w & 0x0F0F0F0Fu, q);
    ByteValues<8>((w >> 4) & 0x0F0F0F0Fu, q + 4);
  }
};

// {u8 e; u8 qs[16]}: E2M1 codes in Q4_0's nibble order, doubled magnitudes {0 1 2 3 4 6 8 12}
// (looked up four at a time by a byte permute) × 2^(e − 128), the code's bit 3 the sign.
struct MXFP4 {
  static constexpr int kElems = 32, kBytes = 17, kLanes = 4, kChunks = 2;
  static constexpr bool kScaled = true, kHasMin = false;
  __device__ static int XOffset(int sub, int c) { return 16 * c + 4 * sub; }
  __device__ static void Values(uint32_t codes, float* q) {  // codes: one per byte
    const uint32_t m = codes & 0x07070707u;
    const uint32_t pairs = m | (m >> 4);                          // selector nibbles in bytes 0 and 2
    const uint32_t magnitudes = __byte_perm(0x03020100u, 0x0C080604u, __byte_perm(pairs, 0, 0x4420));
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t sign = (codes << (28 - 8 * j)) & 0x80000000u;
      q[j] = __uint_as_float(__float_as_uint(ByteValue<0>(magnitudes, j)) ^ sign);
    }
  }
  __device__ static void Decode(const uint8_t* b, int sub, float* q, float* scale, float*, const BlockAt&) {
    scale[0] = scale[1] = __uint_as_float(b[0] < 2 ? 0x00200000u << b[0] : static_cast<unsigned>(b[0] - 1) << 23);
    const uint32_t w = LoadUnaligned4(b + 1 + 4 * sub);
    Values(w & 0x0F0F0F0Fu, q);
    Values((w >> 4) & 0x0F0F0F0Fu, q + 4);
  }
};

// {f16 d, dmin; u8 scales[12]; u8 qs[128]}: 8 sub-blocks of 32 with 6-bit scales and mins; qs
// bytes 32i .. 32i + 31 hold sub-block 2i in their low nibbles and 2i + 1 in their high ones.
// Thread `sub` takes 8 of those bytes (one aligned 8-byte load): 8 weights of each sub-block.
struct Q4_K {
  static constexpr int kElems = 256, kBytes = 144, kLanes = 16, kChunks = 4;
  static constexpr bool kScaled = true, kHasMin = true;
  __device__ static int XOffset(int sub, int c) { return 64 * (sub / 4) + 8 * (sub % 4) + 32 * (c / 2) + 4 * (c % 2); }
  // Sub-block s's 6-bit scale and min (byte loads: s varies by thread, and a register array
  // indexed by it would live in local memory).
  __device__ static void ScaleMin(const uint8_t* sc, int s, float& scale, float& min) {
    if (s < 4) {
      scale = ByteValue<0>(sc[s] & 63, 0), min = ByteValue<0>(sc[s + 4] & 63, 0);
    } else {
      scale = ByteValue<0>((sc[s + 4] & 0xF) | ((sc[s - 4] >> 6) << 4), 0);
      min = ByteValue<0>((sc[s + 4] >> 4) | ((sc[s] >> 6) << 4), 0);
    }
  }
  // The chunk scales and mins of sub-blocks 2i (chunks 0, 1) and 2i + 1 (chunks 2, 3).
  __device__ static void Scales(const uint8_t* b, int i, float* scale, float* min) {
    const float2 dm = __half22float2(*reinterpret_cast<const __half2*>(b));  // d, dmin
    float s0, m0, s1, m1;
    ScaleMin(b + 4, 2 * i, s0, m0);
    ScaleMin(b + 4, 2 * i + 1, s1, m1);
    scale[0] = scale[1] = dm.x * s0, min[0] = min[1] = dm.y * m0;
    scale[2] = scale[3] = dm.x * s1, min[2] = min[3] = dm.y * m1;
  }
  __device__ static void Decode(const uint8_t* b, int sub, float* q, float* scale, float* min, const BlockAt&) {
    const int i = sub / 4, h = sub % 4;
    Scales(b, i, scale, min);
    const uint2 v = *reinterpret_cast<const uint2*>(b + 16 + 32 * i + 8 * h);
    ByteValues<0>(v.x & 0x0F0F0F0Fu, q);
    ByteValues<0>(v.y & 0x0F0F0F0Fu, q + 4);
    ByteValues<0>((v.x >> 4) & 0x0F0F0F0Fu, q + 8);
    ByteValues<0>((v.y >> 4) & 0x0F0F0F0Fu, q + 12);
  }
};

// {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: Q4_K with a fifth bit per weight, weight
// 64i + l (l < 32) in bit 2i of qh[l], 64i + 32 + l in bit 2i + 1. Thread `sub` takes Q4_K's
// 8 + 8 weights and the 8 qh bytes they share.
struct Q5_K {
  static constexpr int kElems = 256, kBytes = 176, kLanes = 16, kChunks = 4;
  static constexpr bool kScaled = true, kHasMin = true;
  __device__ static int XOffset(int sub, int c) { return Q4_K::XOffset(sub, c); }
  __device__ static void Decode(const uint8_t* b, int sub, float* q, float* scale, float* min, const BlockAt&) {
    const int i = sub / 4, h = sub % 4;
    Q4_K::Scales(b, i, scale, min);
    const uint2 high = *reinterpret_cast<const uint2*>(b + 16 + 8 * h);
    const uint2 v = *reinterpret_cast<const uint2*>(b + 48 + 32 * i + 8 * h);
    auto fifth = [&](uint32_t qh, int bit) { return ((qh >> bit) & 0x01010101u) << 4; };
    ByteValues<0>((v.x & 0x0F0F0F0Fu) | fifth(high.x, 2 * i), q);
    ByteValues<0>((v.y & 0x0F0F0F0Fu) | fifth(high.y, 2 * i), q + 4);
    ByteValues<0>(((v.x >> 4) & 0x0F0F0F0Fu) | fifth(high.x, 2 * i + 1), q + 8);
    ByteValues<0>(((v.y >> 4) & 0x0F0F0F0Fu) | fifth(high.y, 2 * i + 1), q + 12);
  }
};

// {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: two halves of 128; in half h, weight 32g + l
// (g < 4, l < 32) has low bits in ql[64h + 32(g % 2) + l] (low nibble for g < 2, else high),
// high bits (qh[32h + l] >> 2g) & 3, scale scales[8h + 2g + l / 16], value 6 bits − 32. Thread
// `sub` takes four consecutive l of one half, for all four g: 16 weights.
struct Q6_K {
  static constexpr int kElems = 256, kBytes = 210, kLanes = 16, kChunks = 4;
  static constexpr bool kScaled = true, kHasMin = false;
  __device__ static int XOffset(int sub, int c) { return 128 * (sub / 8) + 32 * c + 4 * (sub % 8); }
  __device__ static void Decode(const uint8_t* b, int sub, float* q, float* scale, float*, const BlockAt&) {
    const int h = sub / 8, l0 = (sub % 8) * 4;
    const uint32_t ql[2] = {Load4Of2(b + 64 * h + l0), Load4Of2(b + 64 * h + 32 + l0)};
    const uint32_t qh = Load4Of2(b + 128 + 32 * h + l0);
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * h + l0 / 16);
    const float d = HalfAt(b + 208);
#pragma unroll
    for (int g = 0; g < 4; ++g) {
      scale[g] = d * static_cast<float>(sc[2 * g]);
      const uint32_t low = (ql[g % 2] >> (g < 2 ? 0 : 4)) & 0x0F0F0F0Fu;
      const uint32_t high = ((qh >> (2 * g)) & 0x03030303u) << 4;
      ByteValues<32>(low | high, q + 4 * g);
    }
  }
};

// DeepSeek's block FP8: E4M3 codes, one F32 scale per 128 x 128 block (MatMulArgs::scales), each
// weight bf16_rne(f32(code) × scale) as the CPU runner and fp8-to-bf16 make it. Units of 16 codes
// (one 16-byte load; 8 per scale block), converted two at a time by the hardware (E4M3 → F16 is
// exact), so rows only need whole units (tiny-qwen2's 1120 columns end mid-block).
struct Fp8Block {
  static constexpr int kElems = 16, kBytes = 16, kLanes = 1, kChunks = 4;
  static constexpr bool kScaled = false, kHasMin = false;
  __device__ static int XOffset(int, int c) { return 4 * c; }
  __device__ static float Bf16Round(float v) {  // round to nearest even at bfloat16 (finite values)
    const uint32_t u = __float_as_uint(v);
    return __uint_as_float((u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u);
  }
  __device__ static void Decode(const uint8_t* b, int, float* q, float*, float*, const BlockAt& at) {
    const float s = at.a.scales[(at.row / at.a.scale_block_rows) * at.a.scale_cols + at.block / 8];
    const uint4 v = *reinterpret_cast<const uint4*>(b);
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const __nv_fp8x2_storage_t pair = static_cast<__nv_fp8x2_storage_t>(words[k / 2] >> (16 * (k % 2)));
      const __half2 h = __nv_cvt_fp8x2_to_halfraw2(pair, __NV_E4M3);
      const float2 f = __half22float2(h);
      q[2 * k] = Bf16Round(f.x * s), q[2 * k + 1] = Bf16Round(f.y * s);
    }
  }
};

// R rows per thread block; the rows' blocks are shared out over the 128 threads (a pass covers
// 128 / kLanes consecutive blocks of each row), two passes in flight per thread. Warp shuffles,
// then shared memory, reduce the partial sums.
template <class F, int T, int R>
__global__ void __launch_bounds__(kThreads) MatMulKernel(MatMulArgs a) {
  constexpr int kPerPass = kThreads / F::kLanes, kN = 4 * F::kChunks;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * R;
  const uint8_t* rows = static_cast<const uint8_t*>(a.w) + r0 * a.row_bytes;
  const int64_t blocks = a.cols / F::kElems;
  const int sub = threadIdx.x % F::kLanes;
  float acc[R][T] = {};
#pragma unroll 2
  for (int64_t b = threadIdx.x / F::kLanes; b < blocks; b += kPerPass) {
    float q[R][kN], scale[R][F::kChunks], min[R][F::kChunks];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      // Rows past the end (the last block's) read row 0's bytes again; their sums are dropped.
      const int64_t rr = r0 + r < a.rows ? r : 0;
      F::Decode(rows + rr * a.row_bytes + b * F::kBytes, sub, q[r], scale[r], min[r], BlockAt{a, r0 + rr, b});
    }
#pragma unroll
    for (int c = 0; c < F::kChunks; ++c) {
      const float* xc = a.x + b * F::kElems + F::XOffset(sub, c);
#pragma unroll
      for (int t = 0; t < T; ++t) {
        const float4 x = *reinterpret_cast<const float4*>(xc + t * a.cols);
        const float xsum = F::kHasMin ? (x.x + x.y) + (x.z + x.w) : 0.0f;
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const float* qc = q[r] + 4 * c;
          float d = qc[0] * x.x;
          d = fmaf(qc[1], x.y, d);
          d = fmaf(qc[2], x.z, d);
          d = fmaf(qc[3], x.w, d);
          if constexpr (F::kScaled) d *= scale[r][c];
          if constexpr (F::kHasMin) d = fmaf(-min[r][c], xsum, d);
          acc[r][t] += d;
        }
      }
    }
  }
  __shared__ float partial[kThreads / 32][R][T];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < T; ++t) {
      float s = acc[r][t];
      for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
      if (lane == 0) partial[warp][r][t] = s;
    }
  }
  __syncthreads();
  if (threadIdx.x < R * T) {
    const int r = threadIdx.x / T, t = threadIdx.x % T;
    if (r0 + r >= a.rows) return;
    float s = 0.0f;
    for (int w = 0; w < kThreads / 32; ++w) s += partial[w][r][t];
    if (a.bias != nullptr) s += a.bias[r0 + r];
    float* y = a.y + t * a.ldy + r0 + r;
    *y = a.accumulate ? *y + s : s;
  }
}

template <class F, int T, int R>
void LaunchOne(const MatMulArgs& a, cudaStream_t stream) {
  MatMulKernel<F, T, R><<<static_cast<unsigned>((a.rows + R - 1) / R), kThreads, 0, stream>>>(a);
}

template <class F>
int Launch(MatMulArgs a, cudaStream_t stream) {
  const int64_t n = a.n;
  for (int64_t t0 = 0; t0 < n; t0 += kMaxTokens) {
    switch (n - t0 < kMaxTokens ? n - t0 : kMaxTokens) {
      case 1: LaunchOne<F, 1, 4>(a, stream); break;
      case 2: LaunchOne<F, 2, 1>(a, stream); break;
      case 3: LaunchOne<F, 3, 1>(a, stream); break;
      case 4: LaunchOne<F, 4, 1>(a, stream); break;
      case 5: LaunchOne<F, 5, 1>(a, stream); break;
      case 6: LaunchOne<F, 6, 1>(a, stream); break;
      case 7: LaunchOne<F, 7, 1>(a, stream); break;
      default: LaunchOne<F, 8, 1>(a, stream); break;
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
    case Format::kQ5_K: return Launch<Q5_K>(args, stream);
    case Format::kQ6_K: return Launch<Q6_K>(args, stream);
    case Format::kMXFP4: return Launch<MXFP4>(args, stream);
    case Format::kFp8Block:
      if (args.scales == nullptr || args.scale_block_rows <= 0 || args.cols % 16 != 0) return static_cast<int>(cudaErrorInvalidValue);
      return Launch<Fp8Block>(args, stream);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace quantc::cuda::kernels
