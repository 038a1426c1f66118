// Options of a runner (and of the weights it builds).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace quantc::runner {

// Sees the input rows of every weight matmul, before any rounding: the weight's tensor name, the
// expert's index inside a stacked tensor (-1 otherwise), and x [n, cols]. Not called for the
// embedding lookup or the output projection (llama-imatrix's default). Called from the thread that
// runs Forward.
using MatMulObserver =
    std::function<void(const std::string& tensor, int64_t expert, const float* x, int64_t n, int64_t cols)>;

struct RunnerOptions {
  // Round each matmul's activations as llama.cpp's CPU backend does for the weight's type, so
  // the runner predicts what llama.cpp computes on the same file (kernels/ggml_quants/activations.h).
  bool llama_cpp_activations = false;
  MatMulObserver matmul_observer;
};

}  // namespace quantc::runner
