#include "lib/kernels/gptq/fp4_quantizer.h"

#include "lib/dtypes/float_convert.h"

namespace quantc::kernels::gptq {

Fp4RowQuantizer::Fp4RowQuantizer(fp4::Fp4Format format, fp4::ScaleRule rule, float global, int64_t rows,
                                 int64_t cols)
    : format_(format),
      rule_(rule),
      global_(global),
      cols_(cols),
      group_(fp4::GroupSize(format)),
      groups_(cols / group_),
      codes_(static_cast<size_t>(rows * (cols / 2))),
      scales_(static_cast<size_t>(rows * groups_)) {}

void Fp4RowQuantizer::FitGroup(int64_t row, int64_t group, const float* w, const float* importance, int64_t n) {
  scales_[row * groups_ + group] = fp4::FitGroupScale(format_, rule_, w, n, global_, importance);
}

float Fp4RowQuantizer::Quantize(int64_t row, int64_t col, float w) {
  const float scale = fp4::GroupScale(format_, scales_[row * groups_ + col / group_], global_);
  const uint8_t code = fp4::NearestCode(w, scale);
  uint8_t& byte = codes_[row * (cols_ / 2) + col / 2];
  byte = col % 2 == 0 ? static_cast<uint8_t>((byte & 0xF0) | code) : static_cast<uint8_t>((byte & 0x0F) | (code << 4));
  return F4E2M1ToF32(code) * scale;
}

}  // namespace quantc::kernels::gptq
