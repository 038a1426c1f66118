// Exact scalar conversions between F32 and the small float formats, round-to-nearest-even,
// each with its format's NaN/Inf/subnormal rules. These are the reference definitions; bulk
// kernels (lib/kernels) are tested against them.
#pragma once

#include <cstdint>

namespace quantc {

// ---- 16-bit ------------------------------------------------------------------------------
float BF16ToF32(uint16_t bits);                 // exact
// RNE; overflow -> Inf. NaN keeps sign and top payload bits and gets the quiet bit (IEEE 754 §6.2.3),
// so quiet NaNs round-trip BF16 -> F32 -> BF16 exactly. (PyTorch writes 0x7FC0 for every NaN.)
uint16_t F32ToBF16(float value);
float F16ToF32(uint16_t bits);                  // exact, incl. subnormals
uint16_t F32ToF16(float value);                 // RNE; overflow -> Inf; NaN as F32ToBF16

// ---- 8-bit -------------------------------------------------------------------------------
// E4M3FN (torch.float8_e4m3fn): bias 7, no Inf, max 448, NaN = S.1111.111, subnormals.
float F8E4M3ToF32(uint8_t bits);                // exact
// RNE, bit-identical to PyTorch's c10 cast: values that round past 448 (|x| > 464; 464 itself is a
// tie and goes to even, 448), ±Inf and NaN become NaN (0x7F, sign kept: -x gives 0xFF).
uint8_t F32ToF8E4M3(float value);
// RNE, then clamps finite overflow and ±Inf to ±448 (what quantizers want). NaN stays NaN.
uint8_t F32ToF8E4M3Saturating(float value);
// E5M2 (torch.float8_e5m2): bias 15, IEEE-like with Inf and NaN.
float F8E5M2ToF32(uint8_t bits);
uint8_t F32ToF8E5M2(float value);               // RNE; overflow (>= 61440) -> Inf; NaN -> S.11111.11
// E8M0 (torch.float8_e8m0fnu): 2^(b-127), 0xFF = NaN; no sign, no zero.
float F8E8M0ToF32(uint8_t bits);
// PyTorch's rule (details in the .cc): round |x| to the nearest power of two on a linear scale,
// ties (1.5 * 2^e) upward; sign ignored; 0 and tiny values -> 0x00 (2^-127); Inf/NaN and
// x >= 1.5 * 2^127 -> 0xFF (NaN).
uint8_t F32ToF8E8M0(float value);
// FNUZ variants (AMD): bias 8 / 16, NaN = 0x80 only, no negative zero, no Inf. Encoding is RNE;
// values rounding past the max (240 / 57344), ±Inf and NaN give 0x80, as PyTorch's casts do.
float F8E4M3FNUZToF32(uint8_t bits);
uint8_t F32ToF8E4M3FNUZ(float value);
float F8E5M2FNUZToF32(uint8_t bits);
uint8_t F32ToF8E5M2FNUZ(float value);

// ---- sub-byte (OCP Microscaling v1.0 element types; codes in the low bits) ----------------
// Decoders read only the low 4/6 bits of `code`. Encoders: RNE, overflow and ±Inf saturate to ±max;
// NaN -> +0 (OCP MX leaves it implementation-defined; block NaN belongs in the E8M0 scale).
float F4E2M1ToF32(uint8_t code);                // code in [0,16): ±{0,0.5,1,1.5,2,3,4,6}
uint8_t F32ToF4E2M1(float value);               // RNE, saturates to ±6; NaN -> +0
float F6E2M3ToF32(uint8_t code);                // code in [0,64), max 7.5
uint8_t F32ToF6E2M3(float value);               // RNE, saturating
float F6E3M2ToF32(uint8_t code);                // code in [0,64), max 28
uint8_t F32ToF6E3M2(float value);               // RNE, saturating

}  // namespace quantc
