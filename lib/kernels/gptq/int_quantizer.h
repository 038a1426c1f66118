// GPTQ on GPTQ's own integer grid (lib/kernels/int_quant: quant.py's parameters, scales rounded to
// the dtype they are stored in), per output channel or per group of columns. Keeps every code and
// parameter for the caller to pack (passes/util/pack_quantized.h).
#pragma once

#include <cstdint>
#include <vector>

#include "lib/kernels/gptq/gptq.h"
#include "lib/kernels/int_quant/int_quant.h"

namespace quantc::kernels::gptq {

class IntRowQuantizer final : public RowQuantizer {
 public:
  IntRowQuantizer(const int_quant::IntScheme& scheme, DType scale_dtype, int64_t rows, int64_t cols);
  int64_t group_size() const override { return group_; }
  void FitGroup(int64_t row, int64_t group, const float* w, const float* importance, int64_t n) override;
  float Quantize(int64_t row, int64_t col, float w) override;

  // After the solve, per-channel schemes only: replaces each row's scale by the least-squares one
  // for the chosen codes under the layer loss, s = (cᵀ H w) / (cᵀ H c) with c = q − zero and w the
  // original row (so the loss never grows: the old scale is one candidate), rounded to the scale
  // dtype; a row whose optimum is not positive or not finite keeps its scale. `hessian` [cols, cols]
  // is the undamped H. Returns how many rows changed.
  int64_t RefitChannelScales(const float* original, const float* hessian, int64_t rows);

  const std::vector<uint8_t>& codes() const { return codes_; }                  // [rows * cols], q in [0, maxq]
  const std::vector<int_quant::IntParams>& params() const { return params_; }   // [rows * groups]

 private:
  int_quant::IntScheme scheme_;
  DType scale_dtype_;
  int64_t cols_, group_, groups_;
  int maxq_;
  std::vector<uint8_t> codes_;
  std::vector<int_quant::IntParams> params_;
};

}  // namespace quantc::kernels::gptq
