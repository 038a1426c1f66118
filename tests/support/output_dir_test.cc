// AtomicOutput: nothing appears at the target until Commit; an existing target is refused
// without force and replaced only at Commit with it; a second writer is locked out.
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/support/file_util.h"
#include "lib/support/output_dir.h"
#include "tests/status_matchers.h"

namespace quantc {
namespace {
namespace fs = std::filesystem;
using ::quantc::testing::IsOk;
using ::quantc::testing::StatusIs;
using ::testing::HasSubstr;

fs::path FreshDir(const std::string& name) {
  fs::path d = fs::path(::testing::TempDir()) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(AtomicOutput, AppearsOnlyAtCommit) {
  fs::path dir = FreshDir("atomic_commit");
  fs::path target = dir / "out";
  {
    auto out = AtomicOutput::Begin(target, AtomicOutput::Kind::kDirectory, false);
    ASSERT_THAT(out.status(), IsOk());
    ASSERT_THAT(WriteStringToFile((*out)->staging() / "a.txt", "hello"), IsOk());
    EXPECT_FALSE(fs::exists(target));
    ASSERT_THAT((*out)->Commit(), IsOk());
  }
  EXPECT_TRUE(fs::exists(target / "a.txt"));
  // Nothing but the output is left in the parent: no staging, no lock.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(AtomicOutput, AbandonedOutputLeavesNothing) {
  fs::path dir = FreshDir("atomic_abandon");
  {
    auto out = AtomicOutput::Begin(dir / "out", AtomicOutput::Kind::kDirectory, false);
    ASSERT_THAT(out.status(), IsOk());
    ASSERT_THAT(WriteStringToFile((*out)->staging() / "a.txt", "partial"), IsOk());
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 0);
}

TEST(AtomicOutput, RefusesExistingUnlessForcedAndReplacesAtCommit) {
  fs::path dir = FreshDir("atomic_force");
  fs::path target = dir / "out";
  fs::create_directories(target);
  ASSERT_THAT(WriteStringToFile(target / "old.txt", "old"), IsOk());
  EXPECT_THAT(AtomicOutput::Begin(target, AtomicOutput::Kind::kDirectory, false).status(),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("--force")));
  auto out = AtomicOutput::Begin(target, AtomicOutput::Kind::kDirectory, true);
  ASSERT_THAT(out.status(), IsOk());
  ASSERT_THAT(WriteStringToFile((*out)->staging() / "new.txt", "new"), IsOk());
  EXPECT_TRUE(fs::exists(target / "old.txt")) << "the old output stays until the new one is complete";
  ASSERT_THAT((*out)->Commit(), IsOk());
  EXPECT_FALSE(fs::exists(target / "old.txt"));
  EXPECT_TRUE(fs::exists(target / "new.txt"));
}

TEST(AtomicOutput, SecondWriterIsLockedOut) {
  fs::path dir = FreshDir("atomic_lock");
  auto first = AtomicOutput::Begin(dir / "out", AtomicOutput::Kind::kDirectory, false);
  ASSERT_THAT(first.status(), IsOk());
  EXPECT_THAT(AtomicOutput::Begin(dir / "out", AtomicOutput::Kind::kDirectory, true).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("another quantc process")));
}

TEST(AtomicOutput, ClearsStagingLeftByAKilledRun) {
  fs::path dir = FreshDir("atomic_stale");
  fs::create_directories(dir / ".out.quantc-tmp-99999");
  auto out = AtomicOutput::Begin(dir / "out", AtomicOutput::Kind::kDirectory, false);
  ASSERT_THAT(out.status(), IsOk());
  EXPECT_FALSE(fs::exists(dir / ".out.quantc-tmp-99999"));
}

TEST(AtomicOutput, MissingParentIsNotFound) {
  EXPECT_THAT(AtomicOutput::Begin("/nonexistent/dir/out", AtomicOutput::Kind::kDirectory, false).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/dir")));
}

TEST(ParseByteSize, UnitsAndErrors) {
  EXPECT_THAT(ParseByteSize("5GB"), ::quantc::testing::IsOkAndHolds(5'000'000'000u));
  EXPECT_THAT(ParseByteSize("2GiB"), ::quantc::testing::IsOkAndHolds(2ull << 30));
  EXPECT_THAT(ParseByteSize("1.5 MB"), ::quantc::testing::IsOkAndHolds(1'500'000u));
  EXPECT_THAT(ParseByteSize("4096"), ::quantc::testing::IsOkAndHolds(4096u));
  EXPECT_THAT(ParseByteSize("lots"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a size")));
  EXPECT_THAT(ParseByteSize("5XB"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unit")));
}

TEST(OutputFile, RefusesToOverwrite) {
  fs::path dir = FreshDir("outfile");
  ASSERT_THAT(WriteStringToFile(dir / "f", "x"), IsOk());
  EXPECT_THAT(WriteStringToFile(dir / "f", "y"), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("/f")));
}

}  // namespace
}  // namespace quantc
