// The GPU runner's weight matrices on the device and the helpers that upload and apply them:
// defined in gpu_runner.cc, shared with the MLA (gpu_mla.h) and MoE (gpu_moe.h) layers so that every
// matrix of every architecture goes through the same upload (stored format where lib/cuda has a
// kernel for it, FP32 otherwise) and the same cuda::MatMul.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/cuda/cuda.h"
#include "lib/kernels/matmul/weight_matrix.h"

namespace quantc::runner {

// Matrices that read the same input (q/k/v; gate/up), their outputs side by side in one row per
// token: [n, rows]. Stacked into one device matrix when they share a kernel format (one launch),
// else one part each. A matrix without a kernel for its format is decoded to FP32 on the host.
struct Projection {
  std::vector<cuda::DeviceWeight> parts;
  std::vector<int64_t> offsets;  // of each part's outputs in the row
  int64_t rows = 0;
  cuda::DeviceBuffer bias;  // [rows] or empty
  // One token's input split for the integer kernels (cuda::SplitInput; EnableSplit): written by the
  // kernel that makes the input or by Project, so a projection runs on one stream at a time.
  std::optional<cuda::SplitInput> split;
  uint64_t bytes() const {
    uint64_t b = 0;
    for (const cuda::DeviceWeight& w : parts) b += static_cast<uint64_t>(w.rows) * w.stored_row_bytes;
    return b;
  }
};

absl::StatusOr<Projection> UploadProjection(std::span<const kernels::WeightMatrix* const> matrices,
                                            std::span<const std::vector<float>* const> biases);

// Gives p a split input (Projection::split) when a part's one-token kernel reads one
// (cuda::kernels::OneTokenReadsSplit: Q4_K; Q6_K as an LM head or FFN down); a second part in Q6_K
// (v beside q/k) then shares the launch (cuda::MatVecPair). The runner enables it where the
// input's producer can write the split too.
absl::Status EnableSplit(Projection& p);
// Where a kernel that makes p's one-token input writes its split (none: nothing to write).
cuda::kernels::SplitOut SplitOutFor(const Projection& p, int64_t n);

// y[t, :] (row stride p.rows) = the projection of x [n, cols]; += when accumulating. One token
// with a split input: splits x first unless `split_made` (its producer wrote p.split).
absl::Status Project(const Projection& p, const float* x, int64_t n, float* y, const cuda::Stream& stream,
                     bool accumulate = false, bool split_made = false);

absl::StatusOr<cuda::DeviceBuffer> UploadFloats(const std::vector<float>& v);
absl::StatusOr<cuda::DeviceBuffer> AllocateFloats(int64_t count);

}  // namespace quantc::runner
