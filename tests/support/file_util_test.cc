// OutputFile: bytes land in order whatever the write sizes, through the O_DIRECT path (ext4 and
// most disks) and the buffered one (tmpfs refuses O_DIRECT), including unaligned tails.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/support/file_util.h"
#include "tests/status_matchers.h"

namespace quantc {
namespace {
namespace fs = std::filesystem;
using ::quantc::testing::IsOk;

std::vector<uint8_t> ReadBack(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteAndCheck(const fs::path& dir, size_t total, size_t piece) {
  fs::create_directories(dir);
  fs::path path = dir / ("out_" + std::to_string(total) + "_" + std::to_string(piece));
  fs::remove(path);
  std::vector<uint8_t> data(total);
  for (size_t i = 0; i < total; ++i) data[i] = static_cast<uint8_t>(i * 7 + (i >> 12));
  auto file = OutputFile::Create(path);
  ASSERT_THAT(file.status(), IsOk());
  for (size_t pos = 0; pos < total; pos += piece) {
    ASSERT_THAT((*file)->Write(std::span(data).subspan(pos, std::min(piece, total - pos))), IsOk());
  }
  EXPECT_EQ((*file)->offset(), total);
  ASSERT_THAT((*file)->Close(), IsOk());
  EXPECT_TRUE(ReadBack(path) == data) << path;
}

TEST(OutputFile, WritesEveryByteInOrder) {
  fs::path dir = fs::path(::testing::TempDir()) / "outputfile";
  for (size_t total : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{4097}, size_t{(9u << 20) + 123},
                       size_t{17u << 20}}) {
    for (size_t piece : {size_t{1000}, size_t{1u << 20}, size_t{5u << 20}}) WriteAndCheck(dir, total, piece);
  }
}

TEST(OutputFile, WorksWhereODirectIsRefused) {
  if (!fs::is_directory("/dev/shm")) GTEST_SKIP() << "no tmpfs at /dev/shm";
  fs::path dir = fs::path("/dev/shm") / ("quantc_outputfile_" + std::to_string(::getpid()));
  WriteAndCheck(dir, (5u << 20) + 77, 1u << 20);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace quantc
