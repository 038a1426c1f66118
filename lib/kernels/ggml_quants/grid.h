// Element grids of ggml's block types: the values one element of an encoded block can take while
// the block's scales stay fixed, and access to that element's code. GPTQ fits a block's scales
// first, then walks its columns choosing each weight's code on this grid (GridOf, NearestCode,
// SetCode) while it feeds the rounding error forward.
//
// Every grid is value(q) = scale * level(q) + offset, computed in float in the order each
// reference dequantizer (legacy.cc, q2_k.cc .. q6_k.cc, iq4.cc, mxfp4.cc) computes it, so
// GridValue(GridOf(t, b, i), CodeOf(t, b, i)) is bit for bit the float the dequantizer writes for
// element i (for blocks whose value there is a NaN, only NaN-ness is promised: which NaN an add
// keeps depends on the compiler's operand order). q is the natural signed code; level(q) = q,
// except for the three table types:
//
//   type     stored code -> q   q range       scale                 offset       dequantizer
//   Q4_0     nibble - 8         -8..7         d                     -0           (q) * d
//   Q4_1     nibble             0..15         d                     m            q * d + m
//   Q5_0     5 bits - 16        -16..15       d                     -0           (q) * d
//   Q5_1     5 bits             0..31         d                     m            q * d + m
//   Q8_0     int8               -127..127     d                     -0           q * d
//   Q2_K     2 bits             0..3          d * sc                -(dmin * m)  d*sc * q - dmin*m
//   Q3_K     3 bits - 4         -4..3         d * (sc - 32)         -0           d*(sc-32) * q
//   Q4_K     4 bits             0..15         d * sc                -(dmin * m)  d*sc * q - dmin*m
//   Q5_K     5 bits             0..31         d * sc                -(dmin * m)  d*sc * q - dmin*m
//   Q6_K     6 bits - 32        -32..31       d * sc                -0           d*sc * q
//   IQ4_NL   nibble             0..15 (table) d                     -0           d * kIQ4Values[q]
//   IQ4_XS   nibble             0..15 (table) d * (sc - 32)         -0           dl * kIQ4Values[q]
//   MXFP4    nibble             0..15 (table) 2^(e - 128)           -0           kMXFP4Values[q] * d
//
// (sc, m: the element's sub-block scale and min codes.) Adding -0 is the exact identity of IEEE
// addition (+0 would turn a -0 product into +0), and a - b is a + (-b) bit for bit, so one formula
// serves every type. The ranges are the codes llama.cpp's quantizers write, not every code that
// decodes: Q8_0 never writes -128 (ggml's AVX2 dot product moves signs with _mm256_sign_epi8,
// which cannot negate -128), and MXFP4 never writes code 8 (-0, whose value equals code 0's:
// NearestCode never picks it either).
#pragma once

#include <cstdint>

#include "lib/dtypes/dtype.h"

namespace quantc::kernels::ggml_quants {

// The values one element of an encoded block can take while the block's scales stay fixed.
struct ElementGrid {
  float scale = 0, offset = 0;     // value(q) = scale * level(q) + offset
  int32_t qmin = 0, qmax = 0;      // the codes llama.cpp's own quantizer can produce for this element
  const int8_t* table = nullptr;   // level(q) = table[q - qmin] when set (IQ4_NL, IQ4_XS, MXFP4), else level(q) = q
};

// Every block-quant type with kernels (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K .. Q6_K, IQ4_NL, IQ4_XS,
// MXFP4); false for F32/F16/BF16 and the rest. Block sizes: Traits(type).block_elems / block_bytes.
bool HasGrid(DType type);

// Element i (0 <= i < Traits(type).block_elems) of one whole encoded block. Decodes only that
// element's super-scale and sub-block scale (and min); no allocation. GPTQ calls these once per
// weight. For a type without HasGrid: an empty grid, code 0, and SetCode does nothing.
ElementGrid GridOf(DType type, const uint8_t* block, int64_t i);
// The natural code of element i (see the table above). Blocks llama.cpp did not write may hold
// codes outside [qmin, qmax] (Q8_0's -128); GridValue decodes those too.
int32_t CodeOf(DType type, const uint8_t* block, int64_t i);
// Stores code q (in [qmin, qmax]) for element i, touching only element i's bits. A q outside the
// range is stored modulo the field's width, still without touching other elements.
void SetCode(DType type, uint8_t* block, int64_t i, int32_t q);

// scale * level(q) + offset in float, exactly as the type's dequantizer computes it (out of line:
// this file is compiled with -ffp-contract=off, a caller might not be). Table grids need q in
// [qmin, qmax]; affine grids take any q (CodeOf of a foreign block).
float GridValue(const ElementGrid& g, int32_t q);

// The code in [qmin, qmax] whose GridValue is nearest to w, comparing the distances exactly (not
// as rounded float differences), with w = +inf / -inf nearest to the largest / smallest value.
// Ties go to the smaller |q|, which is unique for affine grids and, for table grids (q = the table
// index, qmin = 0), the first index, as llama.cpp's IQ4 and MXFP4 quantizers pick. A NaN w gives
// the code of smallest |q|. Affine grids round (w - offset) / scale, then walk to the true nearest
// (float rounding can move it, and can merge neighbouring values when |offset| >> |scale|); table
// grids scan their 16 entries. Always returns a code in range, whatever the grid holds.
int32_t NearestCode(const ElementGrid& g, float w);

}  // namespace quantc::kernels::ggml_quants
