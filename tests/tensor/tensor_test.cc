// TensorInfo arithmetic, and MappedTensorSource streaming a file range in order.
#include <filesystem>
#include <fstream>
#include <numeric>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/tensor/tensor.h"
#include "tests/status_matchers.h"

namespace quantc {
namespace {
using ::quantc::testing::IsOkAndHolds;
using ::quantc::testing::StatusIs;
using ::testing::HasSubstr;

TEST(TensorInfo, SizesAndOverflow) {
  EXPECT_THAT(CheckedByteSize({DType::kBF16, {3, 5}}), IsOkAndHolds(30u));
  EXPECT_THAT(CheckedByteSize({DType::kF32, {}}), IsOkAndHolds(4u));  // a scalar
  EXPECT_THAT(CheckedByteSize({DType::kF32, {0, 7}}), IsOkAndHolds(0u));
  EXPECT_THAT(CheckedByteSize({DType::kF32, {1LL << 40, 1LL << 40}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("overflows")));
  EXPECT_THAT(CheckedByteSize({DType::kF32, {-1}}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("negative")));
  TensorInfo m{DType::kF8E4M3, {2, 3, 7}};
  EXPECT_EQ(m.rows(), 6);
  EXPECT_EQ(m.cols(), 7);
  EXPECT_EQ(ShapeToString(m.shape), "[2, 3, 7]");
}

TEST(MappedTensorSource, StreamsTheRangeInOrderAcrossChunks) {
  auto path = std::filesystem::path(::testing::TempDir()) / "mapped_source.bin";
  const uint64_t size = kStreamChunkBytes * 2 + 12345;
  {
    std::vector<uint8_t> bytes(size + 100);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 131 + (i >> 13));
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok());
  MappedTensorSource src(*file, 37, size);
  int chunks = 0;
  uint64_t pos = 37;
  absl::Status s = src.Stream([&](std::span<const uint8_t> chunk) {
    ++chunks;
    for (uint8_t b : chunk) {
      if (b != static_cast<uint8_t>(pos * 131 + (pos >> 13))) return absl::InternalError("wrong byte");
      ++pos;
    }
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(pos, 37 + size);
  EXPECT_EQ(chunks, 3);
  EXPECT_EQ(src.Describe(), "mapped_source.bin");
}

TEST(ReadAllAsF32, DecodesFloatTypes) {
  std::vector<uint8_t> bf16 = {0x80, 0x3F, 0x00, 0xC0};  // 1.0, -2.0
  OwnedTensorSource src(bf16);
  EXPECT_THAT(ReadAllAsF32(src, {DType::kBF16, {2}}), IsOkAndHolds(::testing::ElementsAre(1.0f, -2.0f)));
  EXPECT_THAT(ReadAllAsF32(src, {DType::kI16, {2}}), StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("I16")));
  EXPECT_THAT(ReadAll(src, 3), StatusIs(absl::StatusCode::kInternal, HasSubstr("expected 3")));
}

}  // namespace
}  // namespace quantc
