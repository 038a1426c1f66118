// GGUF writer tests. The expectations are independent of formats/gguf: one small file's exact bytes are
// spelled out by hand from gguf-llamacpp.md §1, and everything else is parsed back with the separate
// minimal parser in tests/testing/raw_gguf.h (contiguity, padding, dims order, KV encoding, split
// naming and split KVs). Acceptance by llama.cpp and gguf-py is checked outside CI (see the report of
// the change that added this file).
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "formats/gguf/writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/pattern_tensor.h"
#include "lib/support/output_dir.h"
#include "lib/support/strings.h"
#include "tests/status_matchers.h"
#include "tests/testing/raw_gguf.h"

namespace quantc::formats::gguf {
namespace {

namespace fs = std::filesystem;
using ::quantc::testing::IsOk;
using ::quantc::testing::ParseRawGguf;
using ::quantc::testing::RawGguf;
using ::quantc::testing::ReadFileBytes;
using ::quantc::testing::ReadRawGguf;
using ::quantc::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::string_literals;

using testing::MakeTensor;

std::string SourceBytes(const TensorEntry& e) {
  auto span = *e.source->MappedBytes();
  return std::string(reinterpret_cast<const char*>(span.data()), span.size());
}

// Yields `delta` bytes too many (>0) or too few (<0).
class WrongSizeSource final : public TensorSource {
 public:
  WrongSizeSource(size_t size, int delta) : bytes_(size + delta, 0x5A) {}
  absl::Status Stream(ByteSink sink) const override { return sink(bytes_); }
  std::string Describe() const override { return "wrong-size"; }

 private:
  std::vector<uint8_t> bytes_;
};

class GgufWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / StrCat("gguf_writer_", ::getpid(), "_", info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static Model ModelWith(std::vector<TensorEntry> tensors) {
    Model m;
    m.layout = "gguf";
    for (TensorEntry& e : tensors) EXPECT_THAT(m.tensors.Add(std::move(e)), IsOk());
    return m;
  }
  size_t FilesInDir() const {
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }

  fs::path dir_;
};

// ---- exact bytes --------------------------------------------------------------------------------------

TEST_F(GgufWriterTest, SmallFileHasExactHandComputedBytes) {
  Model m;
  m.metadata.Set("a.n", MetaValue::U32(7));
  m.metadata.Set("a.s", MetaValue::StringArray({"x", "yz"}));
  std::vector<float> values = {1, 2, 3, 4, 5, 6};
  std::vector<uint8_t> raw(24);
  std::memcpy(raw.data(), values.data(), 24);
  ASSERT_THAT(m.tensors.Add(TensorEntry{"t", TensorInfo{DType::kF32, {2, 3}},
                                        std::make_shared<OwnedTensorSource>(raw), "test"}),
              IsOk());
  ASSERT_THAT(WriteGguf(m, dir_ / "a.gguf", {}), IsOk());

  const std::string want =
      // [0, 24) header: magic, version 3, 1 tensor, 2 KVs
      "GGUF"s + "\x03\0\0\0"s + "\x01\0\0\0\0\0\0\0"s + "\x02\0\0\0\0\0\0\0"s +
      // [24, 43) "a.n": key length 3, key, type 4 (u32), value 7
      "\x03\0\0\0\0\0\0\0"s + "a.n" + "\x04\0\0\0"s + "\x07\0\0\0"s +
      // [43, 89) "a.s": key, type 9 (array), element type 8 (string), 2 elements, "x", "yz"
      "\x03\0\0\0\0\0\0\0"s + "a.s" + "\x09\0\0\0"s + "\x08\0\0\0"s + "\x02\0\0\0\0\0\0\0"s +
      "\x01\0\0\0\0\0\0\0"s + "x" + "\x02\0\0\0\0\0\0\0"s + "yz" +
      // [89, 130) tensor info: name "t", 2 dims, ne = {3, 2} (numpy [2, 3] reversed), type 0 (F32),
      // offset 0
      "\x01\0\0\0\0\0\0\0"s + "t" + "\x02\0\0\0"s + "\x03\0\0\0\0\0\0\0"s + "\x02\0\0\0\0\0\0\0"s +
      "\0\0\0\0"s + "\0\0\0\0\0\0\0\0"s +
      // [130, 160) zero padding to 32
      std::string(30, '\0') +
      // [160, 184) data: 1.0f .. 6.0f
      "\0\0\x80\x3f"s + "\0\0\0\x40"s + "\0\0\x40\x40"s + "\0\0\x80\x40"s + "\0\0\xa0\x40"s + "\0\0\xc0\x40"s +
      // [184, 192) the tensor's padding to 32
      std::string(8, '\0');
  ASSERT_EQ(want.size(), 192u);
  const std::string got = ReadFileBytes(dir_ / "a.gguf");
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "first difference at byte "
                           << std::distance(want.begin(),
                                            std::mismatch(want.begin(), want.end(), got.begin(), got.end()).first);
}

TEST_F(GgufWriterTest, NoTensorsStillPadsAfterHeader) {
  Model m;
  m.metadata.Set("k", MetaValue::Bool(true));
  ASSERT_THAT(WriteGguf(m, dir_ / "a.gguf", {}), IsOk());
  // 24 header + (8 + 1 + 4 + 1) KV = 38 -> padded to 64, as ggml's gguf_write does.
  const std::string got = ReadFileBytes(dir_ / "a.gguf");
  EXPECT_EQ(got, "GGUF"s + "\x03\0\0\0"s + std::string(8, '\0') + "\x01\0\0\0\0\0\0\0"s + "\x01\0\0\0\0\0\0\0"s +
                     "k" + "\x07\0\0\0"s + "\x01"s + std::string(26, '\0'));
}

// ---- layout ---------------------------------------------------------------------------------------------

TEST_F(GgufWriterTest, OffsetsAreContiguousAndPaddedWithZeros) {
  std::vector<TensorEntry> tensors = {MakeTensor("q", DType::kQ8_0, {2, 32}),  // 2 blocks x 34 = 68 bytes
                                      MakeTensor("h", DType::kF16, {3}),       // 6 bytes
                                      MakeTensor("f", DType::kF32, {1, 8})};   // 32 bytes
  const std::vector<std::string> data = {SourceBytes(tensors[0]), SourceBytes(tensors[1]), SourceBytes(tensors[2])};
  Model m = ModelWith(std::move(tensors));
  m.metadata.Set("general.architecture", MetaValue::String("llama"));
  ASSERT_THAT(WriteGguf(m, dir_ / "a.gguf", {}), IsOk());

  RawGguf g = ReadRawGguf(dir_ / "a.gguf");
  ASSERT_EQ(g.tensors.size(), 3u);
  EXPECT_EQ(g.data_offset % 32, 0u);
  EXPECT_EQ(g.file.substr(g.infos_end, g.data_offset - g.infos_end), std::string(g.data_offset - g.infos_end, '\0'));
  EXPECT_EQ(g.tensors[0].offset, 0u);
  EXPECT_EQ(g.tensors[1].offset, 96u);   // 68 padded to 96
  EXPECT_EQ(g.tensors[2].offset, 128u);  // 96 + 6 padded to 32
  EXPECT_EQ(g.tensors[0].type, 8u);      // Q8_0
  EXPECT_EQ(g.tensors[1].type, 1u);      // F16
  EXPECT_EQ(g.tensors[2].type, 0u);      // F32
  EXPECT_THAT(g.tensors[0].ne, ElementsAre(32, 2));
  EXPECT_THAT(g.tensors[1].ne, ElementsAre(3));
  EXPECT_THAT(g.tensors[2].ne, ElementsAre(8, 1));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(g.Data(g.tensors[i], data[i].size()), data[i]) << i;
  EXPECT_EQ(g.file.substr(g.data_offset + 68, 28), std::string(28, '\0'));
  EXPECT_EQ(g.file.substr(g.data_offset + 102, 26), std::string(26, '\0'));
  EXPECT_EQ(g.file.size(), g.data_offset + 160);  // the last tensor is padded too
}

TEST_F(GgufWriterTest, DimsAreReversedIntoGgmlOrder) {
  Model m = ModelWith({MakeTensor("w", DType::kF32, {2, 3, 4, 5}), MakeTensor("s", DType::kF32, {})});
  ASSERT_THAT(WriteGguf(m, dir_ / "a.gguf", {}), IsOk());
  RawGguf g = ReadRawGguf(dir_ / "a.gguf");
  EXPECT_THAT(g.tensors[0].ne, ElementsAre(5, 4, 3, 2));
  EXPECT_TRUE(g.tensors[1].ne.empty());  // a scalar: n_dims 0, like gguf-py
}

TEST_F(GgufWriterTest, EveryMetadataTypeEncodedInOrder) {
  Model m;
  m.metadata.Set("z.u8", MetaValue::U8(200));
  m.metadata.Set("y.i8", MetaValue::Scalar(MetaType::kI8, std::vector<int8_t>{-5}));
  m.metadata.Set("x.u16", MetaValue::U16(65535));
  m.metadata.Set("w.i16", MetaValue::Scalar(MetaType::kI16, std::vector<int16_t>{-300}));
  m.metadata.Set("v.u32", MetaValue::U32(4000000000u));
  m.metadata.Set("u.i32", MetaValue::I32(-7));
  m.metadata.Set("t.f32", MetaValue::F32(0.5f));
  m.metadata.Set("s.bool", MetaValue::Bool(false));
  m.metadata.Set("r.str", MetaValue::String("héllo"));
  m.metadata.Set("q.u64", MetaValue::U64(1ull << 40));
  m.metadata.Set("p.i64", MetaValue::Scalar(MetaType::kI64, std::vector<int64_t>{-(1ll << 40)}));
  m.metadata.Set("o.f64", MetaValue::Scalar(MetaType::kF64, std::vector<double>{0.25}));
  m.metadata.Set("n.bools", MetaValue::Array(MetaType::kBool, std::vector<bool>{true, false, true}));
  m.metadata.Set("m.i32s", MetaValue::I32Array({1, -2, 3}));
  m.metadata.Set("l.f32s", MetaValue::F32Array({}));
  ASSERT_THAT(WriteGguf(m, dir_ / "a.gguf", {}), IsOk());

  RawGguf g = ReadRawGguf(dir_ / "a.gguf");
  ASSERT_EQ(g.kvs.size(), 15u);
  std::vector<std::string> keys;
  for (const auto& kv : g.kvs) keys.push_back(kv.key);
  EXPECT_THAT(keys, ElementsAre("z.u8", "y.i8", "x.u16", "w.i16", "v.u32", "u.i32", "t.f32", "s.bool", "r.str",
                                "q.u64", "p.i64", "o.f64", "n.bools", "m.i32s", "l.f32s"));
  const std::vector<uint32_t> types = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12};
  for (size_t i = 0; i < types.size(); ++i) {
    EXPECT_EQ(g.kvs[i].type, types[i]) << g.kvs[i].key;
    EXPECT_EQ(g.kvs[i].count, 1u);
  }
  EXPECT_THAT(g.kvs[0].ints, ElementsAre(200));
  EXPECT_THAT(g.kvs[1].ints, ElementsAre(-5));
  EXPECT_THAT(g.kvs[2].ints, ElementsAre(65535));
  EXPECT_THAT(g.kvs[3].ints, ElementsAre(-300));
  EXPECT_THAT(g.kvs[4].ints, ElementsAre(4000000000ll));
  EXPECT_THAT(g.kvs[5].ints, ElementsAre(-7));
  EXPECT_THAT(g.kvs[6].floats, ElementsAre(0.5));
  EXPECT_THAT(g.kvs[7].ints, ElementsAre(0));
  EXPECT_THAT(g.kvs[8].strings, ElementsAre("héllo"));
  EXPECT_THAT(g.kvs[9].ints, ElementsAre(1ll << 40));
  EXPECT_THAT(g.kvs[10].ints, ElementsAre(-(1ll << 40)));
  EXPECT_THAT(g.kvs[11].floats, ElementsAre(0.25));
  EXPECT_EQ(g.kvs[12].type, 9u);
  EXPECT_EQ(g.kvs[12].elem_type, 7u);
  EXPECT_THAT(g.kvs[12].ints, ElementsAre(1, 0, 1));
  EXPECT_EQ(g.kvs[13].elem_type, 5u);
  EXPECT_THAT(g.kvs[13].ints, ElementsAre(1, -2, 3));
  EXPECT_EQ(g.kvs[14].elem_type, 6u);
  EXPECT_EQ(g.kvs[14].count, 0u);
}

// ---- alignment ------------------------------------------------------------------------------------------

TEST_F(GgufWriterTest, NonDefaultAlignmentIsWrittenAsU32AfterModelKeys) {
  Model m = ModelWith({MakeTensor("a", DType::kF32, {3}), MakeTensor("b", DType::kF32, {3})});
  m.metadata.Set("general.name", MetaValue::String("x"));
  GgufWriteOptions o;
  o.alignment = 64;
  ASSERT_THAT(WriteGguf(m, dir_ / "a.gguf", o), IsOk());
  RawGguf g = ReadRawGguf(dir_ / "a.gguf");
  ASSERT_EQ(g.kvs.size(), 2u);
  EXPECT_EQ(g.kvs[1].key, "general.alignment");
  EXPECT_EQ(g.kvs[1].type, 4u);
  EXPECT_THAT(g.kvs[1].ints, ElementsAre(64));
  EXPECT_EQ(g.data_offset % 64, 0u);
  EXPECT_EQ(g.tensors[1].offset, 64u);
  EXPECT_EQ(g.file.size(), g.data_offset + 128);
}

TEST_F(GgufWriterTest, AlignmentFromMetadataKeepsItsPosition) {
  Model m = ModelWith({MakeTensor("a", DType::kF32, {3}), MakeTensor("b", DType::kF32, {3})});
  m.metadata.Set("general.alignment", MetaValue::U32(16));
  m.metadata.Set("general.name", MetaValue::String("x"));
  ASSERT_THAT(WriteGguf(m, dir_ / "a.gguf", {}), IsOk());
  RawGguf g = ReadRawGguf(dir_ / "a.gguf");
  ASSERT_EQ(g.kvs.size(), 2u);
  EXPECT_EQ(g.kvs[0].key, "general.alignment");
  EXPECT_EQ(g.tensors[1].offset, 16u);

  // The option overrides the value in place.
  GgufWriteOptions o;
  o.alignment = 128;
  ASSERT_THAT(WriteGguf(m, dir_ / "b.gguf", o), IsOk());
  g = ReadRawGguf(dir_ / "b.gguf");
  ASSERT_EQ(g.kvs.size(), 2u);
  EXPECT_THAT(g.kvs[0].ints, ElementsAre(128));
  EXPECT_EQ(g.tensors[1].offset, 128u);

  // The default alignment is not written.
  Model plain = ModelWith({MakeTensor("a", DType::kF32, {3})});
  o.alignment = 32;
  ASSERT_THAT(WriteGguf(plain, dir_ / "c.gguf", o), IsOk());
  EXPECT_TRUE(ReadRawGguf(dir_ / "c.gguf").kvs.empty());
}

TEST_F(GgufWriterTest, BadAlignmentIsRejected) {
  Model m = ModelWith({MakeTensor("a", DType::kF32, {3})});
  GgufWriteOptions o;
  o.alignment = 48;
  EXPECT_THAT(WriteGguf(m, dir_ / "a.gguf", o),
              StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr("a.gguf"), HasSubstr("power of two"))));
  // llama.cpp 81ff7abe asserts (aborts) on a general.alignment that is not u32 (corrections.md item 11).
  m.metadata.Set("general.alignment", MetaValue::I32(32));
  EXPECT_THAT(WriteGguf(m, dir_ / "a.gguf", {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'general.alignment'"), HasSubstr("must be a u32"))));
  EXPECT_EQ(FilesInDir(), 0u);
}

// ---- validation: nothing is written --------------------------------------------------------------------

TEST_F(GgufWriterTest, InvalidTensorsAreRejectedBeforeWriting) {
  struct Case {
    std::string label;
    TensorEntry tensor;
    std::string message;
  };
  std::vector<Case> cases = {
      {"name too long", MakeTensor(std::string(64, 'n'), DType::kF32, {1}), "at most 63"},
      {"rank 5", MakeTensor("r5", DType::kF32, {1, 1, 1, 1, 2}), "at most 4"},
      {"zero dim", MakeTensor("z", DType::kF32, {0, 4}), "not positive"},
      {"ne0 not a block multiple", MakeTensor("k", DType::kQ4_K, {256, 128}),
       "not a multiple of q4_K's block size 256"},
      {"fp8", MakeTensor("f8", DType::kF8E4M3, {4}), "dtype F8_E4M3 has no GGUF tensor type"},
      {"u32", MakeTensor("u", DType::kU32, {4}), "dtype U32 has no GGUF tensor type"},
  };
  for (Case& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string name = c.tensor.name;
    Model m = ModelWith({MakeTensor("ok", DType::kF32, {4})});
    ASSERT_THAT(m.tensors.Add(std::move(c.tensor)), IsOk());
    absl::Status s = WriteGguf(m, dir_ / "a.gguf", {});
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                            AllOf(HasSubstr((dir_ / "a.gguf").string()), HasSubstr(StrCat("'", name.substr(0, 60))),
                                  HasSubstr(c.message))));
    EXPECT_EQ(FilesInDir(), 0u);
  }
  // 63 bytes is fine.
  Model m = ModelWith({MakeTensor(std::string(63, 'n'), DType::kF32, {1})});
  EXPECT_THAT(WriteGguf(m, dir_ / "ok.gguf", {}), IsOk());
}

TEST_F(GgufWriterTest, DuplicateTensorNameIsRejected) {
  Model m = ModelWith({MakeTensor("w", DType::kF32, {4})});
  m.tensors.mutable_entries().push_back(MakeTensor("w", DType::kF32, {2}));  // bypasses the table's check
  EXPECT_THAT(WriteGguf(m, dir_ / "a.gguf", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr("tensor 'w'"), HasSubstr("appears twice"))));
  EXPECT_EQ(FilesInDir(), 0u);
}

TEST_F(GgufWriterTest, InvalidMetadataIsRejectedBeforeWriting) {
  struct Case {
    std::string key;
    MetaValue value;
    std::string message;
  };
  std::vector<Case> cases = {
      {"", MetaValue::U32(1), "empty metadata key"},
      {"split.no", MetaValue::U16(0), "written by the GGUF writer"},
      {"a.nested", MetaValue::Array(MetaType::kArray, std::vector<uint32_t>{1}), "arrays of arrays"},
      {"a.mismatch", MetaValue::Scalar(MetaType::kU32, std::vector<int32_t>{1}), "declared u32 but holds i32"},
      {"a.two", MetaValue::Scalar(MetaType::kU32, std::vector<uint32_t>{1, 2}), "a scalar holding 2 values"},
  };
  for (Case& c : cases) {
    SCOPED_TRACE(c.key);
    Model m = ModelWith({MakeTensor("ok", DType::kF32, {4})});
    m.metadata.Set(c.key, c.value);
    EXPECT_THAT(WriteGguf(m, dir_ / "a.gguf", {}),
                StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr("a.gguf"), HasSubstr(c.message))));
    EXPECT_EQ(FilesInDir(), 0u);
  }
}

TEST_F(GgufWriterTest, SourceOfWrongSizeFailsAndLeavesNoFile) {
  for (int delta : {-1, 1}) {
    SCOPED_TRACE(delta);
    Model m = ModelWith({MakeTensor("ok", DType::kF32, {4})});
    ASSERT_THAT(m.tensors.Add(TensorEntry{"bad", TensorInfo{DType::kF32, {4}},
                                          std::make_shared<WrongSizeSource>(16, delta), "test"}),
                IsOk());
    EXPECT_THAT(WriteGguf(m, dir_ / "a.gguf", {}),
                StatusIs(absl::StatusCode::kInternal, AllOf(HasSubstr("a.gguf"), HasSubstr("tensor 'bad'"),
                                                            HasSubstr("expected 16"))));
    EXPECT_EQ(FilesInDir(), 0u);
  }
}

TEST_F(GgufWriterTest, RefusesToOverwrite) {
  { std::ofstream(dir_ / "a.gguf") << "keep"; }
  Model m = ModelWith({MakeTensor("ok", DType::kF32, {4})});
  EXPECT_THAT(WriteGguf(m, dir_ / "a.gguf", {}), Not(IsOk()));
  EXPECT_EQ(ReadFileBytes(dir_ / "a.gguf"), "keep");
}

// How a caller makes a single-file output atomic: write at AtomicOutput(kFile)'s staging path.
TEST_F(GgufWriterTest, WritesIntoAtomicFileStaging) {
  Model m = ModelWith({MakeTensor("a", DType::kF32, {8})});
  auto out = AtomicOutput::Begin(dir_ / "out.gguf", AtomicOutput::Kind::kFile, /*force=*/false);
  ASSERT_THAT(out, IsOk());
  ASSERT_THAT(WriteGguf(m, (*out)->staging(), {}), IsOk());
  EXPECT_FALSE(fs::exists(dir_ / "out.gguf"));
  ASSERT_THAT((*out)->Commit(), IsOk());
  out->reset();
  EXPECT_EQ(ReadRawGguf(dir_ / "out.gguf").tensors.size(), 1u);
  EXPECT_EQ(FilesInDir(), 1u);  // no staging file or lock left behind
}

// ---- split output ---------------------------------------------------------------------------------------

TEST_F(GgufWriterTest, SplitNamesKeysAndGreedyAssignment) {
  // Padded sizes 32, 32, 64, 32 with 64 bytes per shard -> [a b] [c] [d].
  std::vector<TensorEntry> tensors = {MakeTensor("a", DType::kF32, {8}), MakeTensor("b", DType::kF32, {2, 4}),
                                      MakeTensor("c", DType::kF32, {16}), MakeTensor("d", DType::kF16, {3})};
  std::vector<std::string> data;
  for (const auto& t : tensors) data.push_back(SourceBytes(t));
  Model m = ModelWith(std::move(tensors));
  m.metadata.Set("general.architecture", MetaValue::String("llama"));
  m.metadata.Set("llama.block_count", MetaValue::U32(2));
  GgufWriteOptions o;
  o.split_max_bytes = 64;
  auto files = GgufOutputFiles(m, dir_ / "model.gguf", o);
  ASSERT_THAT(files, IsOk());
  EXPECT_THAT(*files, ElementsAre(dir_ / "model-00001-of-00003.gguf", dir_ / "model-00002-of-00003.gguf",
                                  dir_ / "model-00003-of-00003.gguf"));
  ASSERT_THAT(WriteGguf(m, dir_ / "model.gguf", o), IsOk());
  EXPECT_FALSE(fs::exists(dir_ / "model.gguf"));
  EXPECT_EQ(FilesInDir(), 3u);

  RawGguf s1 = ReadRawGguf(dir_ / "model-00001-of-00003.gguf");
  std::vector<std::string> keys;
  for (const auto& kv : s1.kvs) keys.push_back(kv.key);
  EXPECT_THAT(keys, ElementsAre("general.architecture", "llama.block_count", "split.no", "split.tensors.count",
                                "split.count"));  // llama-gguf-split's order
  EXPECT_EQ(s1.Find("split.no")->type, 2u);  // u16
  EXPECT_THAT(s1.Find("split.no")->ints, ElementsAre(0));
  EXPECT_EQ(s1.Find("split.count")->type, 2u);
  EXPECT_THAT(s1.Find("split.count")->ints, ElementsAre(3));
  EXPECT_EQ(s1.Find("split.tensors.count")->type, 5u);  // i32
  EXPECT_THAT(s1.Find("split.tensors.count")->ints, ElementsAre(4));
  ASSERT_EQ(s1.tensors.size(), 2u);
  EXPECT_EQ(s1.tensors[0].name, "a");
  EXPECT_EQ(s1.tensors[1].name, "b");
  EXPECT_EQ(s1.tensors[1].offset, 32u);
  EXPECT_EQ(s1.Data(s1.tensors[1], 32), data[1]);

  for (int i : {2, 3}) {
    SCOPED_TRACE(i);
    RawGguf s = ReadRawGguf(dir_ / StrCat("model-0000", i, "-of-00003.gguf"));
    ASSERT_EQ(s.kvs.size(), 3u);  // later shards carry only the split keys
    EXPECT_EQ(s.kvs[0].key, "split.no");
    EXPECT_THAT(s.kvs[0].ints, ElementsAre(i - 1));
    EXPECT_EQ(s.kvs[1].key, "split.tensors.count");
    EXPECT_THAT(s.kvs[1].ints, ElementsAre(4));
    EXPECT_EQ(s.kvs[2].key, "split.count");
    EXPECT_THAT(s.kvs[2].ints, ElementsAre(3));
    ASSERT_EQ(s.tensors.size(), 1u);
    EXPECT_EQ(s.tensors[0].offset, 0u);
    EXPECT_EQ(s.data_offset % 32, 0u);
    EXPECT_EQ(s.Data(s.tensors[0], data[i].size()), data[i]);
  }
}

TEST_F(GgufWriterTest, SplitOfOneShardAndNonDefaultAlignment) {
  Model m = ModelWith({MakeTensor("a", DType::kF32, {8}), MakeTensor("b", DType::kF32, {8})});
  GgufWriteOptions o;
  o.split_max_bytes = 1;  // below any tensor: one tensor per shard
  o.alignment = 64;
  ASSERT_THAT(WriteGguf(m, dir_ / "m", o), IsOk());  // a stem without .gguf works too
  RawGguf s2 = ReadRawGguf(dir_ / "m-00002-of-00002.gguf");
  ASSERT_EQ(s2.kvs.size(), 4u);  // later shards need the alignment to be read correctly
  EXPECT_EQ(s2.kvs[0].key, "general.alignment");
  EXPECT_EQ(s2.data_offset % 64, 0u);

  o = {};
  o.split_max_bytes = 1u << 30;
  ASSERT_THAT(WriteGguf(m, dir_ / "one.gguf", o), IsOk());
  RawGguf s = ReadRawGguf(dir_ / "one-00001-of-00001.gguf");
  EXPECT_THAT(s.Find("split.count")->ints, ElementsAre(1));
  EXPECT_EQ(s.tensors.size(), 2u);
}

TEST_F(GgufWriterTest, FailedSplitRemovesEveryShard) {
  Model m = ModelWith({MakeTensor("a", DType::kF32, {8})});
  ASSERT_THAT(m.tensors.Add(TensorEntry{"bad", TensorInfo{DType::kF32, {4}},
                                        std::make_shared<WrongSizeSource>(16, 3), "test"}),
              IsOk());
  GgufWriteOptions o;
  o.split_max_bytes = 1;
  EXPECT_THAT(WriteGguf(m, dir_ / "m.gguf", o),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("m-00002-of-00002.gguf")));
  EXPECT_EQ(FilesInDir(), 0u);
}

}  // namespace
}  // namespace quantc::formats::gguf
