// The runner's view of a model's weights, by role: matrices in their stored formats (through the
// kernels' WeightMatrix interface) and small vectors (norms, biases) as FP32. Weights that are
// mapped stay in the mapping; weights a pass produced lazily are streamed once into memory.
// GGUF layout (arch::AdapterForModel): ggml block types run through kernels::MakeBlockQuantWeight,
// a routed expert is its slice of the layer's stacked [n_expert, out, in] tensor, and MLA's split
// attn_k_b [heads, kv_lora, nope] / attn_v_b [heads, v, kv_lora] are viewed as 2-D (leading dims
// flattened into rows). Hugging Face layout also runs compressed-tensors pack-quantized weights
// (X.weight_packed + scales, lib/ir/packed_int.h) as stored, through kernels::MakePackedIntWeight,
// and FP4 weights in every layout lib/ir/fp4_weight.h reads, through kernels::MakeFp4Weight.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/arch/adapter.h"
#include "lib/ir/model.h"
#include "lib/kernels/matmul/weight_matrix.h"
#include "lib/runner/options.h"

namespace quantc::runner {

class Weights {
 public:
  // Resolves roles to tensors of `model` through the adapter; each matrix or vector is built on
  // first request and kept. The runner requests only layers below num_hidden_layers.
  static absl::StatusOr<std::unique_ptr<Weights>> Load(const Model& model, const arch::ArchAdapter& adapter,
                                                       RunnerOptions options = {});
  // NOT_FOUND names the tensor the checkpoint lacks.
  absl::StatusOr<const kernels::WeightMatrix*> Matrix(arch::Role role, int64_t layer = -1, int64_t expert = -1);
  absl::StatusOr<const std::vector<float>*> Vector(arch::Role role, int64_t layer = -1);
  bool Has(arch::Role role, int64_t layer = -1, int64_t expert = -1) const;
  // Drops everything built for `layer` (matrices, vectors, bytes read from lazy sources), so the
  // next requests see the model's current tensor entries (a pass that replaced them, e.g. gptq).
  void ForgetLayer(int64_t layer);

 private:
  Weights(const Model& model, const arch::ArchAdapter& adapter, RunnerOptions options)
      : model_(model), adapter_(adapter), options_(std::move(options)) {}
  // The whole tensor's bytes (mapped, or read once and kept: stacked experts share one read).
  absl::StatusOr<std::span<const uint8_t>> Bytes(const TensorEntry& e);
  const TensorEntry* Find(const arch::TensorRole& role) const;

  const Model& model_;
  const arch::ArchAdapter& adapter_;
  RunnerOptions options_;
  std::pair<int64_t, int64_t> block_{128, 128};
  std::map<std::string, std::vector<uint8_t>, std::less<>> owned_;  // bytes of tensors that are not mapped
  std::map<std::tuple<int, int64_t, int64_t>, std::unique_ptr<kernels::WeightMatrix>> matrices_;
  std::map<std::pair<int, int64_t>, std::vector<float>> vectors_;
};

}  // namespace quantc::runner
