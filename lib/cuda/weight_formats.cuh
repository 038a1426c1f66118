// The weight decoders of lib/cuda, shared by the matmul (matmul_kernels.cu) and the row
// dequantization that feeds cuBLAS (dequant_kernels.cu), and VisitFormat, the one switch from a
// Format to its decoder.
//
// A format is a struct: its block (kElems weights in kBytes), the threads sharing a block
// (kLanes), and Decode, one thread's share as kChunks chunks of 4 consecutive weights, chunk c at
// XOffset(sub, c) in the block: raw values q and per chunk a scale and (kHasMin) a min, the weight
// being scale · q − min. Fits says on the host whether MatMulArgs carries what Decode reads (scales
// stored beside the codes). ggml decoders follow lib/kernels/ggml_quants (blocks.h: the same
// structs, the same values as ref::DequantizeRow*), the others lib/kernels' WeightMatrix for that
// storage (MakeFp8BlockWeight, MakePackedIntWeight, MakeFp4Weight), so the GPU's weights are the
// CPU runner's. Small integers become floats without the quarter-rate I2F: a byte permute builds
// the float 2^23 + v, and one subtraction (folding in any offset such as Q4_0's −8 or a zero
// point) leaves v.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include "lib/cuda/matmul_kernels.h"

namespace quantc::cuda::kernels {

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
// Byte j of `bytes` (0..255) less `base` − 2^23: the float 2^23 + byte, built by a byte permute,
// less base. base = 2^23 + an offset below 2^23 is exact, so the result is byte − offset exactly.
__device__ __forceinline__ float ByteLess(uint32_t bytes, int j, float base) {
  return __uint_as_float(__byte_perm(bytes, 0x4B000000u, 0x7440u | j)) - base;
}
// Byte j of `bytes` (0..255) less `offset`.
template <int kOffset>
__device__ __forceinline__ float ByteValue(uint32_t bytes, int j) {
  return ByteLess(bytes, j, 8388608.0f + kOffset);
}
// Four bytes' values into q[0..4).
template <int kOffset>
__device__ __forceinline__ void ByteValues(uint32_t bytes, float* q) {
#pragma unroll
  for (int j = 0; j < 4; ++j) q[j] = ByteValue<kOffset>(bytes, j);
}
// Eight 4-bit codes in order, code i in bits 4i .. 4i + 3 of a little-endian word (compressed-
// tensors' packing and FP4's: element 2j in the low nibble of byte j), as two words of four codes
// one a byte: codes 0..3 in `first`, 4..7 in `second`.
__device__ __forceinline__ void SplitNibbles(uint32_t w, uint32_t& first, uint32_t& second) {
  const uint32_t even = w & 0x0F0F0F0Fu, odd = (w >> 4) & 0x0F0F0F0Fu;  // codes 0 2 4 6; 1 3 5 7
  first = __byte_perm(even, odd, 0x5140u);
  second = __byte_perm(even, odd, 0x7362u);
}

// Where a block sits: for formats whose scales live beside the codes.
struct BlockAt {
  const MatMulArgs& a;
  int64_t row, block;
};

// Formats that read nothing but their blocks.
struct SelfContained {
  static bool Fits(const MatMulArgs&) { return true; }
};

struct F32 : SelfContained {
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
struct Float16x8 : SelfContained {
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
  __device__ static float2 Of(uint32_t w) {
    return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xFFFF0000u));
  }
};
using F16 = Float16x8<HalfPair>;
using BF16 = Float16x8<Bf16Pair>;

// {f16 d; int8 qs[32]}: 8 threads, 4 weights each. Signed bytes + 128 are unsigned.
struct Q8_0 : SelfContained {
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
struct Q4_0 : SelfContained {
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
struct MXFP4 : SelfContained {
  static constexpr int kElems = 32, kBytes = 17, kLanes = 4, kChunks = 2;
  static constexpr bool kScaled = true, kHasMin = false;
  __device__ static int XOffset(int sub, int c) { return 16 * c + 4 * sub; }
  __device__ static void Values(uint32_t codes, float* q) {  // codes: one per byte
    const uint32_t m = codes & 0x07070707u;
    const uint32_t pairs = m | (m >> 4);  // selector nibbles in bytes 0 and 2
    const uint32_t magnitudes = __byte_perm(0x03020100u, 0x0C080604u, __byte_perm(pairs, 0, 0x4420));
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t sign = (codes << (28 - 8 * j)) & 0x80000000u;
      q[j] = __uint_as_float(__float_as_uint(ByteValue<0>(magnitudes, j)) ^ sign);
    }
  }
  // 2^(e − 128): half the E8M0 scale 2^(e − 127), for the doubled magnitudes.
  __device__ static float HalfE8M0(uint32_t e) { return __uint_as_float(e < 2 ? 0x00200000u << e : (e - 1) << 23); }
  __device__ static void Decode(const uint8_t* b, int sub, float* q, float* scale, float*, const BlockAt&) {
    scale[0] = scale[1] = HalfE8M0(b[0]);
    const uint32_t w = LoadUnaligned4(b + 1 + 4 * sub);
    Values(w & 0x0F0F0F0Fu, q);
    Values((w >> 4) & 0x0F0F0F0Fu, q + 4);
  }
};

// {f16 d, dmin; u8 scales[12]; u8 qs[128]}: 8 sub-blocks of 32 with 6-bit scales and mins; qs
// bytes 32i .. 32i + 31 hold sub-block 2i in their low nibbles and 2i + 1 in their high ones.
// Thread `sub` takes 8 of those bytes (one aligned 8-byte load): 8 weights of each sub-block.
struct Q4_K : SelfContained {
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
struct Q5_K : SelfContained {
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
// `sub` takes four consecutive l of one half, for all four g: 16 weights. On the device a row's
// blocks keep their parts apart (Q6KDeviceRowBytes, matmul_kernels.h): Q6KBlock finds the parts
// of block b in a row of nb blocks (Decode from the block's nominal address, row + 210 b, as every
// kernel computes it).
struct Q6KBlock {
  const uint8_t *ql, *qh, *scales, *d;
  __device__ Q6KBlock(const uint8_t* row, int64_t b, int64_t nb) {
    ql = row + kQ6KQlBytes * b;
    qh = row + kQ6KQlBytes * nb + kQ6KQhBytes * b;
    scales = row + (kQ6KQlBytes + kQ6KQhBytes) * nb + kQ6KScaleBytes * b;
    d = row + (kQ6KQlBytes + kQ6KQhBytes + kQ6KScaleBytes) * nb + kQ6KDBytes * b;
  }
};
struct Q6_K : SelfContained {
  static constexpr int kElems = 256, kBytes = kQ6KBlockBytes, kLanes = 16, kChunks = 4;
  static constexpr bool kScaled = true, kHasMin = false;
  __device__ static int XOffset(int sub, int c) { return 128 * (sub / 8) + 32 * c + 4 * (sub % 8); }
  __device__ static void Decode(const uint8_t* b, int sub, float* q, float* scale, float*, const BlockAt& at) {
    const Q6KBlock blk(b - at.block * kBytes, at.block, at.a.cols / 256);
    const int h = sub / 8, l0 = (sub % 8) * 4;
    const uint32_t* ql = reinterpret_cast<const uint32_t*>(blk.ql + 64 * h + l0);
    const uint32_t low_words[2] = {ql[0], ql[8]};  // bytes l0 .. l0 + 3 and 32 on
    const uint32_t qh = *reinterpret_cast<const uint32_t*>(blk.qh + 32 * h + l0);
    const int8_t* sc = reinterpret_cast<const int8_t*>(blk.scales + 8 * h + l0 / 16);
    const float d = HalfAt(blk.d);
#pragma unroll
    for (int g = 0; g < 4; ++g) {
      scale[g] = d * static_cast<float>(sc[2 * g]);
      const uint32_t low = (low_words[g % 2] >> (g < 2 ? 0 : 4)) & 0x0F0F0F0Fu;
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
  static bool Fits(const MatMulArgs& a) { return a.scales != nullptr && a.scale_block_rows > 0; }
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

// compressed-tensors pack-quantized integers (kernels::MakePackedIntWeight): row r's codes a
// little-endian bit stream, element c in bits [c·bits, c·bits + bits); weight (r, c) =
// scales[r · scale_cols + c / group_size] · (q − zero), zero the byte at the same index of `zeros`
// or 2^(bits − 1) (symmetric). Units of 16 weights (one 8- or 16-byte load), all in one group
// since groups are whole units (the last one of a row may be shorter: ragged).
template <int kBits>
struct PackedInt {
  static_assert(kBits == 4 || kBits == 8);
  static constexpr int kElems = 16, kBytes = 16 * kBits / 8, kLanes = 1, kChunks = 4;
  static constexpr bool kScaled = true, kHasMin = false;
  static bool Fits(const MatMulArgs& a) {
    return a.scales != nullptr && a.group_size > 0 && a.group_size % kElems == 0 && a.cols <= 0x7FFFFFFF &&
           a.scale_cols == (a.cols + a.group_size - 1) / a.group_size;
  }
  __device__ static int XOffset(int, int c) { return 4 * c; }
  __device__ static void Decode(const uint8_t* b, int, float* q, float* scale, float*, const BlockAt& at) {
    const int group = static_cast<int>(at.block) * kElems / static_cast<int>(at.a.group_size);
    const int64_t i = at.row * at.a.scale_cols + group;
    const float s = at.a.scales[i];
    const float base = 8388608.0f + static_cast<float>(at.a.zeros != nullptr ? at.a.zeros[i] : 1 << (kBits - 1));
    uint32_t codes[4];  // four codes a byte, in order
    if constexpr (kBits == 4) {
      const uint2 v = *reinterpret_cast<const uint2*>(b);
      SplitNibbles(v.x, codes[0], codes[1]);
      SplitNibbles(v.y, codes[2], codes[3]);
    } else {
      const uint4 v = *reinterpret_cast<const uint4*>(b);
      codes[0] = v.x, codes[1] = v.y, codes[2] = v.z, codes[3] = v.w;
    }
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      scale[c] = s;
#pragma unroll
      for (int j = 0; j < 4; ++j) q[4 * c + j] = ByteLess(codes[c], j, base);
    }
  }
};

// FP4 (E2M1) in the safetensors layouts (kernels::MakeFp4Weight): codes two per byte along a row,
// element 2j in the low nibble; one scale byte per group at scale_bytes[r · scale_cols + group]:
// MXFP4 an E8M0 per 32 weights (2^(e − 127)), NVFP4 an E4M3 per 16 times `global`, rounded once
// to FP32 (fp4::GroupScale). Units of 16 weights (one 8-byte load) in one group; the values are
// MXFP4's doubled magnitudes, so the scale is halved (exact).
template <bool kNv>
struct Fp4 {
  static constexpr int kGroup = kNv ? 16 : 32;
  static constexpr int kElems = 16, kBytes = 8, kLanes = 1, kChunks = 4;
  static constexpr bool kScaled = true, kHasMin = false;
  static bool Fits(const MatMulArgs& a) {
    return a.scale_bytes != nullptr && a.cols % kGroup == 0 && a.scale_cols == a.cols / kGroup;
  }
  __device__ static int XOffset(int, int c) { return 4 * c; }
  __device__ static void Decode(const uint8_t* b, int, float* q, float* scale, float*, const BlockAt& at) {
    const uint32_t e = at.a.scale_bytes[at.row * at.a.scale_cols + at.block * kElems / kGroup];
    float s;
    if constexpr (kNv) {
      const __half_raw h = __nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(e), __NV_E4M3);
      s = 0.5f * (__half2float(__half(h)) * at.a.global);
    } else {
      s = MXFP4::HalfE8M0(e);
    }
    const uint2 v = *reinterpret_cast<const uint2*>(b);
    uint32_t codes[4];
    SplitNibbles(v.x, codes[0], codes[1]);
    SplitNibbles(v.y, codes[2], codes[3]);
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      scale[c] = s;
      MXFP4::Values(codes[c], q + 4 * c);
    }
  }
};

template <class F>
struct FormatTag {
  using type = F;
};

// Calls visit(FormatTag<F>{}) with the decoder F of `format` and returns what it returns, or
// cudaErrorInvalidValue when `a` does not fit F (columns not whole blocks, scales missing). The one
// switch over Format: the matmul and the row dequantization share it.
template <class Visit>
int VisitFormat(Format format, const MatMulArgs& a, Visit&& visit) {
  auto checked = [&](auto tag) -> int {
    using F = typename decltype(tag)::type;
    if (a.rows <= 0 || a.cols <= 0 || a.cols % F::kElems != 0 || !F::Fits(a)) {
      return static_cast<int>(cudaErrorInvalidValue);
    }
    return visit(tag);
  };
  switch (format) {
    case Format::kF32: return checked(FormatTag<F32>{});
    case Format::kF16: return checked(FormatTag<F16>{});
    case Format::kBF16: return checked(FormatTag<BF16>{});
    case Format::kQ8_0: return checked(FormatTag<Q8_0>{});
    case Format::kQ4_0: return checked(FormatTag<Q4_0>{});
    case Format::kQ4_K: return checked(FormatTag<Q4_K>{});
    case Format::kQ5_K: return checked(FormatTag<Q5_K>{});
    case Format::kQ6_K: return checked(FormatTag<Q6_K>{});
    case Format::kMXFP4: return checked(FormatTag<MXFP4>{});
    case Format::kFp8Block: return checked(FormatTag<Fp8Block>{});
    case Format::kPackedInt4: return checked(FormatTag<PackedInt<4>>{});
    case Format::kPackedInt8: return checked(FormatTag<PackedInt<8>>{});
    case Format::kFp4Mx: return checked(FormatTag<Fp4<false>>{});
    case Format::kFp4Nv: return checked(FormatTag<Fp4<true>>{});
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace quantc::cuda::kernels
