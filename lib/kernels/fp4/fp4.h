// FP4 weight quantization in the Hugging Face checkpoint layouts: MXFP4 (DeepSeek V4 experts,
// gpt-oss, compressed-tensors mxfp4-pack-quantized) and NVFP4 (ModelOpt, compressed-tensors
// nvfp4-pack-quantized). Spec: /work/shared/specs/deepseek-checkpoints.md §6.4, §7.1, §7.3, §7.4.
// (ggml's MXFP4, with its own nibble order and rounding, is lib/kernels/ggml_quants/mxfp4.cc.)
//
// Elements are OCP MX v1.0 E2M1 codes, ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}, bit 3 the sign; two per byte
// along the row, element 2j in the low nibble of byte j and 2j+1 in the high nibble. A row is cut
// into groups along it, one scale byte per group:
//   MXFP4  32 elements, E8M0 scale byte b:    W = e2m1 × 2^(b − 127)          (4.25 bits/weight)
//   NVFP4  16 elements, E4M3 scale byte s:    W = e2m1 × (e4m3(s) × g)        (4.5 bits/weight)
// where g is the FP32 per-tensor multiplier (ModelOpt's weight_scale_2; compressed-tensors stores
// 1/g as weight_global_scale). The group multiplier e4m3(s) × g is rounded once to FP32
// (GroupScale), and every element is e2m1 × that float.
//
// Scale rules, per group with amax = max |x| (x finite; for NV, g positive and finite):
//   kCeil       nothing clips. MX: DeepSeek V4's fp4_quant, s = 2^ceil(log2(max(amax, 6·2^−126) / 6)),
//               the exponent worked out exactly from frexp. NV: the smallest positive E4M3 s with
//               amax <= 6 × GroupScale(s) in FP32 (the largest value the group can hold), capped at
//               448: so |x| <= 6 × scale for every element unless the cap is hit.
//   kReference  the format's reference rule, which can clip. MX: OCP MX v1.0,
//               shared_exp = floor(log2(amax)) − 2, exactly (ggml uses log2f), clamped to bytes
//               [0, 254]. NV: ModelOpt, s = e4m3_rne(amax / (6·g)) saturating at 448.
//   kMse        the candidate with the smallest sum of importance[i]·(x[i] − dequant)² (importance
//               null = all ones), ties to the larger scale. Candidates always include the kCeil and
//               kReference scales, so kMse is never worse than either. MX: exponents from
//               min(ceil, ref) − 1 to max(ceil, ref) + 1. NV: E4M3 values from 4 steps below
//               min(ceil, ref) up to max(ceil, ref), and up to 4 steps above it while the group's
//               largest element still takes code ±6. (A scale that leaves the top code unused would
//               not come back from its own dequantized values.)
// Elements then take the nearest code to x / scale (F32ToF4E2M1: RNE, saturating at ±6).
// All-zero groups: MX kReference writes byte 0 (as ggml), MX kCeil byte 1 (2^−126, DeepSeek's amax
// floor); NV writes E4M3 1.0 (0x38) under every rule, as ModelOpt replaces zero scales by 1.0, and so
// does kReference when amax / (6·g) rounds to zero. kMse takes kCeil's scale for all-zero groups.
//
// Round trips (tests/kernels/fp4_test.cc): quantize → dequantize → quantize with the same rule gives
// the same values under every rule, for NV with g held fixed and while group scales stay in E4M3's
// normal range (>= 2^−6, i.e. group amax >= tensor amax / 28672 with the tensor's own g). MX
// kReference also gives the same bytes; MX kCeil need not (a group whose largest value comes back
// as 3·2^k is re-encoded as 6·2^(k−1)).
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/dtypes/float_convert.h"

namespace quantc::kernels::fp4 {

enum class Fp4Format { kMx, kNv };  // MXFP4 (32, E8M0); NVFP4 (16, E4M3 × global)
enum class ScaleRule { kCeil, kReference, kMse };

inline constexpr int GroupSize(Fp4Format f) { return f == Fp4Format::kMx ? 32 : 16; }
std::string_view Name(Fp4Format f);  // "mxfp4", "nvfp4"
std::string_view Name(ScaleRule r);  // "ceil", "reference", "mse"
// "ceil", "reference" (aliases "floor", MX's name, and "nearest", NV's), "mse"; case-insensitive.
// INVALID_ARGUMENT names the text and the choices.
absl::StatusOr<ScaleRule> ParseScaleRule(std::string_view text);

// NVFP4's per-tensor multiplier from the tensor's amax: amax / (6·448) in FP32 (ModelOpt's
// weight_scale_2); 1 when amax is 0 or not finite, or the quotient underflows to 0.
float NvGlobalScale(float amax);
// The FP32 multiplier of one group: 2^(b − 127) for MX (0xFF is NaN), e4m3(b) × global for NV.
float GroupScale(Fp4Format f, uint8_t scale_byte, float global);
// The code nearest to w / scale (RNE, saturating at ±6).
inline uint8_t NearestCode(float w, float scale) { return F32ToF4E2M1(w / scale); }

// The scale byte `rule` gives one group x[0..n) (n >= 1; importance null or n weights > 0).
uint8_t FitGroupScale(Fp4Format f, ScaleRule rule, const float* x, int64_t n, float global,
                      const float* importance);

// One row of `cols` weights (cols % GroupSize(f) == 0: callers check and error). codes: cols / 2
// bytes; scales: cols / GroupSize(f) bytes (E8M0 for MX, E4M3 for NV); importance: null or cols
// weights; global: NV's multiplier (ignored for MX). The scalar reference: what writes files.
void QuantizeRow(Fp4Format f, ScaleRule rule, const float* x, int64_t cols, float global,
                 const float* importance, uint8_t* codes, uint8_t* scales);
void DequantizeRow(Fp4Format f, const uint8_t* codes, const uint8_t* scales, int64_t cols, float global,
                   float* out);

// `rows` rows back to back ([rows, cols] row-major, codes [rows, cols/2], scales [rows, cols/G]),
// rows in parallel on OpenMP; byte- and float-identical to the reference. importance: null or cols
// weights shared by every row (per input channel).
namespace fast {
void QuantizeRows(Fp4Format f, ScaleRule rule, const float* x, int64_t rows, int64_t cols, float global,
                  const float* importance, uint8_t* codes, uint8_t* scales);
void DequantizeRows(Fp4Format f, const uint8_t* codes, const uint8_t* scales, int64_t rows, int64_t cols,
                    float global, float* out);
}  // namespace fast

}  // namespace quantc::kernels::fp4
