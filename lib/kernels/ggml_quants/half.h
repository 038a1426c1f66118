// fp16 conversions exactly as ggml does them (ggml-impl.h at llama.cpp 81ff7abe:
// ggml_compute_fp32_to_fp16 / ggml_compute_fp16_to_fp32, the FP16 library routines). For every
// non-NaN value they equal lib/dtypes/float_convert.h (checked over all 2^32 floats against
// libggml-base); they differ only on NaN, where ggml
//   - encodes every F32 NaN as sign | 0x7E00 (the payload is dropped; F32ToF16 keeps its top bits);
//   - decodes a signalling F16 NaN to a quiet one (its routine multiplies by 2^-112, which quiets;
//     F16ToF32 moves bits only).
// The F16 tensor type stores user values, NaN included, so its kernels (plain.cc) and the block
// scales use these to stay byte-identical with llama.cpp on every input.
// Also MXFP4's E8M0 scale as ggml decodes it (ggml_e8m0_to_fp32_half), shared by ref and fast.
#pragma once

#include <bit>
#include <cstdint>

#include "lib/dtypes/float_convert.h"

namespace quantc::kernels::ggml_quants {

inline uint16_t GgmlF32ToF16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>(((bits >> 16) & 0x8000u) | 0x7E00u);
  return F32ToF16(value);
}

inline float GgmlF16ToF32(uint16_t bits) {
  const bool nan = (bits & 0x7FFFu) > 0x7C00u;
  const float f = F16ToF32(bits);
  return nan ? std::bit_cast<float>(std::bit_cast<uint32_t>(f) | 0x00400000u) : f;  // quiet bit
}

// 2^(e - 128) exactly: E8M0's 2^(e - 127) halved, because ggml keeps MXFP4's E2M1 values
// doubled (kMXFP4Values). Subnormal for e < 2; e = 255 is a number here, not NaN.
inline float E8M0HalfScale(uint8_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
  return std::bit_cast<float>(bits);
}

}  // namespace quantc::kernels::ggml_quants
