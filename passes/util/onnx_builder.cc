#include "passes/util/onnx_builder.h"

#include <algorithm>
#include <cstring>

#include "lib/dtypes/float_convert.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/util/tensor_sources.h"

namespace quantc::passes {

using arch::HfTensorName;
using arch::Role;
using arch::TensorRole;

absl::StatusOr<arch::ModelSpec> CheckLowerable(const Model& model, std::string_view pass, std::span<const std::string_view> types) {
  if (model.layout != "hf") {
    return absl::FailedPreconditionError(StrCat(pass, " needs a Hugging Face layout model, not layout '", model.layout, "'"));
  }
  const std::string type = model.model_type();
  if (std::find(types.begin(), types.end(), type) == types.end()) {
    return absl::UnimplementedError(StrCat(pass, ": model_type '", type, "' (supported: ", StrJoin(types, ", "), ")"));
  }
  return arch::ParseModelSpec(model.config);
}

OnnxBuilder::OnnxBuilder(const Model& in, DType float_type, int64_t accuracy_level)
    : in_(in), ft_(float_type), accuracy_level_(accuracy_level) {
  graph_.opsets = {{"", 21}, {std::string(kMsDomain), 1}};
}

Graph OnnxBuilder::TakeGraph(std::string name) {
  Graph g = std::move(graph_);
  g.name = std::move(name);
  graph_ = Graph{};
  graph_.opsets = g.opsets;
  return g;
}

std::vector<std::string> OnnxBuilder::NodeN(std::string op, std::string name, std::vector<std::string> inputs, int outputs,
                                            std::vector<GraphAttribute> attrs, std::string domain) {
  std::vector<std::string> outs;
  for (int i = 0; i < outputs; ++i) outs.push_back(StrCat(name, "/output_", i));
  graph_.Add(std::move(op), std::move(name), std::move(inputs), outs, std::move(attrs), std::move(domain));
  return outs;
}

std::string OnnxBuilder::Node(std::string op, std::string name, std::vector<std::string> inputs,
                              std::vector<GraphAttribute> attrs, std::string domain) {
  return NodeN(std::move(op), std::move(name), std::move(inputs), 1, std::move(attrs), std::move(domain))[0];
}

std::string OnnxBuilder::ConstI64(std::vector<int64_t> values, bool scalar) {
  std::string name = StrCat("/model/constants/INT64/", scalar ? "" : "[", StrJoin(values, ","), scalar ? "" : "]");
  if (tensors_.Find(name) == nullptr) {
    std::vector<uint8_t> bytes(values.size() * 8);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    const TensorInfo info{DType::kI64, scalar ? Shape{} : Shape{static_cast<int64_t>(values.size())}};
    (void)AddOwned(name, info, std::move(bytes), "constant");
  }
  return name;
}

std::string OnnxBuilder::ConstFloat(float value) {
  std::string name = StrCat("/model/constants/", ft_ == DType::kF16 ? "FLOAT16/" : "FLOAT/", value);
  if (tensors_.Find(name) == nullptr) (void)AddFloats(name, {}, {value}, "constant");
  return name;
}

absl::Status OnnxBuilder::AddOwned(std::string name, TensorInfo info, std::vector<uint8_t> bytes, std::string description) {
  return tensors_.Add({std::move(name), std::move(info), std::make_shared<OwnedTensorSource>(std::move(bytes), std::move(description)),
                       "onnx lowering", {}});
}

absl::Status OnnxBuilder::AddFloats(std::string name, Shape shape, const std::vector<float>& values, std::string description) {
  TensorInfo info{ft_, std::move(shape)};
  std::vector<uint8_t> bytes(values.size() * Traits(ft_).block_bytes);
  for (size_t i = 0; i < values.size(); ++i) {
    if (ft_ == DType::kF32) {
      std::memcpy(&bytes[i * 4], &values[i], 4);
    } else {
      const uint16_t h = F32ToF16(values[i]);
      std::memcpy(&bytes[i * 2], &h, 2);
    }
  }
  return AddOwned(std::move(name), std::move(info), std::move(bytes), std::move(description));
}

const TensorEntry* OnnxBuilder::Find(const TensorRole& role) const { return in_.tensors.Find(HfTensorName(role)); }

bool OnnxBuilder::HasWeight(const TensorRole& role) const {
  return Find(role) != nullptr || FindPackedInt(in_.tensors, HfTensorName(role)).has_value();
}

absl::StatusOr<std::string> OnnxBuilder::Initializer(const TensorRole& role) {
  const TensorEntry* e = Find(role);
  if (e == nullptr) return absl::NotFoundError(StrCat("tensor ", HfTensorName(role), " is missing"));
  if (!IsDenseFloat(e->info.dtype)) {
    return absl::InvalidArgumentError(StrCat("tensor ", e->name, ": ", Name(e->info.dtype), " (expected F32, F16 or BF16)"));
  }
  consumed_.insert(e->name);
  if (tensors_.Find(e->name) == nullptr) {
    auto source = e->info.dtype == ft_ ? e->source : MakeCastSource(e->source, e->info, ft_);
    QC_RETURN_IF_ERROR(tensors_.Add({e->name, TensorInfo{ft_, e->info.shape}, std::move(source), e->origin, {}}));
  }
  return e->name;
}

absl::StatusOr<std::string> OnnxBuilder::Linear(const std::string& name, const std::string& x, const TensorRole& role,
                                                std::optional<TensorRole> bias, std::string output) {
  const std::string weight = HfTensorName(role);
  std::string y;
  if (auto packed = FindPackedInt(in_.tensors, weight)) {
    QC_ASSIGN_OR_RETURN(y, PackedLinear(name, x, weight, *packed));
  } else {
    const TensorEntry* e = Find(role);
    if (e == nullptr) return absl::NotFoundError(StrCat("tensor ", weight, " is missing"));
    if (!IsDenseFloat(e->info.dtype) || e->info.shape.size() != 2) {
      return absl::InvalidArgumentError(StrCat("tensor ", e->name, ": ", Name(e->info.dtype), " ", ShapeToString(e->info.shape),
                                               " (expected an F32/F16/BF16 matrix or int4 pack-quantized weights)"));
    }
    consumed_.insert(e->name);
    const int64_t rows = e->info.shape[0], cols = e->info.shape[1];
    // [out, in] -> [in, out] (a head split with one head, transposed), then the graph's float type.
    std::shared_ptr<const TensorSource> source = MakeHeadSplitSource(e->source, e->info, 1, rows, 0, 0, true);
    if (e->info.dtype != ft_) source = MakeCastSource(std::move(source), TensorInfo{e->info.dtype, {cols, rows}}, ft_);
    const std::string init = role.role == Role::kEmbedding ? "lm_head.weight" : weight;  // a tied head
    QC_RETURN_IF_ERROR(tensors_.Add({init, TensorInfo{ft_, {cols, rows}}, std::move(source), e->origin, {}}));
    y = Node("MatMul", StrCat(name, "/MatMul"), {x, init});
  }
  if (bias) {
    QC_ASSIGN_OR_RETURN(std::string b, Initializer(*bias));
    y = Node("Add", StrCat(name, "/Add"), {y, b});
  }
  if (!output.empty()) graph_.nodes.back().outputs[0] = y = output;
  return y;
}

absl::StatusOr<std::string> OnnxBuilder::PackedLinear(const std::string& name, const std::string& x, const std::string& weight,
                                                      const PackedIntEntries& e) {
  if (!packed_config_) {
    QC_ASSIGN_OR_RETURN(packed_config_, PackedIntConfigOf(in_));
  }
  const PackedIntConfig& c = *packed_config_;
  QC_ASSIGN_OR_RETURN(auto shape, CheckPackedInt(weight, e, c));
  const auto [n, k] = shape;
  const int64_t block = c.group_size;
  if (c.bits != 4 || !c.symmetric || block < 16 || (block & (block - 1)) != 0 || k % block != 0) {
    return absl::InvalidArgumentError(
        StrCat("tensor ", weight, ": int", c.bits, c.symmetric ? "" : " asymmetric", " group ", block, " over ", k,
               " inputs; ONNX MatMulNBits here takes int4 symmetric groups of a power of two >= 16 dividing the input "
               "width (use --type int4-g32, as transformers.js q4 models do)"));
  }
  for (const TensorEntry* t : {e.packed, e.scale, e.shape}) consumed_.insert(t->name);
  const std::string b = StrCat(weight, "_Q4"), scales = StrCat(weight, "_scales");
  QC_RETURN_IF_ERROR(tensors_.Add({b, TensorInfo{DType::kU8, {n, k / block, block / 2}}, e.packed->source, e.packed->origin, {}}));
  auto scale_source = e.scale->info.dtype == ft_ ? e.scale->source : MakeCastSource(e.scale->source, e.scale->info, ft_);
  QC_RETURN_IF_ERROR(tensors_.Add({scales, TensorInfo{ft_, {n, k / block}}, std::move(scale_source), e.scale->origin, {}}));
  return Node("MatMulNBits", StrCat(name, "/MatMulNBits"), {x, b, scales},
              {{"K", k}, {"N", n}, {"bits", int64_t{4}}, {"block_size", block}, {"accuracy_level", accuracy_level_}},
              std::string(kMsDomain));
}

absl::StatusOr<std::string> OnnxBuilder::SwiGlu(const std::string& name, const std::string& x, const TensorRole& gate,
                                                const TensorRole& up, const TensorRole& down) {
  QC_ASSIGN_OR_RETURN(std::string g, Linear(StrCat(name, "/gate_proj"), x, gate));
  QC_ASSIGN_OR_RETURN(std::string u, Linear(StrCat(name, "/up_proj"), x, up));
  const std::string sig = Node("Sigmoid", StrCat(name, "/act_fn/Sigmoid"), {g});
  const std::string silu = Node("Mul", StrCat(name, "/act_fn/Mul"), {g, sig});
  const std::string prod = Node("Mul", StrCat(name, "/Mul"), {silu, u});
  return Linear(StrCat(name, "/down_proj"), prod, down);
}

std::string OnnxBuilder::RmsNorm(const std::string& name, const std::string& x, const std::string& gamma, double eps) {
  return Node("SimplifiedLayerNormalization", StrCat(name, "/LayerNorm"), {x, gamma},
              {{"axis", int64_t{-1}}, {"epsilon", static_cast<float>(eps)}, {"stash_type", int64_t{1}}});
}

}  // namespace quantc::passes
