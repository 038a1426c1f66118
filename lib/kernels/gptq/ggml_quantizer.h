// GPTQ on a ggml block type's grid (Q4_0 .. Q6_K, IQ4_NL/XS, MXFP4): each block's scales are
// fitted by the type's own llama.cpp quantizer, weighted by the Hessian diagonal as an imatrix
// would weight it, when GPTQ reaches the block; GPTQ then chooses every code on that block's grid
// (ggml_quants/grid.h). The result is ordinary blocks that llama.cpp decodes as usual.
#pragma once

#include <cstdint>

#include "lib/dtypes/dtype.h"
#include "lib/kernels/gptq/gptq.h"

namespace quantc::kernels::gptq {

class GgmlRowQuantizer final : public RowQuantizer {
 public:
  // `out` receives rows * ggml_quants::RowBytes(type, cols) bytes; cols must be whole blocks.
  GgmlRowQuantizer(DType type, int64_t cols, uint8_t* out);
  int64_t group_size() const override { return block_elems_; }
  void FitGroup(int64_t row, int64_t group, const float* w, const float* importance, int64_t n) override;
  float Quantize(int64_t row, int64_t col, float w) override;

 private:
  uint8_t* Block(int64_t row, int64_t group) const { return out_ + row * row_bytes_ + group * block_bytes_; }
  DType type_;
  int64_t block_elems_, block_bytes_, row_bytes_;
  uint8_t* out_;
};

}  // namespace quantc::kernels::gptq
