// A reference interpreter for the graphs quantc's ONNX lowerings emit (lib/ir/graph.h), so that
// quantc computes exactly what it ships: the NPU target (`--target npu`) runs the onnx-npu
// pipeline's own graphs, with their QDQ points, rounding and saturation, and calibration runs their
// float twins. Only the operators those graphs use are implemented, with ONNX's (and onnxruntime's
// com.microsoft) semantics in FP32:
//   QuantizeLinear / DequantizeLinear (per tensor, per axis), MatMul, MatMulNBits (4/8 bits),
//   Add, Sub, Mul (numpy broadcasting), Sigmoid, LpNormalization (p = 2, last axis),
//   GatherBlockQuantized (uint8 packed or INT4 data), GroupQueryAttention (past/present buffer
//   sharing: new keys go to [seqlens_k + 1 - S, seqlens_k + 1), rotary from the caches at
//   position_ids when given, else at those indices; causal over the buffer's valid prefix).
// Anything else is UNIMPLEMENTED naming the node. Weights are decoded on first use and kept, and
// DequantizeLinear nodes of constants (the weights' DQ) are evaluated once: FP32 copies of the
// dequantized weights stay in memory (fine for the models the NPU target is used on here; a
// 1.5B-parameter pipeline would hold about 6 GB).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"

namespace quantc::runner {

struct GraphTensor {
  DType dtype = DType::kF32;  // the element type it stands for
  Shape shape;
  std::vector<float> f;    // float dtypes (F32; F16 values held in FP32)
  std::vector<int64_t> i;  // integer dtypes (I64, I32, U16, U8, I4, BOOL ...)
  int64_t size() const;
  bool is_float() const { return Traits(dtype).is_float; }
  static GraphTensor Float(Shape shape, std::vector<float> values);
  static GraphTensor Int(DType dtype, Shape shape, std::vector<int64_t> values);
};

// Called after each node with its outputs (calibration records their ranges).
using GraphObserver = std::function<void(const GraphNode& node, const std::vector<const GraphTensor*>& outputs)>;

class GraphEvaluator {
 public:
  // `model` and `graph` must outlive the evaluator.
  GraphEvaluator(const Model& model, const Graph& graph);
  ~GraphEvaluator();

  // Runs the graph on `feeds` (every graph input; taken, so large inputs such as KV caches can be
  // moved in) and returns its outputs by name.
  absl::StatusOr<std::map<std::string, GraphTensor>> Run(std::map<std::string, GraphTensor> feeds,
                                                        const GraphObserver* observer = nullptr);

 private:
  absl::StatusOr<const GraphTensor*> Constant(const std::string& name);
  const Model& model_;
  const Graph& graph_;
  std::map<std::string, std::unique_ptr<GraphTensor>> constants_;
  std::map<std::string, std::vector<GraphTensor>> folded_;  // node name -> outputs
};

}  // namespace quantc::runner
