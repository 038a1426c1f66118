// Shared by the tests that run the quantc binary end to end (cli_test.cc, crash_safety_test.cc,
// validate_test.cc):
// where the binaries and fixtures are, a per-test scratch folder, and the checks every bad input
// shares (one clear error line, no output left behind).
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/run_shell.h"

namespace quantc::cli_testing {
namespace fs = std::filesystem;

inline const fs::path kQuantc = fs::path(QUANTC_BINARY_DIR) / "tools" / "quantc";
inline const fs::path kSynth = fs::path(QUANTC_BINARY_DIR) / "tools" / "bench" / "make_synthetic_checkpoint";
inline const fs::path kData = QUANTC_TESTDATA_DIR;

using Result = testing::ShellResult;
using testing::Q;
using testing::RunShell;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Suite and test name: ctest runs every test as its own process, in parallel.
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / (std::string(test->test_suite_name()) + "_" + test->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  // A writable copy of a fixture to damage, named `as` (default: the fixture's name).
  fs::path CopyFixture(const std::string& name, const std::string& as = "") {
    const fs::path to = dir_ / (as.empty() ? name : as);
    fs::copy(kData / name, to, fs::copy_options::recursive);
    for (auto& e : fs::recursive_directory_iterator(to)) {
      fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
    }
    return to;
  }
  Result Convert(const fs::path& in, const fs::path& out, const std::string& extra = "") {
    return RunShell(Q(kQuantc) + " convert " + Q(in) + " -o " + Q(out) + " " + extra);
  }
  // Only the staging-free parent is left: no output, no temp folder, no lock.
  void ExpectNoOutput(const fs::path& out) {
    EXPECT_FALSE(fs::exists(out)) << out;
    for (auto& e : fs::directory_iterator(out.parent_path())) {
      EXPECT_THAT(e.path().filename().string(), ::testing::Not(::testing::HasSubstr(".quantc-")))
          << "left behind: " << e.path();
    }
  }
  fs::path dir_;
};

// One line on stderr (plus nothing else), starting "quantc convert: error:".
inline void ExpectOneErrorLine(const Result& r) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, ::testing::HasSubstr("quantc convert: error: "));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

}  // namespace quantc::cli_testing
