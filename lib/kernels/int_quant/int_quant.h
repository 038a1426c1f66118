// Integer weight quantization as GPTQ's quantizer defines it (IST-DASLab/gptq quant.py,
// `Quantizer.find_params` and `quantize`), stored as compressed-tensors' `pack-quantized` format
// (vllm-project/compressed-tensors: compressors/pack_quantized, what vLLM's WNA16 kernels load).
//
// One row-group is `group` consecutive weights of a row (the whole row per output channel). Its
// parameters, for maxq = 2^bits - 1:
//   xmin = min(min(w), 0), xmax = max(max(w), 0)            (the range always holds 0)
//   symmetric:  xmax = max(|xmin|, xmax); xmin = -xmax only when xmin < 0 (quant.py keeps
//               xmin = 0 for a row-group with no negative weight, so its scale is xmax / maxq);
//               zero = (maxq + 1) / 2
//   all zero:   xmin = -1, xmax = +1
//   scale = (xmax - xmin) / maxq; asymmetric: zero = round(-xmin / scale)
//   mse:        for i in 0..79 (p = 1 - i/100), the candidate from (p·xmin, p·xmax) with the
//               smallest sum |dequant(quant(w)) - w|^2.4 replaces it (quant.py's grid = 100,
//               maxshrink = 0.8, norm = 2.4; strictly smaller only, so ties keep the earlier p).
//   q = clamp(round(w / scale) + zero, 0, maxq), w' = scale · (q - zero); round is half-to-even
//   (torch.round).
// Scales are stored in the model's dtype (BF16 usually), so FitParams rounds each scale to that
// dtype as soon as it is computed, and everything after it (the zero point, the MSE search, the
// codes) uses the rounded value: the stored parameters are exactly the ones the codes were made
// with. The zero point is clamped to [0, maxq] (compressed-tensors clamps it too; only the scale's
// rounding can push round(-xmin / scale) past maxq). Arithmetic is in double.
//
// Storage (compressed-tensors, pack-quantized): a code is stored as the unsigned value q, which is
// compressed-tensors' signed value (q - 2^(bits-1)) offset back by 2^(bits-1); for symmetric
// schemes zero = 2^(bits-1), so the signed value is q - zero, in [-8, 7] for int4. Values are
// packed densely into little-endian int32 words: element i of a packed vector occupies bits
// [i·bits, i·bits + bits) of the word stream (an element may straddle two words when 32 % bits != 0),
// ceil(n·bits / 32) words per vector. Weights pack along rows ([out, ceil(in·bits/32)]); zero
// points pack along dim 0, i.e. each column of the [out, groups] matrix is one vector
// ([ceil(out·bits/32), groups]).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/dtypes/dtype.h"

namespace quantc::kernels::int_quant {

struct IntScheme {
  int bits = 4;            // 2..8 (vLLM's WNA16 kernels take 4 and 8)
  int64_t group = 0;       // weights per scale along a row; 0: per output channel (the whole row)
  bool symmetric = true;   // false: a zero point per row-group (stored as weight_zero_point)
  bool mse = false;        // quant.py's MSE clip search (QuaRot/SpinQuant --w_clip)
};

// Scheme names: int<bits>[-g<group>][-asym][-mse], in that order, case-insensitive:
//   "int4" (per channel, symmetric), "int4-g128", "int8", "int4-g128-asym", "int4-g32-asym-mse".
// bits is 2..8, group a positive integer. INVALID_ARGUMENT names the text and the grammar.
absl::StatusOr<IntScheme> ParseIntScheme(std::string_view name);
// The canonical name ParseIntScheme reads back: "int4-g128-asym".
std::string Name(const IntScheme& scheme);

inline int MaxQ(const IntScheme& s) { return (1 << s.bits) - 1; }
// Columns per row-group for a row of `cols` weights (cols itself per channel).
inline int64_t GroupSize(const IntScheme& s, int64_t cols) { return s.group > 0 ? s.group : cols; }
// Row-groups per row: the last one is ragged (shorter) when the group size does not divide cols.
inline int64_t GroupCount(const IntScheme& s, int64_t cols) { return (cols + GroupSize(s, cols) - 1) / GroupSize(s, cols); }

// One row-group's parameters in quant.py's terms: w' = scale · (q - zero), q in [0, maxq].
struct IntParams {
  float scale = 1.0f;  // exactly representable in the scale dtype FitParams was given
  int32_t zero = 0;    // in [0, maxq]; 2^(bits-1) for symmetric schemes
  bool operator==(const IntParams&) const = default;
};

// `value` (> 0) rounded to nearest-even in `dtype` (F32, BF16 or F16), through F32 first (a scale
// computed in FP32 and then cast, as torch stores it). 0 and underflow become the dtype's smallest
// positive value, overflow its largest finite value.
float RoundScale(double value, DType dtype);

// Fits the parameters of one row-group w[0..n) (finite values, n >= 1), scales rounded to
// `scale_dtype` (F32, BF16 or F16: the dtype weight_scale is stored in).
IntParams FitParams(const IntScheme& scheme, const float* w, int64_t n, DType scale_dtype);
// q = clamp(round(w / scale) + zero, 0, maxq).
int32_t QuantizeCode(const IntParams& p, int maxq, float w);
// scale · (q - zero) in FP32: exact for BF16/F16 scales (at most 11 significant bits times an
// integer of at most 9), rounded once for F32 scales. (FitParams' MSE search works in double.)
inline float Dequantize(const IntParams& p, int32_t q) { return p.scale * static_cast<float>(q - p.zero); }

// Quantizes one row of `cols` weights with its row-groups' fitted parameters: params[g] for
// columns [g·G, (g+1)·G), G = GroupSize(scheme, cols). Writes codes[cols] and params[groups].
void QuantizeRow(const IntScheme& scheme, const float* w, int64_t cols, DType scale_dtype, uint8_t* codes,
                 IntParams* params);

// Packing (compressed-tensors pack_to_int32 / unpack_from_int32, densely, little-endian).
inline int64_t PackedWords(int64_t n, int bits) { return (n * bits + 31) / 32; }
// values[0..n) (each < 2^bits) into words[0..PackedWords(n, bits)); the padding bits are zero.
void PackBits(const uint8_t* values, int64_t n, int bits, int32_t* words);
void UnpackBits(const int32_t* words, int64_t n, int bits, uint8_t* values);
// Along dim 0: values [rows, cols] row-major into words [PackedWords(rows, bits), cols], each
// column packed as one vector (weight_zero_point's layout), and back.
void PackBitsDim0(const uint8_t* values, int64_t rows, int64_t cols, int bits, int32_t* words);
void UnpackBitsDim0(const int32_t* words, int64_t rows, int64_t cols, int bits, uint8_t* values);

}  // namespace quantc::kernels::int_quant
