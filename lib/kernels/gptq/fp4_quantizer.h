// GPTQ on the FP4 grids of lib/kernels/fp4 (MXFP4: 32 elements per E8M0 scale; NVFP4: 16 per E4M3
// scale times the tensor's FP32 multiplier). Each group's scale byte is fitted by the family's own
// rule (fp4::FitGroupScale; kMse weighs its search by the Hessian diagonal) when GPTQ reaches the
// group, or up front with static groups; GPTQ then chooses every E2M1 code on that group's grid.
// Codes and scales come out in the family's layout, so fp4::DequantizeRow and the checkpoint
// writers take them as they are.
#pragma once

#include <cstdint>
#include <vector>

#include "lib/kernels/fp4/fp4.h"
#include "lib/kernels/gptq/gptq.h"

namespace quantc::kernels::gptq {

class Fp4RowQuantizer final : public RowQuantizer {
 public:
  // `global`: NVFP4's per-tensor multiplier, which the caller takes from the tensor's amax with
  // fp4::NvGlobalScale (ignored for MX; pass 1). cols % fp4::GroupSize(format) == 0: the caller
  // checks (and errors), as for fp4::QuantizeRow.
  Fp4RowQuantizer(fp4::Fp4Format format, fp4::ScaleRule rule, float global, int64_t rows, int64_t cols);
  int64_t group_size() const override { return group_; }
  void FitGroup(int64_t row, int64_t group, const float* w, const float* importance, int64_t n) override;
  float Quantize(int64_t row, int64_t col, float w) override;

  // [rows, cols / 2], packed as the FP4 family stores them: element 2j in the low nibble of byte j.
  // Quantize writes in place (a row's bytes belong to its row, so rows may run concurrently).
  const std::vector<uint8_t>& codes() const { return codes_; }
  // [rows, cols / group_size()] scale bytes: E8M0 for MX, E4M3 for NV.
  const std::vector<uint8_t>& scales() const { return scales_; }

 private:
  fp4::Fp4Format format_;
  fp4::ScaleRule rule_;
  float global_;
  int64_t cols_, group_, groups_;
  std::vector<uint8_t> codes_, scales_;
};

}  // namespace quantc::kernels::gptq
