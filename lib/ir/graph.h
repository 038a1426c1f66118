// A dataflow graph over a model's tensors: what graph formats (ONNX) serialize. Lowering passes
// (onnx-decoder) build it from an architecture's roles; formats/onnx writes it as bytes. It knows
// neither the math of the ops (the lowering pass does) nor protobuf (the writer does).
//
// Values are named strings, as in ONNX. Every tensor of the model's table is an initializer
// (a constant input to the graph) under its own name; graph inputs and outputs are declared with
// a dtype and dims, each a number or a symbolic name.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "lib/dtypes/dtype.h"

namespace quantc {

// One dimension: a fixed size, or a symbol ("batch_size") shared by every value that names it.
struct GraphDim {
  int64_t value = -1;  // >= 0 when fixed
  std::string symbol;  // non-empty when symbolic
  static GraphDim Fixed(int64_t v) { return {v, ""}; }
  static GraphDim Symbol(std::string s) { return {-1, std::move(s)}; }
};

// A graph input or output. `dtype` uses quantc's enum; the writer maps it to the format's.
struct GraphValue {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<GraphDim> dims;
};

struct GraphAttribute {
  using Value = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>>;
  std::string name;
  Value value;
};

struct GraphNode {
  std::string op_type;
  std::string domain;                 // "" = the standard operator set; "com.microsoft" ...
  std::string name;                   // unique in the graph
  std::vector<std::string> inputs;    // "" = an absent optional input
  std::vector<std::string> outputs;   // "" = an unused optional output
  std::vector<GraphAttribute> attributes;
};

struct Graph {
  std::string name = "main_graph";
  std::vector<std::pair<std::string, int64_t>> opsets;  // (domain, version), "" first
  std::vector<GraphValue> inputs, outputs;
  std::vector<GraphNode> nodes;                          // in topological order
  std::vector<std::pair<std::string, std::string>> metadata;  // model-level key/values

  bool empty() const { return nodes.empty(); }
  // Appends a node named `name` and returns it (for attributes added after the fact).
  GraphNode& Add(std::string op_type, std::string name, std::vector<std::string> inputs,
                 std::vector<std::string> outputs, std::vector<GraphAttribute> attributes = {},
                 std::string domain = "");
};

}  // namespace quantc
