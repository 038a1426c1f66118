// ONNX writer tests. The file is parsed back with ONNX's own generated protobuf classes (the
// reference parser, not formats/onnx code), and external data is read at the offsets the
// TensorProtos name. That onnxruntime loads and runs what the writer writes is checked by
// tools/validators/check_onnx.py (ctest onnx_runs_in_onnxruntime_and_transformers_js).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "formats/onnx/writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/support/strings.h"
#include "onnx/onnx_pb.h"
#include "tests/status_matchers.h"
#include "tests/testing/pattern_tensor.h"
#include "tests/testing/raw_gguf.h"

namespace quantc::formats::onnx {
namespace {

namespace fs = std::filesystem;
using ::quantc::testing::IsOk;
using ::quantc::testing::MakeTensor;
using ::quantc::testing::ReadFileBytes;
using ::quantc::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class OnnxWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / StrCat("onnx_writer_test_", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // y = MatMul(x, w) + b over a [1, 4] input; w big enough to go external, b small enough to stay inline.
  Model SmallModel() {
    Model m;
    (void)m.tensors.Add(MakeTensor("w", DType::kF32, {4, 1024}));  // 16 KiB
    (void)m.tensors.Add(MakeTensor("w2", DType::kF16, {1024, 3000}));  // 6 MB
    (void)m.tensors.Add(MakeTensor("b", DType::kF32, {8}));
    Graph& g = m.graphs.emplace_back();
    g.opsets = {{"", 21}, {"com.microsoft", 1}};
    g.inputs.push_back({"x", DType::kF32, {GraphDim::Symbol("batch_size"), GraphDim::Fixed(4)}});
    g.Add("MatMul", "mm", {"x", "w"}, {"y0"});
    g.Add("Add", "add", {"y0", "b"}, {"y"}, {{"note", std::string("s")}, {"ints", std::vector<int64_t>{1, -2}},
                                                    {"f", 0.5f}, {"i", int64_t{7}}});
    g.outputs.push_back({"y", DType::kF32, {GraphDim::Symbol("batch_size"), GraphDim::Fixed(1024)}});
    return m;
  }

  ::onnx::ModelProto Parse(const fs::path& p) {
    ::onnx::ModelProto proto;
    EXPECT_TRUE(proto.ParseFromString(ReadFileBytes(p)));
    return proto;
  }

  static std::string External(const ::onnx::TensorProto& t, const std::string& key) {
    for (const auto& e : t.external_data()) {
      if (e.key() == key) return e.value();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(OnnxWriterTest, WritesHeaderGraphAndExternalData) {
  Model m = SmallModel();
  auto result = WriteOnnx(m, m.graphs[0], dir_ / "model.onnx", {});
  ASSERT_THAT(result.status(), IsOk());
  ASSERT_EQ(result->data_files.size(), 1u);
  EXPECT_EQ(result->data_files[0].filename(), "model.onnx_data");  // transformers.js's name

  ::onnx::ModelProto proto = Parse(dir_ / "model.onnx");
  EXPECT_EQ(proto.ir_version(), 10);
  ASSERT_EQ(proto.opset_import_size(), 2);
  EXPECT_EQ(proto.opset_import(0).domain(), "");
  EXPECT_EQ(proto.opset_import(0).version(), 21);
  EXPECT_EQ(proto.opset_import(1).domain(), "com.microsoft");
  const auto& g = proto.graph();
  ASSERT_EQ(g.node_size(), 2);
  EXPECT_EQ(g.node(1).op_type(), "Add");
  ASSERT_EQ(g.node(1).attribute_size(), 4);
  EXPECT_EQ(g.node(1).attribute(0).type(), ::onnx::AttributeProto::STRING);
  EXPECT_THAT(g.node(1).attribute(1).ints(), ElementsAre(1, -2));
  EXPECT_EQ(g.node(1).attribute(2).f(), 0.5f);
  EXPECT_EQ(g.node(1).attribute(3).i(), 7);
  ASSERT_EQ(g.input_size(), 1);
  const auto& shape = g.input(0).type().tensor_type().shape();
  EXPECT_EQ(shape.dim(0).dim_param(), "batch_size");
  EXPECT_EQ(shape.dim(1).dim_value(), 4);

  const std::string data = ReadFileBytes(dir_ / "model.onnx_data");
  ASSERT_EQ(g.initializer_size(), 2);  // w2 is not read by this graph
  for (const auto& t : g.initializer()) {
    const TensorEntry* e = m.tensors.Find(t.name());
    ASSERT_NE(e, nullptr);
    const auto bytes = *e->source->MappedBytes();
    const std::string want(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    EXPECT_EQ(t.data_type(), OnnxDataType(e->info.dtype));
    EXPECT_THAT(std::vector<int64_t>(t.dims().begin(), t.dims().end()), ::testing::ContainerEq(e->info.shape));
    if (t.name() == "b") {  // 32 bytes: inline
      EXPECT_EQ(t.data_location(), ::onnx::TensorProto::DEFAULT);
      EXPECT_EQ(t.raw_data(), want);
      continue;
    }
    EXPECT_EQ(t.data_location(), ::onnx::TensorProto::EXTERNAL);
    EXPECT_EQ(External(t, "location"), "model.onnx_data");
    const uint64_t offset = std::stoull(External(t, "offset")), length = std::stoull(External(t, "length"));
    EXPECT_EQ(offset % 4096, 0u) << t.name();
    EXPECT_EQ(length, want.size());
    EXPECT_EQ(data.substr(offset, length), want) << t.name();
  }
}

TEST_F(OnnxWriterTest, SplitsDataFilesAtTheLimit) {
  Model m = SmallModel();
  m.graphs[0].Add("MatMul", "mm2", {"y", "w2"}, {"z"});
  OnnxWriteOptions o;
  o.max_data_file_bytes = 1 << 20;  // w (16 KiB) fits the first file; w2 (6 MB) gets its own
  auto result = WriteOnnx(m, m.graphs[0], dir_ / "model_q4.onnx", o);
  ASSERT_THAT(result.status(), IsOk());
  ASSERT_EQ(result->data_files.size(), 2u);
  EXPECT_EQ(result->data_files[1].filename(), "model_q4.onnx_data_1");
  ::onnx::ModelProto proto = Parse(dir_ / "model_q4.onnx");
  EXPECT_EQ(External(proto.graph().initializer(1), "location"), "model_q4.onnx_data_1");
  EXPECT_EQ(External(proto.graph().initializer(1), "offset"), "0");
}

TEST_F(OnnxWriterTest, RefusesUndefinedNamesAndUnspellableTypes) {
  Model m = SmallModel();
  m.graphs[0].nodes[1].inputs[1] = "bias";
  EXPECT_THAT(WriteOnnx(m, m.graphs[0], dir_ / "a.onnx", {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a.onnx: node 'add' (Add) reads 'bias'")));
  Model q = SmallModel();
  (void)q.tensors.Add(MakeTensor("blocks", DType::kQ4_K, {256}));
  q.graphs[0].nodes[1].inputs[1] = "blocks";
  EXPECT_THAT(WriteOnnx(q, q.graphs[0], dir_ / "b.onnx", {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tensor 'blocks': dtype q4_K has no ONNX type")));
  Model empty;
  EXPECT_THAT(WriteOnnx(empty, Graph{}, dir_ / "c.onnx", {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the model has no graph")));
  Model dup = SmallModel();
  dup.graphs[0].nodes[1].outputs[0] = "y0";
  EXPECT_THAT(WriteOnnx(dup, dup.graphs[0], dir_ / "d.onnx", {}).status(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("defined twice")));
  EXPECT_FALSE(fs::exists(dir_ / "a.onnx"));
}

TEST_F(OnnxWriterTest, GraphsShareOneDataFileAndWriteOnlyWhatTheyRead) {
  Model m = SmallModel();
  Graph second = m.graphs[0];
  second.nodes.pop_back();  // reads only x and w
  second.outputs = {{"y0", DType::kF32, {GraphDim::Fixed(1), GraphDim::Fixed(1024)}}};
  ExternalDataWriter shared(dir_ / "model.onnx.data", 1ull << 31);
  OnnxWriteOptions o;
  o.shared_data = &shared;
  ASSERT_THAT(WriteOnnx(m, m.graphs[0], dir_ / "a.onnx", o).status(), IsOk());
  ASSERT_THAT(WriteOnnx(m, second, dir_ / "b.onnx", o).status(), IsOk());
  ASSERT_THAT(shared.Close(), IsOk());
  EXPECT_EQ(shared.files().size(), 1u);
  // w2 is read by neither graph: not written. w is written once and referenced twice.
  const ::onnx::ModelProto a = Parse(dir_ / "a.onnx"), b = Parse(dir_ / "b.onnx");
  ASSERT_EQ(a.graph().initializer_size(), 2);
  ASSERT_EQ(b.graph().initializer_size(), 1);
  EXPECT_EQ(b.graph().initializer(0).name(), "w");
  EXPECT_EQ(External(a.graph().initializer(0), "location"), "model.onnx.data");
  EXPECT_EQ(External(b.graph().initializer(0), "offset"), External(a.graph().initializer(0), "offset"));
  EXPECT_EQ(fs::file_size(dir_ / "model.onnx.data"), 16384u);
}

TEST_F(OnnxWriterTest, NeverOverwrites) {
  Model m = SmallModel();
  ASSERT_THAT(WriteOnnx(m, m.graphs[0], dir_ / "model.onnx", {}).status(), IsOk());
  EXPECT_FALSE(WriteOnnx(m, m.graphs[0], dir_ / "model.onnx", {}).ok());
}

}  // namespace
}  // namespace quantc::formats::onnx
