// Reader tests: every validation rule gets a small hand-written bad file (exact code + a message that
// names the file and tensor), and the fixtures (written by Python's safetensors) read as expected.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "formats/safetensors/reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/support/strings.h"
#include "tests/status_matchers.h"

namespace quantc::formats::safetensors {
namespace {

namespace fs = std::filesystem;
using ::quantc::testing::IsOk;
using ::quantc::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const fs::path kTestdata = QUANTC_TESTDATA_DIR;

std::string Le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// {"dtype":..,"shape":..,"data_offsets":[b,e]} as the JSON text of one tensor entry.
std::string Entry(std::string_view dtype, std::string_view shape, uint64_t begin, uint64_t end) {
  return absl::StrFormat(R"({"dtype":"%s","shape":%s,"data_offsets":[%d,%d]})", dtype, shape, begin, end);
}

class SafetensorsReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           StrCat("st_reader_", ::getpid(), "_", info->test_suite_name(), "_", info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path WriteRaw(const std::string& name, std::string_view bytes) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  // u64 LE header length (or `length`), the header text, then `data`.
  fs::path WriteFile(const std::string& name, std::string_view header, std::string_view data = "",
                     std::optional<uint64_t> length = std::nullopt) {
    return WriteRaw(name, StrCat(Le64(length.value_or(header.size())), header, data));
  }
  // A file whose header is `{<body>}` and whose data buffer has `data_size` bytes.
  absl::StatusOr<SafetensorsFile> Read(std::string_view body, size_t data_size) {
    return ReadSafetensorsFile(WriteFile("t.safetensors", StrCat("{", body, "}"), std::string(data_size, 'x')));
  }

  fs::path dir_;
};

// ---- file-level errors ----------------------------------------------------------------------------------

TEST_F(SafetensorsReaderTest, FileShorterThanEightBytes) {
  fs::path p = WriteRaw("short.safetensors", "abc");
  EXPECT_THAT(ReadSafetensorsFile(p), StatusIs(absl::StatusCode::kDataLoss,
                                               AllOf(HasSubstr("short.safetensors"), HasSubstr("shorter than"))));
  EXPECT_THAT(ReadSafetensorsFile(WriteRaw("empty.safetensors", "")),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("empty.safetensors")));
}

TEST_F(SafetensorsReaderTest, HeaderLengthBeyondFile) {
  fs::path p = WriteFile("t.safetensors", "{}", "", /*length=*/100);
  EXPECT_THAT(ReadSafetensorsFile(p), StatusIs(absl::StatusCode::kDataLoss,
                                               AllOf(HasSubstr("t.safetensors"), HasSubstr("header length 100"),
                                                     HasSubstr("runs past the end"))));
  // The largest possible length must not wrap around in the bounds arithmetic.
  EXPECT_THAT(ReadSafetensorsFile(WriteFile("u.safetensors", "{}", "", UINT64_MAX)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("u.safetensors")));
}

TEST_F(SafetensorsReaderTest, HeaderOverHundredMegabytes) {
  fs::path p = WriteFile("t.safetensors", "{}", "", /*length=*/100'000'001);
  EXPECT_THAT(ReadSafetensorsFile(p),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("t.safetensors"), HasSubstr("100000001"), HasSubstr("100000000"))));
}

TEST_F(SafetensorsReaderTest, HeaderNotJson) {
  fs::path p = WriteFile("t.safetensors", R"({"w": )");
  EXPECT_THAT(ReadSafetensorsFile(p), StatusIs(absl::StatusCode::kDataLoss,
                                               AllOf(HasSubstr("t.safetensors"), HasSubstr("not valid JSON"))));
  // Trailing garbage after the object (only spaces may follow).
  EXPECT_THAT(ReadSafetensorsFile(WriteFile("u.safetensors", "{} x")),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("u.safetensors"), HasSubstr("not valid JSON"))));
  // Invalid UTF-8 inside a string.
  EXPECT_THAT(ReadSafetensorsFile(WriteFile("v.safetensors", "{\"\xff\":1}")),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("v.safetensors"), HasSubstr("not valid JSON"))));
}

TEST_F(SafetensorsReaderTest, HeaderNotAnObjectOrNotStartingWithBrace) {
  EXPECT_THAT(ReadSafetensorsFile(WriteFile("a.safetensors", "[1, 2]  ")),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("a.safetensors"), HasSubstr("does not start with '{'"))));
  // nlohmann would accept leading whitespace; the format does not.
  EXPECT_THAT(ReadSafetensorsFile(WriteFile("b.safetensors", " {}     ")),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("does not start with '{'")));
  EXPECT_THAT(ReadSafetensorsFile(WriteFile("c.safetensors", "")),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("c.safetensors"), HasSubstr("'{'"))));
}

TEST_F(SafetensorsReaderTest, DuplicateTensorName) {
  std::string body = StrCat(R"("w":)", Entry("F32", "[1]", 0, 4), R"(,"w":)", Entry("F32", "[1]", 4, 8));
  EXPECT_THAT(Read(body, 8), StatusIs(absl::StatusCode::kDataLoss,
                                      AllOf(HasSubstr("t.safetensors"), HasSubstr("duplicate key 'w'"))));
}

TEST_F(SafetensorsReaderTest, DuplicateFieldInsideTensorEntry) {
  std::string body = R"("w":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]})";
  EXPECT_THAT(Read(body, 4), StatusIs(absl::StatusCode::kDataLoss,
                                      AllOf(HasSubstr("t.safetensors"), HasSubstr("'dtype'"), HasSubstr("'w'"))));
}

TEST_F(SafetensorsReaderTest, UnknownDtype) {
  EXPECT_THAT(Read(StrCat(R"("w":)", Entry("F7_E3M3", "[1]", 0, 1)), 1),
              StatusIs(absl::StatusCode::kUnimplemented,
                       AllOf(HasSubstr("t.safetensors"), HasSubstr("tensor 'w'"), HasSubstr("'F7_E3M3'"))));
}

TEST_F(SafetensorsReaderTest, MalformedTensorEntry) {
  EXPECT_THAT(Read(R"("w":[1,2])", 0),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("t.safetensors"), HasSubstr("tensor 'w'"))));
  EXPECT_THAT(Read(R"("w":{"shape":[1],"data_offsets":[0,4]})", 4),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("tensor 'w'"), HasSubstr("dtype"))));
  EXPECT_THAT(Read(R"("w":{"dtype":7,"shape":[1],"data_offsets":[0,4]})", 4),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("tensor 'w'"), HasSubstr("dtype"))));
  EXPECT_THAT(Read(StrCat(R"("":)", Entry("F32", "[1]", 0, 4)), 4),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("t.safetensors"), HasSubstr("empty name"))));
}

TEST_F(SafetensorsReaderTest, ShapeNotListOfNonNegativeIntegers) {
  for (std::string_view shape : {R"("2")", "[-1]", "[1.5]", R"(["2"])", "[null]", "[[2]]", "{}",
                                 "[9223372036854775808]"}) {
    SCOPED_TRACE(shape);
    EXPECT_THAT(Read(StrCat(R"("w":)", Entry("F32", shape, 0, 4)), 4),
                StatusIs(absl::StatusCode::kDataLoss,
                         AllOf(HasSubstr("t.safetensors"), HasSubstr("tensor 'w'"), HasSubstr("shape"))));
  }
  EXPECT_THAT(Read(R"("w":{"dtype":"F32","data_offsets":[0,4]})", 4),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("tensor 'w'"), HasSubstr("shape"))));
}

TEST_F(SafetensorsReaderTest, ElementCountOverflow) {
  // 2^32 * 2^32 elements overflow int64.
  EXPECT_THAT(Read(StrCat(R"("w":)", Entry("U8", "[4294967296,4294967296]", 0, 4)), 4),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("t.safetensors"), HasSubstr("tensor 'w'"), HasSubstr("overflow"))));
  // 2^62 F64 elements fit int64 but their byte size does not fit 64 bits.
  EXPECT_THAT(Read(StrCat(R"("w":)", Entry("F64", "[4611686018427387904]", 0, 4)), 4),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("tensor 'w'"), HasSubstr("F64"))));
}

TEST_F(SafetensorsReaderTest, ShapeTimesDtypeMustEqualSpan) {
  EXPECT_THAT(Read(StrCat(R"("w":)", Entry("F32", "[2]", 0, 4)), 4),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("t.safetensors"), HasSubstr("tensor 'w'"),
                                                          HasSubstr("needs 8 bytes"), HasSubstr("span 4"))));
  // Sub-byte types: 3 F4 elements do not fill whole bytes; 4 F4 -> 2 bytes; 4 F6 -> 3 bytes.
  EXPECT_THAT(Read(StrCat(R"("w":)", Entry("F4", "[3]", 0, 2)), 2),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("tensor 'w'"), HasSubstr("F4"))));
  EXPECT_THAT(Read(StrCat(R"("w":)", Entry("F4", "[2,2]", 0, 1)), 1),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("tensor 'w'"), HasSubstr("needs 2 bytes"))));
  EXPECT_THAT(Read(StrCat(R"("w":)", Entry("F4", "[2,2]", 0, 2)), 2), IsOk());
  EXPECT_THAT(Read(StrCat(R"("w":)", Entry("F6_E2M3", "[4]", 0, 3)), 3), IsOk());
}

TEST_F(SafetensorsReaderTest, DataOffsetsNotAPair) {
  for (std::string_view offsets : {"[0]", "[0,4,8]", "[-1,4]", R"(["0","4"])", "[0,4.0]", "4", "null"}) {
    SCOPED_TRACE(offsets);
    std::string body = StrCat(R"("w":{"dtype":"F32","shape":[1],"data_offsets":)", offsets, "}");
    EXPECT_THAT(Read(body, 4), StatusIs(absl::StatusCode::kDataLoss,
                                        AllOf(HasSubstr("t.safetensors"), HasSubstr("tensor 'w'"),
                                              HasSubstr("data_offsets"))));
  }
  EXPECT_THAT(Read(R"("w":{"dtype":"F32","shape":[1]})", 4),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("tensor 'w'"), HasSubstr("data_offsets"))));
  // begin > end
  EXPECT_THAT(Read(StrCat(R"("w":)", Entry("F32", "[0]", 8, 4)), 8),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("tensor 'w'"), HasSubstr("[8, 4]"))));
}

TEST_F(SafetensorsReaderTest, SpansOverlap) {
  std::string body = StrCat(R"("a":)", Entry("F32", "[2]", 0, 8), R"(,"b":)", Entry("F32", "[2]", 4, 12));
  EXPECT_THAT(Read(body, 12), StatusIs(absl::StatusCode::kDataLoss,
                                       AllOf(HasSubstr("t.safetensors"), HasSubstr("tensor 'b'"),
                                             HasSubstr("overlap tensor 'a'"))));
  // Two tensors on the very same bytes.
  body = StrCat(R"("a":)", Entry("F32", "[1]", 0, 4), R"(,"b":)", Entry("I32", "[1]", 0, 4));
  EXPECT_THAT(Read(body, 4), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("overlap")));
}

TEST_F(SafetensorsReaderTest, SpansLeaveGap) {
  std::string body = StrCat(R"("a":)", Entry("F32", "[1]", 0, 4), R"(,"b":)", Entry("F32", "[1]", 8, 12));
  EXPECT_THAT(Read(body, 12), StatusIs(absl::StatusCode::kDataLoss,
                                       AllOf(HasSubstr("t.safetensors"), HasSubstr("tensor 'b'"),
                                             HasSubstr("gap"))));
  // The first tensor must start at 0.
  EXPECT_THAT(Read(StrCat(R"("a":)", Entry("F32", "[1]", 4, 8)), 8),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("tensor 'a'"), HasSubstr("gap"))));
}

TEST_F(SafetensorsReaderTest, SpansRunPastDataOrLeaveTrailingBytes) {
  EXPECT_THAT(Read(StrCat(R"("a":)", Entry("F32", "[2]", 0, 8)), 4),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("t.safetensors"), HasSubstr("tensor 'a'"),
                                                          HasSubstr("run past the end"))));
  EXPECT_THAT(Read(StrCat(R"("a":)", Entry("F32", "[1]", 0, 4)), 8),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("t.safetensors"), HasSubstr("cover 4 bytes"), HasSubstr("has 8"))));
  // No tensors but data bytes.
  EXPECT_THAT(Read("", 3), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("cover 0 bytes")));
}

TEST_F(SafetensorsReaderTest, MetadataValuesMustBeStrings) {
  EXPECT_THAT(Read(R"("__metadata__":{"format":"pt","n":1})", 0),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("t.safetensors"), HasSubstr("__metadata__"), HasSubstr("'n'"))));
  EXPECT_THAT(Read(R"("__metadata__":["pt"])", 0),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("t.safetensors"), HasSubstr("__metadata__"))));
}

// ---- valid edge cases ------------------------------------------------------------------------------------

TEST_F(SafetensorsReaderTest, ReadsEdgeCases) {
  // Out-of-order header, a scalar, an empty tensor, padding spaces, an ignored unknown field.
  std::string header = StrCat(
      R"({"__metadata__":{"format":"pt","k":"v"},"b":)", Entry("I32", "[2]", 4, 12), R"(,"a":)",
      Entry("F32", "[]", 0, 4), R"(,"e":)", Entry("BF16", "[0,3]", 12, 12),
      R"(,"z":{"dtype":"U8","shape":[1],"data_offsets":[12,13],"extra":1}})", "      ");
  std::string data = "AAAABBBBCCCCD";
  auto file = ReadSafetensorsFile(WriteFile("ok.safetensors", header, data));
  ASSERT_THAT(file, IsOk());
  EXPECT_EQ(file->path, dir_ / "ok.safetensors");
  EXPECT_THAT(file->metadata, ElementsAre(std::pair<const std::string, std::string>("format", "pt"),
                                          std::pair<const std::string, std::string>("k", "v")));
  ASSERT_EQ(file->tensors.size(), 4u);
  std::vector<std::string> names;
  for (const auto& t : file->tensors) names.push_back(t.name);
  EXPECT_THAT(names, ElementsAre("a", "b", "e", "z"));  // data-offset order
  EXPECT_EQ(file->tensors[0].info.dtype, DType::kF32);
  EXPECT_TRUE(file->tensors[0].info.shape.empty());
  EXPECT_EQ(file->tensors[1].info.shape, (Shape{2}));
  EXPECT_EQ(file->tensors[2].info.shape, (Shape{0, 3}));
  EXPECT_EQ(file->tensors[1].origin, "ok.safetensors");
  auto bytes = ReadAll(*file->tensors[1].source, 8);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ(std::string(bytes->begin(), bytes->end()), "BBBBCCCC");
  auto empty = ReadAll(*file->tensors[2].source, 0);
  ASSERT_THAT(empty, IsOk());
  EXPECT_TRUE(empty->empty());
}

TEST_F(SafetensorsReaderTest, ReadsEmptyHeaderAndNullMetadata) {
  auto file = ReadSafetensorsFile(WriteFile("e.safetensors", "{}      "));
  ASSERT_THAT(file, IsOk());
  EXPECT_TRUE(file->tensors.empty());
  EXPECT_TRUE(file->metadata.empty());
  EXPECT_THAT(Read(R"("__metadata__":null)", 0), IsOk());
}

TEST_F(SafetensorsReaderTest, MissingFileIsNotFound) {
  EXPECT_THAT(ReadSafetensorsFile(dir_ / "nope.safetensors"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope.safetensors")));
}

// ---- checkpoints and the index ---------------------------------------------------------------------------

class SafetensorsIndexTest : public SafetensorsReaderTest {
 protected:
  // Shard `name` holding F32 scalars with the given names (each 4 bytes).
  void WriteShard(const std::string& name, const std::vector<std::string>& tensors) {
    std::string header = "{";
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (i > 0) header += ',';
      header += StrCat("\"", tensors[i], "\":", Entry("F32", "[]", 4 * i, 4 * i + 4));
    }
    header += '}';
    WriteFile(name, header, std::string(4 * tensors.size(), '\0'));
  }
  void WriteIndex(std::string_view text) { WriteRaw(kIndexFileName, text); }
  // A valid two-shard checkpoint: x, y in a.safetensors; z in b.safetensors.
  void WriteGoodCheckpoint() {
    WriteShard("a.safetensors", {"x", "y"});
    WriteShard("b.safetensors", {"z"});
    WriteIndex(R"({"metadata":{"total_size":12},"weight_map":{"x":"a.safetensors","y":"a.safetensors","z":"b.safetensors"}})");
  }
};

TEST_F(SafetensorsIndexTest, ReadsAnyShardNaming) {
  WriteGoodCheckpoint();
  auto ckpt = ReadSafetensorsCheckpoint(dir_);
  ASSERT_THAT(ckpt, IsOk());
  EXPECT_THAT(ckpt->shard_files, ElementsAre(dir_ / "a.safetensors", dir_ / "b.safetensors"));
  std::vector<std::string> names, origins;
  for (const auto& t : ckpt->tensors) {
    names.push_back(t.name);
    origins.push_back(t.origin);
  }
  EXPECT_THAT(names, ElementsAre("x", "y", "z"));
  EXPECT_THAT(origins, ElementsAre("a.safetensors", "a.safetensors", "b.safetensors"));
}

TEST_F(SafetensorsIndexTest, IndexNotJson) {
  WriteGoodCheckpoint();
  fs::remove(dir_ / kIndexFileName);
  WriteIndex(R"({"weight_map": {"x": "a.safetensors",}})");
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr(kIndexFileName), HasSubstr("not valid JSON"))));
}

TEST_F(SafetensorsIndexTest, IndexMissingOrMalformedWeightMap) {
  WriteShard("a.safetensors", {"x"});
  WriteIndex(R"({"metadata":{"total_size":4}})");
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr(kIndexFileName), HasSubstr("weight_map"))));
  fs::remove(dir_ / kIndexFileName);
  WriteIndex(R"({"weight_map":["a.safetensors"]})");
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr(kIndexFileName), HasSubstr("weight_map"))));
  fs::remove(dir_ / kIndexFileName);
  WriteIndex(R"({"weight_map":{"x":3}})");
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr(kIndexFileName), HasSubstr("tensor 'x'"))));
  fs::remove(dir_ / kIndexFileName);
  WriteIndex(R"({"weight_map":{"x":"a.safetensors","x":"a.safetensors"}})");
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr(kIndexFileName), HasSubstr("duplicate key 'x'"))));
}

TEST_F(SafetensorsIndexTest, WeightMapValueMustBePlainFileName) {
  WriteShard("a.safetensors", {"x"});
  fs::create_directories(dir_ / "sub");
  WriteShard("sub/b.safetensors", {"y"});
  for (std::string_view bad : {"../a.safetensors", "/abs.safetensors", "sub/b.safetensors", "", ".", ".."}) {
    SCOPED_TRACE(bad);
    fs::remove(dir_ / kIndexFileName);
    WriteIndex(StrCat(R"({"weight_map":{"x":"a.safetensors","y":")", bad, R"("}})"));
    EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
                StatusIs(absl::StatusCode::kDataLoss,
                         AllOf(HasSubstr(kIndexFileName), HasSubstr("tensor 'y'"),
                               HasSubstr(StrCat("'", bad, "'")), HasSubstr("not a file name"))));
  }
}

TEST_F(SafetensorsIndexTest, IndexNamesMissingShard) {
  WriteShard("a.safetensors", {"x"});
  WriteIndex(R"({"weight_map":{"x":"a.safetensors","y":"gone.safetensors"}})");
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr(kIndexFileName), HasSubstr("'gone.safetensors'"))));
}

TEST_F(SafetensorsIndexTest, IndexedTensorAbsentFromShard) {
  WriteGoodCheckpoint();
  fs::remove(dir_ / kIndexFileName);
  WriteIndex(R"({"weight_map":{"x":"a.safetensors","y":"a.safetensors","z":"b.safetensors","w":"b.safetensors"}})");
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("b.safetensors"), HasSubstr("tensor 'w'"), HasSubstr("absent"))));
}

TEST_F(SafetensorsIndexTest, ShardTensorNotListedInIndex) {
  WriteGoodCheckpoint();
  fs::remove(dir_ / kIndexFileName);
  WriteIndex(R"({"weight_map":{"x":"a.safetensors","z":"b.safetensors"}})");
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("a.safetensors"), HasSubstr("tensor 'y'"),
                                                          HasSubstr("not listed"))));
}

TEST_F(SafetensorsIndexTest, ShardTensorMappedToAnotherFile) {
  WriteGoodCheckpoint();
  fs::remove(dir_ / kIndexFileName);
  WriteIndex(R"({"weight_map":{"x":"a.safetensors","y":"b.safetensors","z":"b.safetensors"}})");
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("a.safetensors"), HasSubstr("tensor 'y'"),
                                                          HasSubstr("mapped to 'b.safetensors'"))));
}

TEST_F(SafetensorsIndexTest, SameTensorInTwoShards) {
  WriteShard("a.safetensors", {"x", "y"});
  WriteShard("b.safetensors", {"y", "z"});
  // Whichever shard the index names for 'y', the duplicate is what gets reported.
  for (std::string_view owner : {"a.safetensors", "b.safetensors"}) {
    SCOPED_TRACE(owner);
    fs::remove(dir_ / kIndexFileName);
    WriteIndex(StrCat(R"({"weight_map":{"x":"a.safetensors","y":")", owner, R"(","z":"b.safetensors"}})"));
    EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
                StatusIs(absl::StatusCode::kDataLoss,
                         AllOf(HasSubstr("b.safetensors"), HasSubstr("tensor 'y'"),
                               HasSubstr("also in shard 'a.safetensors'"))));
  }
}

TEST_F(SafetensorsIndexTest, ShardErrorsPropagateWithShardName) {
  WriteShard("a.safetensors", {"x"});
  WriteRaw("b.safetensors", "junk");
  WriteIndex(R"({"weight_map":{"x":"a.safetensors","y":"b.safetensors"}})");
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("b.safetensors")));
}

TEST_F(SafetensorsIndexTest, BadUserPaths) {
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_),
              StatusIs(absl::StatusCode::kNotFound, AllOf(HasSubstr(dir_.string()), HasSubstr(kIndexFileName),
                                                          HasSubstr(kSingleFileName))));
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_ / "missing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
  WriteRaw("config.json", "{}");
  EXPECT_THAT(ReadSafetensorsCheckpoint(dir_ / "config.json"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("config.json")));
}

TEST_F(SafetensorsIndexTest, SingleFileFolderAndFilePath) {
  WriteShard(kSingleFileName, {"x", "y"});
  WriteShard("other.safetensors", {"q"});  // not part of the checkpoint (like golden.safetensors)
  auto ckpt = ReadSafetensorsCheckpoint(dir_);
  ASSERT_THAT(ckpt, IsOk());
  EXPECT_THAT(ckpt->shard_files, ElementsAre(dir_ / kSingleFileName));
  EXPECT_EQ(ckpt->tensors.size(), 2u);
  auto file = ReadSafetensorsCheckpoint(dir_ / "other.safetensors");
  ASSERT_THAT(file, IsOk());
  ASSERT_EQ(file->tensors.size(), 1u);
  EXPECT_EQ(file->tensors[0].name, "q");
}

// ---- fixtures (written by Python safetensors) ------------------------------------------------------------

std::map<DType, int> CountDTypes(const std::vector<TensorEntry>& tensors) {
  std::map<DType, int> counts;
  for (const auto& t : tensors) ++counts[t.info.dtype];
  return counts;
}

const TensorEntry* FindTensor(const std::vector<TensorEntry>& tensors, std::string_view name) {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

TEST(SafetensorsFixtureTest, ShardedQwen2Fp8) {
  const fs::path dir = kTestdata / "tiny-qwen2-fp8";
  auto ckpt = ReadSafetensorsCheckpoint(dir);
  ASSERT_THAT(ckpt, IsOk());
  EXPECT_THAT(ckpt->shard_files, ElementsAre(dir / "model-00001-of-00002.safetensors",
                                             dir / "model-00002-of-00002.safetensors"));
  EXPECT_EQ(ckpt->tensors.size(), 117u);
  EXPECT_EQ(CountDTypes(ckpt->tensors),
            (std::map<DType, int>{{DType::kF8E4M3, 42}, {DType::kBF16, 33}, {DType::kF32, 42}}));
  EXPECT_EQ(ckpt->metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  uint64_t total = 0;
  for (const auto& t : ckpt->tensors) total += t.info.byte_size();
  EXPECT_EQ(total, 16412376u);  // the index's metadata.total_size

  const TensorEntry* embed = FindTensor(ckpt->tensors, "model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->info.dtype, DType::kBF16);
  EXPECT_EQ(embed->info.shape, (Shape{4096, 384}));
  EXPECT_EQ(embed->origin, "model-00001-of-00002.safetensors");
  const TensorEntry* k_scale = FindTensor(ckpt->tensors, "model.layers.4.self_attn.k_proj.weight_scale_inv");
  ASSERT_NE(k_scale, nullptr);
  EXPECT_EQ(k_scale->info.shape, (Shape{1, 3}));
  EXPECT_EQ(k_scale->origin, "model-00002-of-00002.safetensors");

  // Every FP8 weight has an F32 block scale of shape ceil(dims / 128), wherever it is stored.
  int fp8 = 0;
  for (const auto& t : ckpt->tensors) {
    if (t.info.dtype != DType::kF8E4M3) continue;
    ++fp8;
    const TensorEntry* scale = FindTensor(ckpt->tensors, t.name + "_scale_inv");
    ASSERT_NE(scale, nullptr) << t.name;
    EXPECT_EQ(scale->info.dtype, DType::kF32);
    EXPECT_EQ(scale->info.shape, (Shape{(t.info.shape[0] + 127) / 128, (t.info.shape[1] + 127) / 128})) << t.name;
  }
  EXPECT_EQ(fp8, 42);

  // Bytes as Python wrote them (struct.unpack on the file).
  const TensorEntry* scale = FindTensor(ckpt->tensors, "model.layers.0.mlp.down_proj.weight_scale_inv");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(scale->info.shape, (Shape{3, 9}));
  auto bytes = ReadAll(*scale->source, 108);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_THAT(std::vector<uint8_t>(bytes->begin(), bytes->begin() + 12),
              ElementsAre(0xdc, 0xb6, 0x09, 0x3a, 0x6e, 0xdb, 0xd6, 0x39, 0x00, 0x00, 0x00, 0x3a));
}

TEST(SafetensorsFixtureTest, SingleFileLlamaBf16) {
  const fs::path dir = kTestdata / "tiny-llama-bf16";
  auto ckpt = ReadSafetensorsCheckpoint(dir);
  ASSERT_THAT(ckpt, IsOk());
  EXPECT_THAT(ckpt->shard_files, ElementsAre(dir / "model.safetensors"));
  EXPECT_EQ(ckpt->tensors.size(), 39u);
  EXPECT_EQ(CountDTypes(ckpt->tensors), (std::map<DType, int>{{DType::kBF16, 39}}));
  EXPECT_EQ(ckpt->tensors.front().name, "lm_head.weight");  // offset 0
  EXPECT_EQ(ckpt->tensors.front().info.shape, (Shape{4096, 256}));
  const TensorEntry* norm = FindTensor(ckpt->tensors, "model.norm.weight");
  ASSERT_NE(norm, nullptr);
  auto bytes = ReadAll(*norm->source, 512);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_THAT(std::vector<uint8_t>(bytes->begin(), bytes->begin() + 8),
              ElementsAre(0xff, 0x3f, 0xf4, 0x3f, 0xfc, 0x3f, 0xfb, 0x3f));
}

TEST(SafetensorsFixtureTest, AllFixtureCheckpoints) {
  struct Case {
    const char* name;
    size_t shards, tensors;
    uint64_t total_bytes;
  };
  for (const Case& c : {Case{"tiny-deepseek-v3-fp8", 1, 163, 6806656}, Case{"tiny-deepseek-v3-bf16", 1, 91, 9404896},
                        Case{"tiny-llama-fp8", 1, 67, 7345408}, Case{"tiny-qwen2-bf16", 2, 75, 26510592}}) {
    SCOPED_TRACE(c.name);
    auto ckpt = ReadSafetensorsCheckpoint(kTestdata / c.name);
    ASSERT_THAT(ckpt, IsOk());
    EXPECT_EQ(ckpt->shard_files.size(), c.shards);
    EXPECT_EQ(ckpt->tensors.size(), c.tensors);
    uint64_t total = 0;
    for (const auto& t : ckpt->tensors) total += t.info.byte_size();
    EXPECT_EQ(total, c.total_bytes);
  }
}

}  // namespace
}  // namespace quantc::formats::safetensors
