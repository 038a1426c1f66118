#include "lib/kernels/gptq/ggml_quantizer.h"

#include "lib/kernels/ggml_quants/grid.h"
#include "lib/kernels/ggml_quants/quants.h"

namespace quantc::kernels::gptq {

namespace gq = ggml_quants;

GgmlRowQuantizer::GgmlRowQuantizer(DType type, int64_t cols, uint8_t* out)
    : type_(type),
      block_elems_(Traits(type).block_elems),
      block_bytes_(Traits(type).block_bytes),
      row_bytes_(static_cast<int64_t>(gq::RowBytes(type, cols))),
      out_(out) {}

void GgmlRowQuantizer::FitGroup(int64_t row, int64_t group, const float* w, const float* importance, int64_t n) {
  gq::Reference(type_).quantize(w, Block(row, group), n, importance);
}

float GgmlRowQuantizer::Quantize(int64_t row, int64_t col, float w) {
  uint8_t* block = Block(row, col / block_elems_);
  const int64_t i = col % block_elems_;
  const gq::ElementGrid grid = gq::GridOf(type_, block, i);
  const int32_t q = gq::NearestCode(grid, w);
  gq::SetCode(type_, block, i, q);
  return gq::GridValue(grid, q);
}

}  // namespace quantc::kernels::gptq
