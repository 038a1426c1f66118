#include "lib/kernels/gptq/int_quantizer.h"

#include <cmath>

namespace quantc::kernels::gptq {

IntRowQuantizer::IntRowQuantizer(const int_quant::IntScheme& scheme, DType scale_dtype, int64_t rows, int64_t cols)
    : scheme_(scheme),
      scale_dtype_(scale_dtype),
      cols_(cols),
      group_(int_quant::GroupSize(scheme, cols)),
      groups_((cols + group_ - 1) / group_),
      maxq_(int_quant::MaxQ(scheme)),
      codes_(static_cast<size_t>(rows * cols)),
      params_(static_cast<size_t>(rows * groups_)) {}

void IntRowQuantizer::FitGroup(int64_t row, int64_t group, const float* w, const float*, int64_t n) {
  params_[row * groups_ + group] = int_quant::FitParams(scheme_, w, n, scale_dtype_);
}

float IntRowQuantizer::Quantize(int64_t row, int64_t col, float w) {
  const int_quant::IntParams& p = params_[row * groups_ + col / group_];
  const int32_t q = int_quant::QuantizeCode(p, maxq_, w);
  codes_[row * cols_ + col] = static_cast<uint8_t>(q);
  return int_quant::Dequantize(p, q);
}

int64_t IntRowQuantizer::RefitChannelScales(const float* original, const float* hessian, int64_t rows) {
  if (groups_ != 1) return 0;
  int64_t changed = 0;
#pragma omp parallel for schedule(dynamic, 4) reduction(+ : changed)
  for (int64_t r = 0; r < rows; ++r) {
    int_quant::IntParams& p = params_[r];
    const uint8_t* q = &codes_[r * cols_];
    const float* w = &original[r * cols_];
    double chc = 0, chw = 0;
    for (int64_t i = 0; i < cols_; ++i) {
      const double ci = q[i] - p.zero;
      if (ci == 0) continue;
      const float* h = &hessian[i * cols_];
      double hc = 0, hw = 0;
      for (int64_t j = 0; j < cols_; ++j) {
        hc += h[j] * static_cast<double>(q[j] - p.zero);
        hw += h[j] * static_cast<double>(w[j]);
      }
      chc += ci * hc;
      chw += ci * hw;
    }
    if (!(chc > 0)) continue;
    const double s = chw / chc;
    if (!(s > 0) || !std::isfinite(s)) continue;
    const float rounded = int_quant::RoundScale(s, scale_dtype_);
    if (rounded != p.scale) {
      p.scale = rounded;
      ++changed;
    }
  }
  return changed;
}

}  // namespace quantc::kernels::gptq
