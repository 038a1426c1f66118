#include "lib/ir/npu_rules.h"

#include <map>
#include <set>

#include "lib/support/strings.h"

namespace quantc {
namespace {

const std::set<std::string> kNpuOps = {"MatMul", "Add", "Mul", "Sigmoid", "LpNormalization", "GroupQueryAttention",
                                       "QuantizeLinear", "DequantizeLinear"};

const GraphAttribute* Attr(const GraphNode& n, std::string_view name) {
  for (const auto& a : n.attributes) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> CheckNpuRules(const Model& model, const Graph& g) {
  std::vector<std::string> v;
  auto fail = [&](const GraphNode* n, const std::string& what) {
    v.push_back(n ? StrCat(g.name, ": node '", n->name, "' (", n->op_type, "): ", what) : StrCat(g.name, ": ", what));
  };
  std::map<std::string, const GraphNode*> producer;
  std::map<std::string, std::vector<const GraphNode*>> consumers;
  std::map<std::string, DType> value_type;  // graph inputs and quantized values
  for (const GraphNode& n : g.nodes) {
    for (const std::string& o : n.outputs) {
      if (!o.empty()) producer[o] = &n;
    }
    for (const std::string& i : n.inputs) {
      if (!i.empty()) consumers[i].push_back(&n);
    }
  }
  // 1 and 3 at the boundary.
  for (const auto* values : {&g.inputs, &g.outputs}) {
    for (const GraphValue& x : *values) {
      for (const GraphDim& d : x.dims) {
        if (!d.symbol.empty()) fail(nullptr, StrCat("'", x.name, "' has the symbolic dimension '", d.symbol, "' (static shapes only)"));
      }
      if (Traits(x.dtype).is_float) fail(nullptr, StrCat("'", x.name, "' is ", Name(x.dtype), " (the NPU's boundary is uint8/uint16)"));
      value_type[x.name] = x.dtype;
    }
  }
  auto is_float_value = [&](const std::string& name) {
    if (const TensorEntry* e = model.tensors.Find(name)) return Traits(e->info.dtype).is_float;
    auto p = producer.find(name);
    if (p == producer.end()) return value_type.count(name) ? Traits(value_type[name]).is_float : false;
    return p->second->op_type != "QuantizeLinear";  // everything else here computes floats
  };
  for (const GraphNode& n : g.nodes) {
    if (!kNpuOps.contains(n.op_type)) {
      fail(&n, "not an operator the NPU pipeline runs");
      continue;
    }
    if (n.op_type == "QuantizeLinear") {
      const std::string& zp = n.inputs.size() > 2 ? n.inputs[2] : "";
      const TensorEntry* z = zp.empty() ? nullptr : model.tensors.Find(zp);
      if (z == nullptr || (z->info.dtype != DType::kU8 && z->info.dtype != DType::kU16)) {
        fail(&n, "activations must be quantized to uint8 or uint16 (zero point of that type)");
      }
      continue;
    }
    if (n.op_type == "DequantizeLinear") continue;
    if (n.op_type == "LpNormalization") {
      const GraphAttribute* p = Attr(n, "p");
      if (p == nullptr || std::get<int64_t>(p->value) != 2) fail(&n, "LpNormalization must be p = 2");
    }
    // 4: float inputs from DQ, float outputs only into Q.
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const std::string& in = n.inputs[k];
      if (in.empty() || !is_float_value(in)) continue;
      auto p = producer.find(in);
      if (p == producer.end() || p->second->op_type != "DequantizeLinear") {
        fail(&n, StrCat("float input '", in, "' does not come from a DequantizeLinear (not a QDQ node unit)"));
      }
    }
    for (const std::string& out : n.outputs) {
      if (out.empty()) continue;
      for (const GraphNode* c : consumers[out]) {
        if (c->op_type != "QuantizeLinear") fail(&n, StrCat("output '", out, "' feeds ", c->op_type, " '", c->name, "' directly (not a QDQ node unit)"));
      }
      if (consumers[out].empty()) fail(&n, StrCat("output '", out, "' is not quantized"));
    }
    // 2: MatMul weights per channel.
    if (n.op_type == "MatMul" && n.inputs.size() == 2) {
      auto p = producer.find(n.inputs[1]);
      const GraphNode* dq = p == producer.end() ? nullptr : p->second;
      const TensorEntry* w = dq ? model.tensors.Find(dq->inputs[0]) : nullptr;
      const TensorEntry* s = dq && dq->inputs.size() > 1 ? model.tensors.Find(dq->inputs[1]) : nullptr;
      const GraphAttribute* axis = dq ? Attr(*dq, "axis") : nullptr;
      if (w == nullptr || (w->info.dtype != DType::kI4 && w->info.dtype != DType::kI8) || w->info.shape.size() != 2) {
        fail(&n, "the weight must be a DequantizeLinear of an INT4/INT8 [K, N] initializer");
      } else if (Attr(*dq, "block_size") != nullptr || s == nullptr || s->info.shape != Shape{w->info.shape[1]} || axis == nullptr ||
                 std::get<int64_t>(axis->value) != 1) {
        fail(&n, "the weight must be quantized per channel (1-D scale [N], axis 1), not blocked");
      }
    }
  }
  return v;
}

}  // namespace quantc
