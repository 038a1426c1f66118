// Hostile inputs across the readers (docs/security.md lists each class with its test): files a
// checkpoint names inside itself may not escape the model folder, even through symlinks; numbers
// in files bound what they make us allocate; nesting and sizes that would crash or exhaust memory
// later are refused up front. Each case is one clear error naming the file and the key or tensor.
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>

#include "formats/gguf/imatrix.h"
#include "formats/gguf/writer.h"
#include "formats/hf/hf_folder.h"
#include "formats/onnx/reader.h"
#include "formats/safetensors/reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/arch/model_spec.h"
#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/tokenizer/tokenizer.h"
#include "onnx/onnx_pb.h"
#include "tests/status_matchers.h"
#include "tests/testing/raw_gguf.h"

namespace quantc {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::RawKvStringArray;
using testing::RawKvU32;
using testing::RawLe;
using testing::RawTensorInfo;
using testing::StatusIs;

// A safetensors file holding one F32 tensor `name` of 2 values.
std::string OneTensorFile(const std::string& name) {
  const std::string header = "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return s + header + std::string(8, '\0');
}

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("quantc_hostile_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path Write(const fs::path& p, std::string_view bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  // A sparse file of `bytes` (no disk used): size limits must refuse it before reading it all.
  fs::path Sparse(const fs::path& p, uint64_t bytes) {
    fs::create_directories(p.parent_path());
    int fd = ::open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(bytes)), 0);
    ::close(fd);
    return p;
  }
  // A two-shard checkpoint folder `model` whose shards are written by `shard`.
  fs::path IndexedModel(const std::string& second_shard_name = "b.safetensors") {
    const fs::path m = dir_ / "model";
    Write(m / "config.json", "{}");
    Write(m / "model.safetensors.index.json",
          R"({"weight_map": {"x": "a.safetensors", "y": ")" + second_shard_name + R"("}})");
    Write(m / "a.safetensors", OneTensorFile("x"));
    return m;
  }
  fs::path dir_;
};

TEST_F(HostileInputTest, ShardSymlinkOutOfTheFolderIsRefused) {
  const fs::path m = IndexedModel();
  Write(dir_ / "elsewhere" / "secret.safetensors", OneTensorFile("y"));
  fs::create_symlink(dir_ / "elsewhere" / "secret.safetensors", m / "b.safetensors");
  EXPECT_THAT(formats::safetensors::ReadSafetensorsCheckpoint(m),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("b.safetensors"),
                                        HasSubstr("outside"))));
  // A link that stays inside the folder is fine.
  fs::remove(m / "b.safetensors");
  Write(m / "sub" / "b.safetensors", OneTensorFile("y"));
  fs::create_symlink("sub/b.safetensors", m / "b.safetensors");
  EXPECT_TRUE(formats::safetensors::ReadSafetensorsCheckpoint(m).ok());
}

TEST_F(HostileInputTest, HuggingFaceCacheSnapshotsMayLinkIntoTheirBlobs) {
  // models--org--name/snapshots/REV/x -> ../../blobs/SHA, as huggingface_hub lays out a download.
  const fs::path repo = dir_ / "models--org--name", snap = repo / "snapshots" / "rev";
  Write(repo / "blobs" / "sha1", "{}");
  Write(repo / "blobs" / "sha2", OneTensorFile("x"));
  fs::create_directories(snap);
  fs::create_symlink("../../blobs/sha1", snap / "config.json");
  fs::create_symlink("../../blobs/sha2", snap / "model.safetensors");
  auto model = formats::ReadHfFolder(snap);
  EXPECT_TRUE(model.ok()) << model.status();
  // ... but not past the repository.
  Write(dir_ / "other" / "notes.txt", "private");
  fs::create_symlink(dir_ / "other" / "notes.txt", snap / "notes.txt");
  EXPECT_THAT(formats::ReadHfFolder(snap), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("notes.txt")));
}

TEST_F(HostileInputTest, ShardListedTwiceUnderTwoNamesIsRefused) {
  const fs::path m = IndexedModel("c.safetensors");
  fs::create_symlink("a.safetensors", m / "c.safetensors");
  EXPECT_THAT(formats::safetensors::ReadSafetensorsCheckpoint(m),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("are the same file")));
}

TEST_F(HostileInputTest, CompanionSymlinkOutOfTheFolderIsRefused) {
  const fs::path m = dir_ / "model";
  Write(m / "config.json", "{}");
  Write(m / "model.safetensors", OneTensorFile("x"));
  Write(dir_ / "home" / ".ssh" / "id_rsa", "key");
  fs::create_symlink(dir_ / "home" / ".ssh" / "id_rsa", m / "tokenizer.model");  // would be copied into outputs
  EXPECT_THAT(formats::ReadHfFolder(m), StatusIs(absl::StatusCode::kInvalidArgument,
                                                 ::testing::AllOf(HasSubstr("tokenizer.model"), HasSubstr("outside"))));
}

TEST_F(HostileInputTest, DeeplyNestedJsonIsRefusedBeforeParsing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const fs::path m = dir_ / "model";
  Write(m / "config.json", "{\"a\": " + deep + "}");
  Write(m / "model.safetensors", OneTensorFile("x"));
  EXPECT_THAT(formats::ReadHfFolder(m), StatusIs(absl::StatusCode::kDataLoss,
                                                 ::testing::AllOf(HasSubstr("config.json"), HasSubstr("nested deeper"))));
  EXPECT_THAT(tokenizer::Tokenizer::FromJson("{\"model\": " + deep + "}", "", "tokenizer.json"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("nested deeper")));
  // Brackets inside strings do not count; ordinary depth passes.
  EXPECT_TRUE(CheckJsonNesting("{\"a\": \"" + std::string(1000, '[') + "\\\"\", \"b\": [[1]]}", "x").ok());
}

TEST_F(HostileInputTest, SideFilesOverTheSizeLimitAreRefusedUnread) {
  const fs::path m = dir_ / "model";
  Sparse(m / "config.json", uint64_t{1} << 30);  // "a 1 GB string"
  Write(m / "model.safetensors", OneTensorFile("x"));
  EXPECT_THAT(formats::ReadHfFolder(m), StatusIs(absl::StatusCode::kInvalidArgument,
                                                 ::testing::AllOf(HasSubstr("config.json"), HasSubstr("limit"))));
  Sparse(dir_ / "tok" / "tokenizer.json", uint64_t{1} << 30);
  EXPECT_THAT(tokenizer::Tokenizer::FromFile(dir_ / "tok" / "tokenizer.json"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tokenizer.json")));
  // A device has no size: the limit is counted while reading.
  EXPECT_THAT(ReadFileToString("/dev/zero", 1 << 20), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/dev/zero")));
}

TEST(HostileConfig, AbsurdOrWrongTypedSizesNameTheKey) {
  const nlohmann::ordered_json base = {{"model_type", "llama"}, {"vocab_size", 10}, {"hidden_size", 8},
                                       {"intermediate_size", 16}, {"num_hidden_layers", 1}, {"num_attention_heads", 2}};
  ASSERT_TRUE(arch::ParseModelSpec(base).ok());
  const std::vector<std::pair<nlohmann::ordered_json, std::string>> cases = {
      {{{"vocab_size", int64_t{1} << 40}}, "vocab_size"},
      {{{"hidden_size", 0}}, "hidden_size"},
      {{{"hidden_size", -8}}, "hidden_size"},
      {{{"num_attention_heads", 3}}, "does not divide hidden_size"},
      {{{"num_hidden_layers", 1e30}}, "must be an integer"},
      {{{"intermediate_size", 18446744073709551615ull}}, "intermediate_size"},
      {{{"vocab_size", "10"}}, "vocab_size"},
      {{{"head_dim", 1 << 20}}, "head_dim"},
      {{{"num_key_value_heads", 0}}, "num_key_value_heads"},
      {{{"n_routed_experts", 4}, {"num_experts_per_tok", 9}, {"moe_intermediate_size", 8}}, "num_experts_per_tok"},
      {{{"kv_lora_rank", 4}, {"qk_nope_head_dim", 4}, {"qk_rope_head_dim", 1 << 30}, {"v_head_dim", 4}}, "qk_rope_head_dim"},
      // found by config_fuzz: a float past int64 reached the GGUF metadata's get<int64_t>()
      {{{"max_position_embeddings", 4.05556e+106}}, "max_position_embeddings"},
      {{{"max_position_embeddings", "4096"}}, "max_position_embeddings"},
      {{{"max_position_embeddings", int64_t{1} << 40}}, "max_position_embeddings"},
  };
  for (const auto& [patch, key] : cases) {
    nlohmann::ordered_json c = base;
    c.update(patch);
    EXPECT_THAT(arch::ParseModelSpec(c), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(key))) << patch.dump();
  }
}

class HostileOnnxTest : public HostileInputTest {
 protected:
  // model.onnx with one external F32 [2] initializer at `location` with the given offset.
  fs::path OnnxModel(const std::string& location, const std::string& offset = "0") {
    ::onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(17);
    ::onnx::TensorProto* t = m.mutable_graph()->add_initializer();
    t->set_name("w");
    t->set_data_type(::onnx::TensorProto::FLOAT);
    t->add_dims(2);
    t->set_data_location(::onnx::TensorProto::EXTERNAL);
    for (auto [k, v] : {std::pair<std::string, std::string>{"location", location}, {"offset", offset}}) {
      auto* e = t->add_external_data();
      e->set_key(k), e->set_value(v);
    }
    return Write(dir_ / "onnx" / "model.onnx", m.SerializeAsString());
  }
};

TEST_F(HostileOnnxTest, ExternalDataMustStayBesideTheModel) {
  Write(dir_ / "onnx" / "w.bin", std::string(8, '\0'));
  {
    quantc::Model model;
    EXPECT_TRUE(formats::onnx::ReadOnnx(OnnxModel("w.bin"), model).ok());
  }
  Write(dir_ / "secret.bin", std::string(8, '\0'));
  fs::create_symlink(dir_ / "secret.bin", dir_ / "onnx" / "link.bin");
  for (const std::string& location : {std::string("../secret.bin"), (dir_ / "secret.bin").string(), std::string("link.bin")}) {
    quantc::Model model;
    EXPECT_THAT(formats::onnx::ReadOnnx(OnnxModel(location), model),
                StatusIs(absl::StatusCode::kInvalidArgument, ::testing::AllOf(HasSubstr("tensor 'w'"), HasSubstr(location))))
        << location;
  }
}

TEST_F(HostileOnnxTest, ExternalOffsetsAreNumbersInsideTheFile) {
  Write(dir_ / "onnx" / "w.bin", std::string(8, '\0'));
  for (const char* offset : {"abc", "-1", "18446744073709551615", "99999999999999999999999"}) {
    quantc::Model model;
    EXPECT_THAT(formats::onnx::ReadOnnx(OnnxModel("w.bin", offset), model), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tensor 'w'")))
        << offset;
  }
}

TEST_F(HostileOnnxTest, GraphsOverProtobufsLimitAreRefusedUnread) {
  quantc::Model model;
  EXPECT_THAT(formats::onnx::ReadOnnx(Sparse(dir_ / "big.onnx", (uint64_t{2} << 30) + 1), model),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::AllOf(HasSubstr("big.onnx"), HasSubstr("limit"))));
}

// llama-imatrix files feed the quantizers' weights (in_sum2 / counts): types, presence and values
// are checked where they are read.
class HostileImatrixTest : public HostileInputTest {
 protected:
  ImportanceMatrix Valid() {
    ImportanceMatrix im;
    im.datasets = {"calib.txt"};
    im.chunk_count = 2, im.chunk_size = 64;
    im.entries["blk.0.ffn_down.weight"] = {4, 1, {1, 2, 3, 4}, {128}};
    return im;
  }
  absl::StatusOr<ImportanceMatrix> RoundTrip(const ImportanceMatrix& im) {
    const fs::path p = dir_ / "imatrix.gguf";
    fs::remove(p);
    QC_RETURN_IF_ERROR(formats::gguf::WriteImatrix(im, p));
    return formats::gguf::ReadImatrix(p);
  }
};

TEST_F(HostileImatrixTest, ValuesThatWouldPoisonTheQuantizerAreRefused) {
  ASSERT_TRUE(RoundTrip(Valid()).ok());
  ImportanceMatrix im = Valid();
  im.entries["blk.0.ffn_down.weight"].counts = {-1};
  EXPECT_THAT(RoundTrip(im), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("blk.0.ffn_down.weight.counts")));
  im = Valid();
  im.entries["blk.0.ffn_down.weight"].in_sum2[2] = std::nanf("");
  EXPECT_THAT(RoundTrip(im), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("blk.0.ffn_down.weight.in_sum2")));
}

// Found by tests/fuzz/imatrix_fuzz: a tensor with a dimension of 0 holds no values, and reading it
// passed an empty vector's null data() to memcpy, undefined behaviour (UBSan). quantc's writer
// refuses such shapes, so the file is built by hand.
TEST_F(HostileImatrixTest, TensorsWithoutValuesAreRead) {
  std::string file = "GGUF" + RawLe<uint32_t>(3) + RawLe<uint64_t>(2) + RawLe<uint64_t>(3) +
                     RawKvStringArray("imatrix.datasets", {"calib.txt"}) + RawKvU32("imatrix.chunk_count", 2) +
                     RawKvU32("imatrix.chunk_size", 64) +
                     RawTensorInfo("w.counts", {1, 0}, /*F32*/ 0, 0) + RawTensorInfo("w.in_sum2", {4, 0}, 0, 0);
  file.resize((file.size() + 31) / 32 * 32, '\0');  // the (empty) data section starts aligned
  absl::StatusOr<ImportanceMatrix> im = formats::gguf::ReadImatrix(Write(dir_ / "empty.imatrix.gguf", file));
  ASSERT_TRUE(im.ok()) << im.status();
  const ImportanceEntry* e = im->Find("w");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->n_per_row, 4);
  EXPECT_EQ(e->n_mat, 0);
  EXPECT_TRUE(e->in_sum2.empty());
  EXPECT_TRUE(e->counts.empty());
}

TEST_F(HostileImatrixTest, MissingOrWrongTypedKeysAndTensorsNameThem) {
  auto write = [&](const std::function<void(quantc::Model&)>& edit) {
    quantc::Model m;
    m.layout = "gguf";
    m.metadata.Set("imatrix.datasets", MetaValue::StringArray({"calib.txt"}));
    m.metadata.Set("imatrix.chunk_count", MetaValue::U32(2));
    m.metadata.Set("imatrix.chunk_size", MetaValue::U32(64));
    std::vector<uint8_t> four(16, 0);
    EXPECT_TRUE(m.tensors.Add({"w.in_sum2", {DType::kF32, {4}}, std::make_shared<OwnedTensorSource>(four), ""}).ok());
    edit(m);
    const fs::path p = dir_ / "bad.imatrix.gguf";
    fs::remove(p);
    EXPECT_TRUE(formats::gguf::WriteGguf(m, p, {}).ok());
    return formats::gguf::ReadImatrix(p);
  };
  EXPECT_THAT(write([](quantc::Model&) {}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'w.counts' is missing")));
  EXPECT_THAT(write([](quantc::Model& m) { m.metadata.Set("imatrix.chunk_size", MetaValue::String("64")); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("imatrix.chunk_size")));
  EXPECT_THAT(write([](quantc::Model& m) { m.metadata.Set("imatrix.datasets", MetaValue::U32(1)); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("imatrix.datasets")));
  EXPECT_THAT(write([](quantc::Model& m) { m.metadata.Erase("imatrix.chunk_count"); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("imatrix.chunk_count")));
}

}  // namespace
}  // namespace quantc
