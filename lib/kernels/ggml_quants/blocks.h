// ggml's block-quantized formats, spelled out byte for byte (ggml-common.h at llama.cpp 81ff7abe;
// layouts in docs/formats.md#gguf-block-types). Each struct is exactly one block as stored in a
// GGUF tensor row; the static_asserts pin the byte arithmetic. "fp16" fields are IEEE half bits.
#pragma once

#include <cstdint>

namespace quantc::kernels::ggml_quants {

inline constexpr int kQK = 32;   // weights per legacy block (Q4_0 .. Q8_0, IQ4_NL, MXFP4)
inline constexpr int kQKK = 256; // weights per K-quant super-block (ggml QK_K)

struct BlockQ4_0 {           // x = (q - 8) * d
  uint16_t d;                // fp16 scale
  uint8_t qs[kQK / 2];       // byte j: element j in the low nibble, element j + 16 in the high
};                           // 18 bytes = 4.5 bits per weight
static_assert(sizeof(BlockQ4_0) == 2 + kQK / 2);

struct BlockQ4_1 {           // x = q * d + m
  uint16_t d;                // fp16 scale
  uint16_t m;                // fp16 offset (the block minimum)
  uint8_t qs[kQK / 2];       // nibbles as Q4_0
};                           // 20 bytes = 5 bits per weight
static_assert(sizeof(BlockQ4_1) == 4 + kQK / 2);

struct BlockQ5_0 {           // x = (q - 16) * d
  uint16_t d;                // fp16 scale
  uint8_t qh[4];             // little-endian u32: bit j = 5th bit of element j
  uint8_t qs[kQK / 2];       // low 4 bits, nibbles as Q4_0
};                           // 22 bytes = 5.5 bits per weight
static_assert(sizeof(BlockQ5_0) == 2 + 4 + kQK / 2);

struct BlockQ5_1 {           // x = q * d + m
  uint16_t d;                // fp16 scale
  uint16_t m;                // fp16 offset
  uint8_t qh[4];             // 5th bits as Q5_0
  uint8_t qs[kQK / 2];       // low 4 bits as Q4_0
};                           // 24 bytes = 6 bits per weight
static_assert(sizeof(BlockQ5_1) == 4 + 4 + kQK / 2);

struct BlockQ8_0 {           // x = q * d
  uint16_t d;                // fp16 scale
  int8_t qs[kQK];            // element j
};                           // 34 bytes = 8.5 bits per weight
static_assert(sizeof(BlockQ8_0) == 2 + kQK);

struct BlockQ2_K {           // 16 sub-blocks of 16: x = d * sc * q - dmin * m, q in 0..3
  uint8_t scales[kQKK / 16]; // sub-block i: low nibble scale code, high nibble min code
  uint8_t qs[kQKK / 4];      // element 128h + 32k + l: bits 2k..2k+1 of qs[32h + l]
  uint16_t d;                // fp16 super-scale of the scale codes
  uint16_t dmin;             // fp16 super-scale of the min codes
};                           // 84 bytes = 2.625 bits per weight
static_assert(sizeof(BlockQ2_K) == kQKK / 16 + kQKK / 4 + 4);

struct BlockQ3_K {           // 16 sub-blocks of 16: x = d * (sc - 32) * q, q in -4..3
  uint8_t hmask[kQKK / 8];   // high bit of element j: bit j / 32 of hmask[j % 32] (set = no -4)
  uint8_t qs[kQKK / 4];      // low 2 bits, laid out as Q2_K
  uint8_t scales[12];        // 16 x 6-bit scale codes (+32): low nibbles, then 2-bit tops
  uint16_t d;                // fp16 super-scale
};                           // 110 bytes = 3.4375 bits per weight
static_assert(sizeof(BlockQ3_K) == kQKK / 8 + kQKK / 4 + 12 + 2);

struct BlockQ4_K {           // 8 sub-blocks of 32: x = d * sc * q - dmin * m, q in 0..15
  uint16_t d;                // fp16 super-scale of the 6-bit scale codes
  uint16_t dmin;             // fp16 super-scale of the 6-bit min codes
  uint8_t scales[12];        // 8 x (6-bit scale, 6-bit min), packed (see PackScaleMin6)
  uint8_t qs[kQKK / 2];      // chunk c of 64: low nibbles sub-block 2c, high nibbles 2c + 1
};                           // 144 bytes = 4.5 bits per weight
static_assert(sizeof(BlockQ4_K) == 4 + 12 + kQKK / 2);

struct BlockQ5_K {           // as Q4_K with q in 0..31
  uint16_t d;                // fp16 super-scale of the scale codes
  uint16_t dmin;             // fp16 super-scale of the min codes
  uint8_t scales[12];        // packed as Q4_K
  uint8_t qh[kQKK / 8];      // 5th bits: element 64c + l in bit 2c of qh[l], 64c + 32 + l in bit 2c + 1
  uint8_t qs[kQKK / 2];      // low 4 bits as Q4_K
};                           // 176 bytes = 5.5 bits per weight
static_assert(sizeof(BlockQ5_K) == 4 + 12 + kQKK / 8 + kQKK / 2);

struct BlockQ6_K {           // 16 sub-blocks of 16: x = d * scales[i] * (q - 32), q in 0..63
  uint8_t ql[kQKK / 2];      // low 4 bits
  uint8_t qh[kQKK / 4];      // high 2 bits
  int8_t scales[kQKK / 16];  // 8-bit signed sub-block scales
  uint16_t d;                // fp16 super-scale
};                           // 210 bytes = 6.5625 bits per weight
static_assert(sizeof(BlockQ6_K) == kQKK / 2 + kQKK / 4 + kQKK / 16 + 2);

struct BlockIQ4_NL {         // x = d * kIQ4Values[q]
  uint16_t d;                // fp16 scale
  uint8_t qs[kQK / 2];       // nibbles as Q4_0
};                           // 18 bytes = 4.5 bits per weight
static_assert(sizeof(BlockIQ4_NL) == 2 + kQK / 2);

struct BlockIQ4_XS {         // 8 sub-blocks of 32: x = d * (sc - 32) * kIQ4Values[q]
  uint16_t d;                // fp16 super-scale
  uint16_t scales_h;         // high 2 bits of sub-block i's 6-bit scale code at bits 2i..2i+1
  uint8_t scales_l[kQKK / 64];  // low 4 bits: sub-block i in nibble i % 2 of byte i / 2
  uint8_t qs[kQKK / 2];      // 16 bytes per sub-block, nibbles as IQ4_NL
};                           // 136 bytes = 4.25 bits per weight
static_assert(sizeof(BlockIQ4_XS) == 4 + kQKK / 64 + kQKK / 2);

struct BlockMXFP4 {          // x = E2M1(q) * 2^(e - 127)
  uint8_t e;                 // E8M0 shared exponent
  uint8_t qs[kQK / 2];       // E2M1 codes, nibbles as Q4_0 (not OCP's consecutive pairs)
};                           // 17 bytes = 4.25 bits per weight
static_assert(sizeof(BlockMXFP4) == 1 + kQK / 2);

// Activations of the K-quant dot products (ggml block_q8_K: never stored in a GGUF, only made by
// the CPU backend from a matmul's FP32 input).
struct BlockQ8_K {           // x = d * q
  float d;                   // FP32 scale
  int8_t qs[kQKK];           // codes in -127..127
  int16_t bsums[kQKK / 16];  // sums of each 16 codes (the K-quant mins multiply these)
};                           // 292 bytes
static_assert(sizeof(BlockQ8_K) == 4 + kQKK + kQKK / 8);

// IQ4_NL / IQ4_XS's 16 non-uniform levels (ggml kvalues_iq4nl).
inline constexpr int8_t kIQ4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};
// MXFP4's E2M1 values doubled, as ggml stores them (kvalues_mxfp4); decode multiplies by 2^(e - 128).
inline constexpr int8_t kMXFP4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

}  // namespace quantc::kernels::ggml_quants
