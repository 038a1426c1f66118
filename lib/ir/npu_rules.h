// The QNN HTP rules an NPU-side ONNX graph must follow (onnx-targets.md §4.4; onnxruntime-qnn op
// builders), checked on the IR (`quantc check-npu DIR` reads the files back first):
//   1. static shapes: no symbolic dimension on any graph input or output;
//   2. every MatMul weight is a DequantizeLinear of an INT4 / INT8 initializer [K, N] with a 1-D
//      scale [N] on axis 1 — per channel, never blocked (no block_size, no 2-D scale);
//   3. activations are uint8 or uint16: every QuantizeLinear's type (its zero point's), and every
//      float graph input or output is refused (the boundary is quantized);
//   4. node units: every operator other than Q/DQ reads its float inputs from DequantizeLinear
//      nodes and feeds its float outputs only to QuantizeLinear nodes; integer inputs (lengths,
//      positions) are allowed where the operator takes them;
//   5. operators from the set the pipeline uses on the NPU: MatMul, Add, Mul, Sigmoid,
//      LpNormalization (p = 2), GroupQueryAttention, QuantizeLinear, DequantizeLinear.
#pragma once

#include <string>
#include <vector>

#include "lib/ir/model.h"

namespace quantc {

// Every violation as one line: "<graph>: node '<name>' (<op>): <rule>". Empty when the graph passes.
std::vector<std::string> CheckNpuRules(const Model& model, const Graph& graph);

}  // namespace quantc
