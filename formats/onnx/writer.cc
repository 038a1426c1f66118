#include "formats/onnx/writer.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "onnx/onnx_pb.h"

namespace quantc::formats::onnx {
namespace fs = std::filesystem;

int OnnxDataType(DType dtype) {
  using P = ::onnx::TensorProto;
  switch (dtype) {
    case DType::kF32: return P::FLOAT;
    case DType::kU8: return P::UINT8;
    case DType::kI8: return P::INT8;
    case DType::kU16: return P::UINT16;
    case DType::kI16: return P::INT16;
    case DType::kI32: return P::INT32;
    case DType::kI64: return P::INT64;
    case DType::kBool: return P::BOOL;
    case DType::kF16: return P::FLOAT16;
    case DType::kF64: return P::DOUBLE;
    case DType::kU32: return P::UINT32;
    case DType::kU64: return P::UINT64;
    case DType::kBF16: return P::BFLOAT16;
    // Newer than the generated classes of ONNX 1.12 (a plain int32 field carries them).
    case DType::kF8E4M3: return 17;      // FLOAT8E4M3FN (IR 9)
    case DType::kF8E4M3FNUZ: return 18;
    case DType::kF8E5M2: return 19;
    case DType::kF8E5M2FNUZ: return 20;
    case DType::kU4: return 21;      // UINT4 (IR 10)
    case DType::kI4: return 22;      // INT4 (IR 10)
    case DType::kF4: return 23;      // FLOAT4E2M1 (IR 11)
    case DType::kF8E8M0: return 24;  // FLOAT8E8M0 (IR 12)
    default: return 0;
  }
}

namespace {

constexpr uint64_t kDataAlignment = 4096;
constexpr int64_t kIrVersion = 10;

// Checks that every name a node or graph output reads is defined before it is read, and that
// no name is defined twice. Messages name the file and the node or value.
absl::Status CheckGraph(const Model& model, const Graph& g, const fs::path& path) {
  const std::string file = path.string();
  if (g.empty()) return absl::InvalidArgumentError(StrCat(file, ": the model has no graph (run a lowering pass such as onnx-decoder)"));
  absl::flat_hash_set<std::string> defined;
  auto define = [&](const std::string& name, std::string_view what) -> absl::Status {
    if (name.empty()) return absl::OkStatus();
    if (!defined.insert(name).second) return absl::InvalidArgumentError(StrCat(file, ": ", what, ": '", name, "' is defined twice"));
    return absl::OkStatus();
  };
  for (const GraphValue& v : g.inputs) {
    if (OnnxDataType(v.dtype) == 0) return absl::InvalidArgumentError(StrCat(file, ": input '", v.name, "': dtype ", Name(v.dtype), " has no ONNX type"));
    QC_RETURN_IF_ERROR(define(v.name, "graph input"));
  }
  for (const GraphNode& n : g.nodes) {
    for (const std::string& in : n.inputs) {
      if (in.empty() || defined.contains(in)) continue;
      if (const TensorEntry* e = model.tensors.Find(in)) {  // an initializer, read for the first time
        if (OnnxDataType(e->info.dtype) == 0) {
          return absl::InvalidArgumentError(StrCat(file, ": tensor '", e->name, "': dtype ", Name(e->info.dtype), " has no ONNX type"));
        }
        defined.insert(in);
        continue;
      }
      return absl::InvalidArgumentError(StrCat(file, ": node '", n.name, "' (", n.op_type, ") reads '", in, "', which nothing before it defines"));
    }
    for (const std::string& out : n.outputs) QC_RETURN_IF_ERROR(define(out, StrCat("node '", n.name, "' output")));
  }
  for (const GraphValue& v : g.outputs) {
    if (!defined.contains(v.name)) return absl::InvalidArgumentError(StrCat(file, ": graph output '", v.name, "' is not computed"));
    if (OnnxDataType(v.dtype) == 0) return absl::InvalidArgumentError(StrCat(file, ": output '", v.name, "': dtype ", Name(v.dtype), " has no ONNX type"));
  }
  return absl::OkStatus();
}

void SetValueInfo(const GraphValue& v, ::onnx::ValueInfoProto* info) {
  info->set_name(v.name);
  auto* tensor = info->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(OnnxDataType(v.dtype));
  auto* shape = tensor->mutable_shape();
  for (const GraphDim& d : v.dims) {
    auto* dim = shape->add_dim();
    if (d.symbol.empty()) dim->set_dim_value(d.value);
    else dim->set_dim_param(d.symbol);
  }
}

void SetAttribute(const GraphAttribute& a, ::onnx::AttributeProto* out) {
  using A = ::onnx::AttributeProto;
  out->set_name(a.name);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          out->set_type(A::INT), out->set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          out->set_type(A::FLOAT), out->set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out->set_type(A::STRING), out->set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          out->set_type(A::INTS);
          for (int64_t x : v) out->add_ints(x);
        } else {
          out->set_type(A::FLOATS);
          for (float x : v) out->add_floats(x);
        }
      },
      a.value);
}

void AddEntry(::onnx::TensorProto* t, const std::string& key, const std::string& value) {
  auto* e = t->add_external_data();
  e->set_key(key);
  e->set_value(value);
}

uint64_t Aligned(uint64_t x) { return (x + kDataAlignment - 1) / kDataAlignment * kDataAlignment; }

// The table's tensors that `g` reads, in table order.
std::vector<const TensorEntry*> Initializers(const Model& model, const Graph& g) {
  absl::flat_hash_set<std::string> read;
  for (const GraphNode& n : g.nodes) read.insert(n.inputs.begin(), n.inputs.end());
  std::vector<const TensorEntry*> out;
  for (const TensorEntry& e : model.tensors.entries()) {
    if (read.contains(e.name)) out.push_back(&e);
  }
  return out;
}

}  // namespace

ExternalDataWriter::ExternalDataWriter(fs::path first_file, uint64_t max_file_bytes)
    : first_(std::move(first_file)), max_file_bytes_(max_file_bytes) {}
ExternalDataWriter::~ExternalDataWriter() = default;

absl::StatusOr<ExternalDataWriter::Location> ExternalDataWriter::Write(const TensorEntry& e, uint64_t bytes, std::string_view where,
                                                                     Progress* progress) {
  if (auto it = written_.find(e.name); it != written_.end()) return it->second;
  // A new file when this tensor would take the current one past the limit.
  if (file_ && file_->offset() > 0 && Aligned(file_->offset()) + bytes > max_file_bytes_) {
    QC_RETURN_IF_ERROR(file_->Close());
    file_.reset();
  }
  if (!file_) {
    fs::path p = first_;
    if (!files_.empty()) p += StrCat("_", files_.size());
    QC_ASSIGN_OR_RETURN(file_, OutputFile::Create(p));
    files_.push_back(p);
  }
  if (const uint64_t pad = Aligned(file_->offset()) - file_->offset(); pad > 0) {
    static const std::vector<uint8_t> zeros(kDataAlignment, 0);
    QC_RETURN_IF_ERROR(file_->Write(std::span(zeros.data(), pad)));
  }
  Location at{file_->path().filename().string(), file_->offset(), bytes};
  OutputFile* f = file_.get();
  QC_RETURN_IF_ERROR(StreamExactly(e, bytes, where, StrCat("'", e.name, "'"), [&](std::span<const uint8_t> chunk) {
    if (progress) progress->Advance(chunk.size());
    return f->Write(chunk);
  }));
  written_.emplace(e.name, at);
  return at;
}

absl::Status ExternalDataWriter::Close() {
  if (!file_) return absl::OkStatus();
  absl::Status s = file_->Close();
  file_.reset();
  return s;
}

absl::StatusOr<OnnxWriteResult> WriteOnnx(const Model& model, const Graph& g, const fs::path& path,
                                          const OnnxWriteOptions& options) {
  QC_RETURN_IF_ERROR(CheckGraph(model, g, path));
  ::onnx::ModelProto proto;
  proto.set_ir_version(kIrVersion);
  proto.set_producer_name(options.producer_name);
  if (!options.producer_version.empty()) proto.set_producer_version(options.producer_version);
  for (const auto& [domain, version] : g.opsets) {
    auto* op = proto.add_opset_import();
    op->set_domain(domain);
    op->set_version(version);
  }
  for (const auto& [key, value] : g.metadata) {
    auto* m = proto.add_metadata_props();
    m->set_key(key);
    m->set_value(value);
  }
  ::onnx::GraphProto* graph = proto.mutable_graph();
  graph->set_name(g.name);
  for (const GraphValue& v : g.inputs) SetValueInfo(v, graph->add_input());
  for (const GraphValue& v : g.outputs) SetValueInfo(v, graph->add_output());
  for (const GraphNode& n : g.nodes) {
    ::onnx::NodeProto* node = graph->add_node();
    node->set_op_type(n.op_type);
    node->set_name(n.name);
    if (!n.domain.empty()) node->set_domain(n.domain);
    for (const std::string& in : n.inputs) node->add_input(in);
    for (const std::string& out : n.outputs) node->add_output(out);
    for (const GraphAttribute& a : n.attributes) SetAttribute(a, node->add_attribute());
  }

  fs::path own_first = path;
  own_first += "_data";
  ExternalDataWriter own(own_first, options.max_data_file_bytes);
  ExternalDataWriter& data = options.shared_data ? *options.shared_data : own;
  const std::string where = path.string();
  for (const TensorEntry* entry : Initializers(model, g)) {
    const TensorEntry& e = *entry;
    QC_ASSIGN_OR_RETURN(const uint64_t bytes, CheckedByteSize(e.info));
    ::onnx::TensorProto* t = graph->add_initializer();
    t->set_name(e.name);
    t->set_data_type(OnnxDataType(e.info.dtype));
    for (int64_t d : e.info.shape) t->add_dims(d);
    const std::string quoted = StrCat("'", e.name, "'");
    if (bytes <= options.inline_max_bytes) {
      std::string* raw = t->mutable_raw_data();
      raw->reserve(bytes);
      QC_RETURN_IF_ERROR(StreamExactly(e, bytes, where, quoted, [&](std::span<const uint8_t> chunk) {
        raw->append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
        return absl::OkStatus();
      }));
    } else {
      QC_ASSIGN_OR_RETURN(auto at, data.Write(e, bytes, where, options.progress));
      t->set_data_location(::onnx::TensorProto::EXTERNAL);
      AddEntry(t, "location", at.file);
      AddEntry(t, "offset", std::to_string(at.offset));
      AddEntry(t, "length", std::to_string(at.length));
    }
    if (options.progress) options.progress->Advance(0, 1);
  }
  if (!options.shared_data) QC_RETURN_IF_ERROR(own.Close());

  std::string serialized;
  if (!proto.SerializeToString(&serialized)) {
    return absl::InvalidArgumentError(StrCat(where, ": the graph does not fit one protobuf message (2 GB)"));
  }
  QC_RETURN_IF_ERROR(OutputFile::WriteNew(path, [&](OutputFile& f) { return f.Write(serialized); }));
  return OnnxWriteResult{options.shared_data ? std::vector<fs::path>{} : own.files()};
}

}  // namespace quantc::formats::onnx
