#include "lib/kernels/gptq/int_quantizer.h"

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

}  // namespace quantc::kernels::gptq
