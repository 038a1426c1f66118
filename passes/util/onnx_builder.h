// What the ONNX lowering passes share: a Graph (lib/ir/graph.h) under construction over a new
// tensor table, with helpers that add nodes named as onnxruntime-genai's builder names them
// ("/model/layers.3/attn/q_proj/MatMul", outputs "<node>/output_<k>"), constants, the model's
// float tensors cast to the graph's float type, and linears — a MatMul over the transposed float
// weight, or a MatMulNBits over compressed-tensors int4 codes, whose per-row nibble layout
// (element k of a row in nibble k % 2 of byte k / 2) is MatMulNBits' B [N, K / block, block / 2]
// exactly, and whose unsigned code (signed value + 8) is what MatMulNBits' default zero point
// expects.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/arch/adapter.h"
#include "lib/arch/model_spec.h"
#include "lib/ir/model.h"
#include "lib/ir/packed_int.h"

namespace quantc::passes {

inline constexpr std::string_view kMsDomain = "com.microsoft";
inline constexpr int64_t kOnnxFloat = 1, kOnnxInt32 = 6, kOnnxInt64 = 7, kOnnxBool = 9;  // TensorProto.DataType

// The checks every ONNX lowering starts with: Hugging Face layout and one of `types` (model_type);
// returns the parsed spec. Messages start with the pass name.
absl::StatusOr<arch::ModelSpec> CheckLowerable(const Model& model, std::string_view pass, std::span<const std::string_view> types);

class OnnxBuilder {
 public:
  // `in` (HF layout) must outlive the builder; `float_type` is F32 or F16.
  OnnxBuilder(const Model& in, DType float_type, int64_t accuracy_level);

  Graph& graph() { return graph_; }
  // Hands over the graph built so far (named `name`) and starts an empty one over the same table:
  // lowerings that emit several graphs sharing weights build them one after another.
  Graph TakeGraph(std::string name);
  TensorTable& tensors() { return tensors_; }
  const std::set<std::string>& consumed() const { return consumed_; }
  DType float_type() const { return ft_; }

  // A node with outputs "<name>/output_0" ... "<name>/output_{n-1}"; returns the first / all.
  std::string Node(std::string op, std::string name, std::vector<std::string> inputs, std::vector<GraphAttribute> attrs = {},
                   std::string domain = "");
  std::vector<std::string> NodeN(std::string op, std::string name, std::vector<std::string> inputs, int outputs,
                                 std::vector<GraphAttribute> attrs = {}, std::string domain = "");
  // Shared constants: int64 (1-D, or a scalar) and a float scalar in the graph's float type.
  std::string ConstI64(std::vector<int64_t> values, bool scalar = false);
  std::string ConstFloat(float value);
  // A tensor held in memory (caches, tables), under `name`.
  absl::Status AddOwned(std::string name, TensorInfo info, std::vector<uint8_t> bytes, std::string description);
  // `values` stored in the graph's float type.
  absl::Status AddFloats(std::string name, Shape shape, const std::vector<float>& values, std::string description);

  const TensorEntry* Find(const arch::TensorRole& role) const;
  // Whether the model has the weight of `role`, as a float tensor or as int4 codes.
  bool HasWeight(const arch::TensorRole& role) const;
  // The model's float tensor for `role` (norm, bias, embedding, router) in the graph's float type.
  absl::StatusOr<std::string> Initializer(const arch::TensorRole& role);
  // y = x · Wᵀ (+ bias) for the weight of `role`, as "<name>/MatMul" or "<name>/MatMulNBits"
  // (+ "<name>/Add"). `output` renames the last node's output (a graph output such as "logits").
  absl::StatusOr<std::string> Linear(const std::string& name, const std::string& x, const arch::TensorRole& role,
                                     std::optional<arch::TensorRole> bias = std::nullopt, std::string output = "");
  // down(silu(gate(x)) · up(x)), SiLU as Sigmoid · Mul, for the three weights' roles.
  absl::StatusOr<std::string> SwiGlu(const std::string& name, const std::string& x, const arch::TensorRole& gate,
                                     const arch::TensorRole& up, const arch::TensorRole& down);
  // RMSNorm: SimplifiedLayerNormalization (axis -1, fp32 statistics).
  std::string RmsNorm(const std::string& name, const std::string& x, const std::string& gamma, double eps);

 private:
  absl::StatusOr<std::string> PackedLinear(const std::string& name, const std::string& x, const std::string& weight,
                                           const PackedIntEntries& e);

  const Model& in_;
  DType ft_;
  int64_t accuracy_level_;
  Graph graph_;
  TensorTable tensors_;
  std::set<std::string> consumed_;
  std::optional<PackedIntConfig> packed_config_;
};

}  // namespace quantc::passes
