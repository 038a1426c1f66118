#include "formats/onnx/reader.h"

#include <map>
#include <memory>

#include "absl/strings/numbers.h"
#include "formats/onnx/writer.h"
#include "lib/support/file_util.h"
#include "lib/support/mapped_file.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "onnx/onnx_pb.h"

namespace quantc::formats::onnx {
namespace fs = std::filesystem;

std::optional<DType> DTypeFromOnnx(int onnx_type) {
  static const std::map<int, DType> kTypes = [] {
    std::map<int, DType> m;
    for (int t = 0; t < static_cast<int>(DType::kCount); ++t) {
      const int o = OnnxDataType(static_cast<DType>(t));
      if (o != 0) m.emplace(o, static_cast<DType>(t));
    }
    return m;
  }();
  auto it = kTypes.find(onnx_type);
  if (it == kTypes.end()) return std::nullopt;
  return it->second;
}

namespace {

absl::StatusOr<GraphValue> ValueOf(const ::onnx::ValueInfoProto& v, const std::string& file) {
  GraphValue out;
  out.name = v.name();
  const auto& t = v.type().tensor_type();
  auto dtype = DTypeFromOnnx(t.elem_type());
  if (!dtype) return absl::InvalidArgumentError(StrCat(file, ": value '", v.name(), "': element type ", t.elem_type(), " is not supported"));
  out.dtype = *dtype;
  for (const auto& d : t.shape().dim()) {
    out.dims.push_back(d.has_dim_param() ? GraphDim::Symbol(d.dim_param()) : GraphDim::Fixed(d.dim_value()));
  }
  return out;
}

absl::StatusOr<GraphAttribute> AttributeOf(const ::onnx::AttributeProto& a, const std::string& where) {
  using A = ::onnx::AttributeProto;
  switch (a.type()) {
    case A::INT: return GraphAttribute{a.name(), a.i()};
    case A::FLOAT: return GraphAttribute{a.name(), a.f()};
    case A::STRING: return GraphAttribute{a.name(), a.s()};
    case A::INTS: return GraphAttribute{a.name(), std::vector<int64_t>(a.ints().begin(), a.ints().end())};
    case A::FLOATS: return GraphAttribute{a.name(), std::vector<float>(a.floats().begin(), a.floats().end())};
    default: return absl::UnimplementedError(StrCat(where, ": attribute '", a.name(), "' of type ", a.type(), " is not supported"));
  }
}

}  // namespace

absl::StatusOr<Graph> ReadOnnx(const fs::path& path, Model& model) {
  const std::string file = path.string();
  // Protobuf cannot hold more than 2 GiB: larger graphs keep their weights as external data.
  QC_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path, uint64_t{2} << 30));
  ::onnx::ModelProto proto;
  if (!proto.ParseFromString(bytes)) return absl::InvalidArgumentError(StrCat(file, ": not an ONNX model (protobuf parse failed)"));
  Graph g;
  g.name = path.stem().string();
  g.opsets.clear();
  for (const auto& op : proto.opset_import()) g.opsets.emplace_back(op.domain(), op.version());
  for (const auto& m : proto.metadata_props()) g.metadata.emplace_back(m.key(), m.value());
  const auto& graph = proto.graph();
  for (const auto& v : graph.input()) {
    QC_ASSIGN_OR_RETURN(GraphValue value, ValueOf(v, file));
    g.inputs.push_back(std::move(value));
  }
  for (const auto& v : graph.output()) {
    QC_ASSIGN_OR_RETURN(GraphValue value, ValueOf(v, file));
    g.outputs.push_back(std::move(value));
  }
  for (const auto& n : graph.node()) {
    GraphNode node{n.op_type(), n.domain(), n.name(), {n.input().begin(), n.input().end()}, {n.output().begin(), n.output().end()}, {}};
    for (const auto& a : n.attribute()) {
      QC_ASSIGN_OR_RETURN(GraphAttribute attr, AttributeOf(a, StrCat(file, ": node '", n.name(), "'")));
      node.attributes.push_back(std::move(attr));
    }
    g.nodes.push_back(std::move(node));
  }
  std::map<std::string, std::shared_ptr<const MappedFile>> mapped;
  for (const auto& t : graph.initializer()) {
    const std::string where = StrCat(file, ": tensor '", t.name(), "'");
    auto dtype = DTypeFromOnnx(t.data_type());
    if (!dtype) return absl::InvalidArgumentError(StrCat(where, ": data type ", t.data_type(), " is not supported"));
    TensorInfo info{*dtype, Shape(t.dims().begin(), t.dims().end())};
    QC_ASSIGN_OR_RETURN(const uint64_t size, CheckedByteSize(info));
    std::shared_ptr<const TensorSource> source;
    if (t.data_location() == ::onnx::TensorProto::EXTERNAL) {
      std::string location;
      uint64_t offset = 0, length = size;
      for (const auto& e : t.external_data()) {
        if (e.key() == "location") location = e.value();
        if ((e.key() == "offset" && !absl::SimpleAtoi(e.value(), &offset)) || (e.key() == "length" && !absl::SimpleAtoi(e.value(), &length))) {
          return absl::InvalidArgumentError(StrCat(where, ": external data ", e.key(), " '", e.value(), "' is not a byte count"));
        }
      }
      QC_ASSIGN_OR_RETURN(const fs::path external, ResolveInsideFolder(path.parent_path(), location, StrCat(where, ": external data location")));
      if (length != size) return absl::InvalidArgumentError(StrCat(where, ": external length ", length, " but ", size, " bytes expected"));
      auto& f = mapped[location];
      if (!f) {
        QC_ASSIGN_OR_RETURN(f, MappedFile::Open(external));
      }
      if (offset > f->size() || length > f->size() - offset) {
        return absl::InvalidArgumentError(StrCat(where, ": external data [", offset, ", +", length, ") past the end of ", location));
      }
      source = std::make_shared<MappedTensorSource>(f, offset, length);
    } else {
      if (t.raw_data().size() != size) {
        return absl::InvalidArgumentError(StrCat(where, ": ", t.raw_data().size(), " bytes of raw_data, ", size, " expected (only raw_data is read)"));
      }
      source = std::make_shared<OwnedTensorSource>(std::vector<uint8_t>(t.raw_data().begin(), t.raw_data().end()), file);
    }
    if (const TensorEntry* existing = model.tensors.Find(t.name())) {
      if (existing->info.dtype != info.dtype || existing->info.shape != info.shape) {
        return absl::AlreadyExistsError(StrCat(where, ": another file of the folder holds a different tensor of that name"));
      }
      continue;
    }
    QC_RETURN_IF_ERROR(model.tensors.Add({t.name(), info, std::move(source), file, {}}));
  }
  return g;
}

}  // namespace quantc::formats::onnx
