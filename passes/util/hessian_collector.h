// Collects GPTQ Hessians from the runner's matmul inputs (RunnerOptions::matmul_observer) for the
// matrices being calibrated, one accumulator per (tensor, expert). Matrices that read the very same
// input in one forward call (q/k/v, gate/up) share one accumulator, so each input's X^T X is
// computed once.
// For GPTQ against the original model's outputs (kernels::gptq::CrossAccumulator), the pass runs
// the original model on the same window just before (its own forward call) and hands its inputs
// to ObserveOriginal; Observe then also accumulates the cross term of the two.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lib/kernels/gptq/gptq.h"

namespace quantc::passes {

class HessianCollector {
 public:
  // The tensors observed from now on (the others are ignored); clears the accumulators.
  void Start(std::set<std::string> tensors);
  // Call before every forward call: inputs seen in different calls are different data even when
  // they sit at the same address.
  void NextCall() { ++call_; }
  // The observer body: x [n, cols] read by `tensor` (expert: index in a stacked tensor, or -1).
  void Observe(const std::string& tensor, int64_t expert, const float* x, int64_t n, int64_t cols);
  // The original model's input x0 [n, cols] to `tensor` (dense matrices only, expert -1) in the
  // forward call just before the one whose Observe pairs with it. Matrices that read the same
  // input in one call (q/k/v, gate/up) share one copy of it.
  void ObserveOriginal(const std::string& tensor, const float* x0, int64_t n, int64_t cols);
  // The Hessian [cols, cols] of (tensor, expert), or null when it saw no input.
  const kernels::gptq::HessianAccumulator* Find(const std::string& tensor, int64_t expert) const;
  // The cross term D [cols, cols] of `tensor` (CrossAccumulator::Finish), or empty unless every
  // input its Hessian saw came paired with the original model's.
  std::vector<float> FindCross(const std::string& tensor) const;
  double seconds() const { return seconds_; }  // spent accumulating, since construction

 private:
  struct Slot {
    kernels::gptq::HessianAccumulator hessian;
    std::optional<kernels::gptq::CrossAccumulator> cross;
    uint64_t last_call = 0;
    const float* last_x = nullptr;
  };
  std::set<std::string> tensors_;
  std::map<std::pair<std::string, int64_t>, size_t> slot_of_;
  std::vector<std::unique_ptr<Slot>> slots_;
  uint64_t call_ = 1;
  // An input of the original model, shared by the matrices that read it in the same call.
  struct Original {
    uint64_t call = 0;
    const float* x0 = nullptr;  // where the runner held it (to recognize the same input again)
    std::vector<float> copy;
  };
  std::map<std::string, std::shared_ptr<const Original>> originals_;
  std::shared_ptr<const Original> last_original_;
  // The previous observation, to share a slot with the matrix that read the same input.
  struct Last {
    uint64_t call = 0;
    const float* x = nullptr;
    int64_t n = 0, expert = 0;
    size_t slot = 0;
  } last_;
  double seconds_ = 0;
};

}  // namespace quantc::passes
