// GGUF reader tests. Valid and corrupted files are built by hand with tests/testing/raw_gguf.h (not with
// formats/gguf), so the reader is checked against the layout of gguf-llamacpp.md §1; each validation
// rule gets a file that breaks it, with the exact code and a one-line message naming the file and the
// key or tensor. Round trips through the writer (single file and split sets) come last.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/gguf/reader.h"
#include "formats/gguf/writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/support/strings.h"
#include "tests/status_matchers.h"
#include "tests/testing/raw_gguf.h"

namespace quantc::formats::gguf {
namespace {

namespace fs = std::filesystem;
using ::quantc::testing::IsOk;
using ::quantc::testing::RawKv;
using ::quantc::testing::RawKvString;
using ::quantc::testing::RawKvStringArray;
using ::quantc::testing::RawKvU32;
using ::quantc::testing::RawLe;
using ::quantc::testing::RawStr;
using ::quantc::testing::RawTensorInfo;
using ::quantc::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

struct Info {
  std::string name;
  std::vector<int64_t> ne;  // ggml order
  uint32_t type;
  uint64_t offset;
};

// A file to build by hand; the defaults make a valid file, tests break one thing.
struct Spec {
  std::string magic = "GGUF";
  uint32_t version = 3;
  std::vector<std::string> kvs;  // encoded KV records
  std::optional<uint64_t> kv_count, tensor_count;
  std::vector<Info> infos;
  uint64_t alignment = 32;  // used for the padding only
  std::string data;         // the data section
};

std::string Build(const Spec& s) {
  std::string out = s.magic + RawLe<uint32_t>(s.version) + RawLe<uint64_t>(s.tensor_count.value_or(s.infos.size())) +
                    RawLe<uint64_t>(s.kv_count.value_or(s.kvs.size()));
  for (const std::string& kv : s.kvs) out += kv;
  for (const Info& t : s.infos) out += RawTensorInfo(t.name, t.ne, t.type, t.offset);
  out.resize((out.size() + s.alignment - 1) / s.alignment * s.alignment, '\0');
  return out + s.data;
}

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 13 + seed);
  return s;
}

// general.architecture, a u32, a string array; tensors w (F32, numpy [2, 4]) and q (Q8_0, numpy [32]).
Spec ValidSpec() {
  Spec s;
  s.kvs = {RawKvString("general.architecture", "llama"), RawKvU32("llama.block_count", 2),
           RawKvStringArray("tokenizer.ggml.tokens", {"a", "bc", ""})};
  s.infos = {{"w", {4, 2}, 0, 0}, {"q", {32}, 8, 32}};
  s.data = Pattern(32, 1) + Pattern(34, 2) + std::string(30, '\0');
  return s;
}

std::string BytesOf(const TensorSource& source) {
  auto span = *source.MappedBytes();
  return std::string(reinterpret_cast<const char*>(span.data()), span.size());
}

class GgufReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / StrCat("gguf_reader_", ::getpid(), "_", info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path WriteRaw(const std::string& name, const std::string& bytes) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  // Reads a hand-built file; expects failure with `code`, the file's path, `what`, and one line.
  void ExpectError(const Spec& spec, absl::StatusCode code, const std::string& what) {
    fs::path p = WriteRaw("bad.gguf", Build(spec));
    absl::StatusOr<Model> m = ReadGguf(p);
    EXPECT_THAT(m, StatusIs(code, AllOf(HasSubstr(p.string() + ": "), HasSubstr(what))));
    EXPECT_EQ(std::string(m.status().message()).find('\n'), std::string::npos);
  }

  fs::path dir_;
};

// ---- valid files ----------------------------------------------------------------------------------------

TEST_F(GgufReaderTest, ReadsHandBuiltFile) {
  fs::path p = WriteRaw("a.gguf", Build(ValidSpec()));
  absl::StatusOr<Model> m = ReadGguf(p);
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->layout, "gguf");
  EXPECT_EQ(m->source_path, p);
  ASSERT_EQ(m->metadata.size(), 3u);
  EXPECT_EQ(m->metadata.entries()[0].first, "general.architecture");
  EXPECT_EQ(m->metadata.Find("general.architecture")->Get<std::string>(), "llama");
  EXPECT_EQ(m->metadata.Find("llama.block_count")->type, MetaType::kU32);
  EXPECT_EQ(m->metadata.Find("llama.block_count")->Get<uint32_t>(), 2u);
  const MetaValue* tokens = m->metadata.Find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_TRUE(tokens->is_array);
  EXPECT_THAT(*tokens->GetArray<std::string>(), ElementsAre("a", "bc", ""));

  ASSERT_EQ(m->tensors.size(), 2u);
  const TensorEntry& w = m->tensors.entries()[0];
  EXPECT_EQ(w.name, "w");
  EXPECT_EQ(w.info.dtype, DType::kF32);
  EXPECT_THAT(w.info.shape, ElementsAre(2, 4));  // numpy order
  EXPECT_EQ(w.origin, "a.gguf");
  EXPECT_EQ(BytesOf(*w.source), Pattern(32, 1));
  const TensorEntry& q = m->tensors.entries()[1];
  EXPECT_EQ(q.info.dtype, DType::kQ8_0);
  EXPECT_THAT(q.info.shape, ElementsAre(32));
  EXPECT_EQ(BytesOf(*q.source), Pattern(34, 2));

  absl::StatusOr<GgufFile> f = ReadGgufFile(p);
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->version, 3u);
  EXPECT_EQ(f->alignment, 32u);
  EXPECT_EQ(f->data_offset % 32, 0u);
}

TEST_F(GgufReaderTest, AcceptsVersion2AndOtherAlignments) {
  Spec s = ValidSpec();
  s.version = 2;
  EXPECT_THAT(ReadGguf(WriteRaw("v2.gguf", Build(s))), IsOk());

  s = ValidSpec();
  s.kvs.push_back(RawKvU32("general.alignment", 64));
  s.alignment = 64;
  s.infos[1].offset = 64;
  s.data = Pattern(32, 1) + std::string(32, '\0') + Pattern(34, 2);  // last tensor unpadded: still inside
  absl::StatusOr<GgufFile> f = ReadGgufFile(WriteRaw("a64.gguf", Build(s)));
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->alignment, 64u);
  EXPECT_EQ(f->data_offset % 64, 0u);
  EXPECT_EQ(BytesOf(*f->tensors[1].source), Pattern(34, 2));
}

TEST_F(GgufReaderTest, VocabOnlyFileWithoutTensors) {
  Spec s;
  s.kvs = {RawKvString("general.architecture", "gpt2")};
  s.alignment = 1;  // no padding at all after the KVs: fine without tensors
  absl::StatusOr<Model> m = ReadGguf(WriteRaw("v.gguf", Build(s)));
  ASSERT_THAT(m, IsOk());
  EXPECT_TRUE(m->tensors.empty());
}

TEST_F(GgufReaderTest, EveryValueType) {
  Spec s;
  s.kvs = {RawKv("u8", 0, RawLe<uint8_t>(200)),        RawKv("i8", 1, RawLe<int8_t>(-5)),
           RawKv("u16", 2, RawLe<uint16_t>(65535)),    RawKv("i16", 3, RawLe<int16_t>(-300)),
           RawKv("i32", 5, RawLe<int32_t>(-7)),        RawKv("f32", 6, RawLe<float>(0.5f)),
           RawKv("bool", 7, RawLe<uint8_t>(1)),        RawKv("u64", 10, RawLe<uint64_t>(1ull << 40)),
           RawKv("i64", 11, RawLe<int64_t>(-1)),       RawKv("f64", 12, RawLe<double>(0.25)),
           RawKv("bools", 9, RawLe<uint32_t>(7) + RawLe<uint64_t>(2) + "\x01" + std::string(1, '\0')),
           RawKv("f32s", 9, RawLe<uint32_t>(6) + RawLe<uint64_t>(0))};
  absl::StatusOr<Model> m = ReadGguf(WriteRaw("t.gguf", Build(s)));
  ASSERT_THAT(m, IsOk());
  const Metadata& md = m->metadata;
  EXPECT_EQ(md.Find("u8")->Get<uint8_t>(), 200);
  EXPECT_EQ(md.Find("i8")->Get<int8_t>(), -5);
  EXPECT_EQ(md.Find("u16")->Get<uint16_t>(), 65535);
  EXPECT_EQ(md.Find("i16")->Get<int16_t>(), -300);
  EXPECT_EQ(md.Find("i32")->Get<int32_t>(), -7);
  EXPECT_EQ(md.Find("f32")->Get<float>(), 0.5f);
  EXPECT_EQ(md.Find("bool")->Get<bool>(), true);
  EXPECT_EQ(md.Find("u64")->Get<uint64_t>(), 1ull << 40);
  EXPECT_EQ(md.Find("i64")->Get<int64_t>(), -1);
  EXPECT_EQ(md.Find("f64")->Get<double>(), 0.25);
  EXPECT_THAT(*md.Find("bools")->GetArray<bool>(), ElementsAre(true, false));
  EXPECT_EQ(md.Find("bools")->type, MetaType::kBool);
  EXPECT_TRUE(md.Find("f32s")->is_array);
  EXPECT_EQ(md.Find("f32s")->size(), 0u);
}

// ---- corrupted files: one rule each ----------------------------------------------------------------------

TEST_F(GgufReaderTest, EveryTruncationIsAnError) {
  const std::string full = Build(ValidSpec());
  // Cutting anywhere before the end of the last tensor's data (the trailing padding is optional).
  const size_t needed = full.size() - 30;
  for (size_t n = 0; n < needed; ++n) {
    SCOPED_TRACE(n);
    fs::path p = WriteRaw("cut.gguf", full.substr(0, n));
    absl::StatusOr<Model> m = ReadGguf(p);
    ASSERT_THAT(m, StatusIs(absl::StatusCode::kDataLoss, HasSubstr(p.string() + ": ")));
    EXPECT_EQ(std::string(m.status().message()).find('\n'), std::string::npos);
  }
  EXPECT_THAT(ReadGguf(WriteRaw("cut.gguf", full.substr(0, needed))), IsOk());
}

TEST_F(GgufReaderTest, BadMagicAndVersions) {
  Spec s = ValidSpec();
  s.magic = "GGML";
  ExpectError(s, absl::StatusCode::kDataLoss, "bad magic 'GGML'");
  s = ValidSpec();
  s.version = 1;
  ExpectError(s, absl::StatusCode::kUnimplemented, "GGUF v1");
  s.version = 4;
  ExpectError(s, absl::StatusCode::kDataLoss, "unsupported GGUF version 4");
  s.version = 0x03000000;
  ExpectError(s, absl::StatusCode::kUnimplemented, "big-endian");
}

TEST_F(GgufReaderTest, LyingCounts) {
  Spec s = ValidSpec();
  s.kv_count = 1ull << 40;
  ExpectError(s, absl::StatusCode::kDataLoss, "key/value count 1099511627776 cannot fit");
  s = ValidSpec();
  s.tensor_count = 1ull << 62;
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor count 4611686018427387904 cannot fit");
  s = ValidSpec();
  s.kv_count = 4;  // one more than there are: the first tensor info is read as a KV, then garbage
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor #0 name: length 562949953421312 exceeds the limit");
  s = ValidSpec();
  s.kvs[0] = RawLe<uint64_t>(1ull << 33) + "general.architecture";
  ExpectError(s, absl::StatusCode::kDataLoss, "key #0: length 8589934592 exceeds the limit of 65535 bytes");
  s.kvs[0] = RawLe<uint64_t>(5000) + "general.architecture";  // key length past the end
  ExpectError(s, absl::StatusCode::kDataLoss, "key #0: length 5000 runs past the end");
  s = ValidSpec();
  s.kvs[2] = RawKv("tokenizer.ggml.tokens", 9, RawLe<uint32_t>(8) + RawLe<uint64_t>(1ull << 29));
  ExpectError(s, absl::StatusCode::kDataLoss,
              "key 'tokenizer.ggml.tokens': array of 536870912 string elements cannot fit");
  s = ValidSpec();
  s.kvs[0] = RawKv("general.architecture", 8, RawLe<uint64_t>(1000) + "llama");
  ExpectError(s, absl::StatusCode::kDataLoss, "key 'general.architecture': length 1000 runs past the end");
}

TEST_F(GgufReaderTest, BadKeys) {
  Spec s = ValidSpec();
  s.kvs.push_back(RawKvU32("llama.block_count", 3));
  ExpectError(s, absl::StatusCode::kDataLoss, "key 'llama.block_count' appears twice");
  s = ValidSpec();
  s.kvs.push_back(RawKvU32("", 3));
  ExpectError(s, absl::StatusCode::kDataLoss, "key #3 is empty");
  s = ValidSpec();
  s.kvs.push_back(RawKv("a.nested", 9, RawLe<uint32_t>(9) + RawLe<uint32_t>(4) + RawLe<uint64_t>(0)));
  ExpectError(s, absl::StatusCode::kDataLoss, "key 'a.nested': array of arrays");
  s = ValidSpec();
  s.kvs.push_back(RawKv("a.type", 13, RawLe<uint32_t>(0)));
  ExpectError(s, absl::StatusCode::kDataLoss, "key 'a.type': invalid value type 13");
  s = ValidSpec();
  s.kvs.push_back(RawKv("a.bool", 7, RawLe<uint8_t>(2)));
  ExpectError(s, absl::StatusCode::kDataLoss, "key 'a.bool': bool value 2");
}

TEST_F(GgufReaderTest, BadAlignment) {
  Spec s = ValidSpec();
  s.kvs.push_back(RawKvU32("general.alignment", 48));
  ExpectError(s, absl::StatusCode::kDataLoss, "alignment 48 is not a power of two");
  s = ValidSpec();
  s.kvs.push_back(RawKv("general.alignment", 5, RawLe<int32_t>(32)));
  ExpectError(s, absl::StatusCode::kDataLoss, "'general.alignment' must be a u32 scalar");
}

TEST_F(GgufReaderTest, BadTensorInfos) {
  Spec s = ValidSpec();
  s.infos[1].name = std::string(64, 'n');
  ExpectError(s, absl::StatusCode::kDataLoss, "name is 64 bytes, GGUF allows at most 63");
  s = ValidSpec();
  s.infos[1].name = "w";
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor 'w' appears twice");
  s = ValidSpec();
  s.infos[1].name = "";
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor #1 has an empty name");
  s = ValidSpec();
  s.infos[1].ne = {32, 1, 1, 1, 1};
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor 'q': 5 dims");
  s = ValidSpec();
  s.infos[0].ne = {4, -2};
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor 'w': ne[1] = -2 is negative");
  s = ValidSpec();
  s.infos[0].ne = {1ll << 40, 1ll << 40};
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor 'w': element count");
  s = ValidSpec();
  s.infos[1].ne = {16};
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor 'q': ne[0] = 16 is not a multiple of q8_0's block size 32");
  s = ValidSpec();
  s.infos[1].type = 4;  // Q4_2, removed
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor 'q': invalid ggml type 4");
  s.infos[1].type = 43;
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor 'q': invalid ggml type 43");
  s.infos[1].type = 9;  // Q8_1: a ggml type quantc has no DType for
  ExpectError(s, absl::StatusCode::kUnimplemented, "tensor 'q': ggml type q8_1 (9) is not supported");
}

TEST_F(GgufReaderTest, BadOffsets) {
  Spec s = ValidSpec();
  s.infos[1].offset = 48;
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor 'q': offset 48 is not a multiple of the alignment 32");
  s.infos[1].offset = 64;  // aligned but leaves a gap: llama.cpp rejects it
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor 'q': offset 64, expected 32");
  s = ValidSpec();
  s.infos[0].offset = 32;
  s.infos[1].offset = 0;
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor 'w': offset 32, expected 0");
  s = ValidSpec();
  s.data.resize(32 + 33);
  ExpectError(s, absl::StatusCode::kDataLoss, "tensor 'q': data");
}

TEST_F(GgufReaderTest, MissingFile) {
  EXPECT_THAT(ReadGguf(dir_ / "none.gguf"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("none.gguf")));
}

TEST_F(GgufReaderTest, RandomByteFlipsNeverCrash) {
  const std::string full = Build(ValidSpec());
  uint32_t state = 12345;
  for (int i = 0; i < 400; ++i) {
    std::string bytes = full;
    for (int k = 0; k < 3; ++k) {
      state = state * 1664525u + 1013904223u;
      bytes[(state >> 8) % bytes.size()] = static_cast<char>(state >> 24);
    }
    absl::StatusOr<Model> m = ReadGguf(WriteRaw("flip.gguf", bytes));
    if (!m.ok()) {
      EXPECT_THAT(std::string(m.status().message()), HasSubstr("flip.gguf: "));
    }
  }
}

// ---- through the writer ------------------------------------------------------------------------------------

TensorEntry MakeTensor(std::string name, DType dtype, Shape shape) {
  TensorInfo info{dtype, std::move(shape)};
  std::vector<uint8_t> bytes(info.byte_size());
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + name.size());
  return TensorEntry{std::move(name), std::move(info), std::make_shared<OwnedTensorSource>(std::move(bytes)), "test"};
}

Model SampleModel() {
  Model m;
  m.metadata.Set("general.architecture", MetaValue::String("llama"));
  m.metadata.Set("llama.block_count", MetaValue::U32(2));
  m.metadata.Set("llama.rope.freq_base", MetaValue::F32(10000.0f));
  m.metadata.Set("tokenizer.ggml.tokens", MetaValue::StringArray({"<s>", "a", "b"}));
  m.metadata.Set("tokenizer.ggml.scores", MetaValue::F32Array({0.0f, -1.5f, -2.5f}));
  m.metadata.Set("general.quantization_version", MetaValue::U32(2));
  for (TensorEntry e : {MakeTensor("token_embd.weight", DType::kF16, {3, 64}),
                        MakeTensor("blk.0.attn_q.weight", DType::kQ8_0, {64, 64}),
                        MakeTensor("blk.0.ffn_down.weight", DType::kQ4_K, {64, 256}),
                        MakeTensor("blk.0.attn_norm.weight", DType::kF32, {64}),
                        MakeTensor("blk.0.exps.weight", DType::kBF16, {2, 4, 64}),
                        MakeTensor("output.weight", DType::kMXFP4, {3, 64})}) {
    EXPECT_THAT(m.tensors.Add(std::move(e)), IsOk());
  }
  return m;
}

void ExpectSameModel(const Model& got, const Model& want) {
  ASSERT_EQ(got.metadata.size(), want.metadata.size());
  for (size_t i = 0; i < want.metadata.size(); ++i) {
    EXPECT_EQ(got.metadata.entries()[i].first, want.metadata.entries()[i].first);
    EXPECT_EQ(got.metadata.entries()[i].second.DebugString(100), want.metadata.entries()[i].second.DebugString(100));
  }
  ASSERT_EQ(got.tensors.size(), want.tensors.size());
  for (size_t i = 0; i < want.tensors.size(); ++i) {
    const TensorEntry& g = got.tensors.entries()[i];
    const TensorEntry& w = want.tensors.entries()[i];
    EXPECT_EQ(g.name, w.name);
    EXPECT_EQ(g.info.dtype, w.info.dtype) << w.name;
    EXPECT_EQ(g.info.shape, w.info.shape) << w.name;
    EXPECT_EQ(BytesOf(*g.source), BytesOf(*w.source)) << w.name;
  }
}

TEST_F(GgufReaderTest, RoundTripThroughWriter) {
  const Model want = SampleModel();
  ASSERT_THAT(WriteGguf(want, dir_ / "m.gguf", {}), IsOk());
  absl::StatusOr<Model> got = ReadGguf(dir_ / "m.gguf");
  ASSERT_THAT(got, IsOk());
  ExpectSameModel(*got, want);
  EXPECT_EQ(got->layout, "gguf");
}

TEST_F(GgufReaderTest, SplitSetReadFromFirstShard) {
  const Model want = SampleModel();
  GgufWriteOptions o;
  o.split_max_bytes = 3000;
  ASSERT_THAT(WriteGguf(want, dir_ / "m.gguf", o), IsOk());
  auto files = GgufOutputFiles(want, dir_ / "m.gguf", o);
  ASSERT_THAT(files, IsOk());
  ASSERT_GE(files->size(), 3u);
  absl::StatusOr<Model> got = ReadGguf(files->front());
  ASSERT_THAT(got, IsOk());
  ExpectSameModel(*got, want);  // split.* keys are not model metadata
  EXPECT_EQ(got->tensors.entries().back().origin, files->back().filename().string());

  EXPECT_THAT(ReadGguf((*files)[1]),
              StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr("is shard 2 of"), HasSubstr("-00001-of-"))));
  fs::remove(files->back());
  EXPECT_THAT(ReadGguf(files->front()),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr(files->front().string() + ": "), HasSubstr(files->back().string()),
                             HasSubstr("is missing"))));
}

TEST_F(GgufReaderTest, InconsistentSplitSets) {
  auto shard = [](uint16_t no, uint16_t count, int32_t total, const std::string& tensor) {
    Spec s;
    s.kvs = {RawKv("split.no", 2, RawLe<uint16_t>(no)), RawKv("split.count", 2, RawLe<uint16_t>(count)),
             RawKv("split.tensors.count", 5, RawLe<int32_t>(total))};
    s.infos = {{tensor, {8}, 0, 0}};
    s.data = Pattern(32, no);
    return Build(s);
  };
  fs::path first = WriteRaw("s-00001-of-00002.gguf", shard(0, 2, 2, "a"));
  WriteRaw("s-00002-of-00002.gguf", shard(1, 2, 2, "b"));
  absl::StatusOr<Model> m = ReadGguf(first);
  ASSERT_THAT(m, IsOk());
  EXPECT_TRUE(m->metadata.empty());
  EXPECT_EQ(m->tensors.size(), 2u);

  WriteRaw("s-00002-of-00002.gguf", shard(1, 2, 2, "a"));
  EXPECT_THAT(ReadGguf(first), StatusIs(absl::StatusCode::kDataLoss,
                                        AllOf(HasSubstr("s-00002-of-00002.gguf: tensor 'a' is also in"))));
  WriteRaw("s-00002-of-00002.gguf", shard(1, 2, 3, "b"));
  first = WriteRaw("s-00001-of-00002.gguf", shard(0, 2, 3, "a"));
  EXPECT_THAT(ReadGguf(first), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("split.tensors.count is 3")));
  WriteRaw("s-00002-of-00002.gguf", shard(0, 2, 2, "b"));
  first = WriteRaw("s-00001-of-00002.gguf", shard(0, 2, 2, "a"));
  EXPECT_THAT(ReadGguf(first),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("split.no 0 / split.count 2, expected 1")));
  // llama-gguf-split --merge leaves split.count = 0: a whole model, like a count of 1.
  for (uint16_t count : {0, 1}) {
    absl::StatusOr<Model> merged = ReadGguf(WriteRaw("merged.gguf", shard(0, count, 9, "a")));
    ASSERT_THAT(merged, IsOk());
    EXPECT_TRUE(merged->metadata.empty());
    EXPECT_EQ(merged->tensors.size(), 1u);
  }
  fs::path renamed = WriteRaw("renamed.gguf", shard(0, 2, 2, "a"));
  EXPECT_THAT(ReadGguf(renamed), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("renamed.gguf: split.count is 2")));
}

}  // namespace
}  // namespace quantc::formats::gguf
