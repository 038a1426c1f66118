// Crash safety of every writer (safetensors folder, GGUF file, split GGUF, ONNX folder,
// model-parallel shards), through the quantc binary:
//   - SIGKILL at several points of a run leaves the output path with nothing, or with the complete
//     previous result byte for byte; never a final-named partial file. What a killed run leaves is
//     hidden and named for what it is (.NAME.quantc-tmp-PID, .NAME.quantc.lock), and the next run
//     removes it and succeeds;
//   - a full disk (a per-file size limit, and a small tmpfs where this machine lets the test mount
//     one) is one error line naming the file, a non-zero exit, and nothing left behind;
//   - of two runs into one output, the second fails at once naming the output and the other run,
//     and the first completes with exactly what a run alone writes.
// Kill points are chosen by watching the staging output grow while the run goes forward in short
// SIGCONT/SIGSTOP slices: the run is stopped whenever the test looks, so a point is hit exactly,
// not by timing.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/cli_helpers.h"
#include "tests/testing/run_shell.h"

namespace quantc {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::IsSubsetOf;

using cli_testing::CliTest;
using cli_testing::ExpectOneErrorLine;
using cli_testing::kData;
using cli_testing::kQuantc;
using cli_testing::Result;
using testing::Q;
using testing::RunShell;

// One kind of output as the CLI writes it: the run whose crashes are tested, and a different
// complete result (other files or other bytes) for it to replace with --force.
struct OutputKind {
  fs::path input;
  std::string output;                      // -o, a name inside the test's output folder
  std::vector<std::string> args;           // the conversion under test
  std::vector<std::string> previous_args;  // the previous result's conversion
  std::string locked_name;                 // NAME of .NAME.quantc.lock / .NAME.quantc-tmp-PID
  // Files `quantc inspect` must still load after a kill (relative to the output folder).
  std::vector<std::string> loadable;
};

const OutputKind kSafetensors{kData / "tiny-llama-bf16", "st", {"--max-shard-size", "1MB"},
                              {"--max-shard-size", "3MB"}, "st", {"st"}};
// tiny-qwen2 (29 MB): a single file grows in several 4 MiB steps, so there are points to kill at.
const OutputKind kGguf{kData / "tiny-qwen2-bf16", "m.gguf", {}, {"--type", "F16"}, "m.gguf", {"m.gguf"}};
// F16 and BF16 shards have equal sizes: the previous set has the same names, so a mix would show.
const OutputKind kGgufSplit{kData / "tiny-llama-bf16", "s.gguf", {"--split-max-size", "2MB"},
                            {"--split-max-size", "2MB", "--type", "F16"}, "s.gguf", {"s-00001-of-00007.gguf"}};
const OutputKind kOnnx{kData / "tiny-llama-bf16", "onnx", {"--format", "onnx", "--dtypes", "fp32"},
                       {"--format", "onnx", "--dtypes", "fp16"}, "onnx", {}};
const OutputKind kMp{kData / "tiny-deepseek-v3-bf16", "mp", {"--format", "mp", "--mp", "2"},
                     {"--format", "mp", "--mp", "1"}, "mp", {"mp/model0-mp1.safetensors"}};

// path relative to a folder -> bytes ("" for a folder, whose name ends in '/').
using Tree = std::map<std::string, std::string>;

std::string ReadBytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Everything a user sees in `folder`: all entries but the hidden top-level ones, with contents.
Tree Visible(const fs::path& folder) {
  Tree t;
  for (const auto& top : fs::directory_iterator(folder)) {
    if (top.path().filename().string().starts_with(".")) continue;
    std::vector<fs::path> paths{top.path()};
    if (top.is_directory()) {
      for (const auto& e : fs::recursive_directory_iterator(top.path())) paths.push_back(e.path());
    }
    for (const fs::path& p : paths) {
      const std::string rel = fs::relative(p, folder).string();
      if (fs::is_directory(fs::symlink_status(p))) {
        t[rel + "/"] = "";
      } else {
        t[rel] = ReadBytes(p);
      }
    }
  }
  return t;
}

// Puts `folder` back to exactly `t` (everything else in it removed).
void Restore(const fs::path& folder, const Tree& t) {
  for (const auto& e : fs::directory_iterator(folder)) fs::remove_all(e.path());
  for (const auto& [rel, bytes] : t) {
    if (rel.ends_with("/")) {
      fs::create_directories(folder / rel);
    } else {
      fs::create_directories((folder / rel).parent_path());
      std::ofstream(folder / rel, std::ios::binary) << bytes;
    }
  }
}

std::set<std::string> Hidden(const fs::path& folder) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(folder)) {
    if (e.path().filename().string().starts_with(".")) names.insert(e.path().filename().string());
  }
  return names;
}

// Any text quoted for sh, single quotes included.
std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

uint64_t TotalBytes(const Tree& t) {
  uint64_t n = 0;
  for (const auto& [name, bytes] : t) n += bytes.size();
  return n;
}

// Bytes under a staging path (a file or a folder); 0 while it does not exist.
uint64_t StagedBytes(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return fs::file_size(p, ec);
  uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(p, ec)) {
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  }
  return n;
}

// Compares trees by name and size first, so a failure prints something readable.
void ExpectSameTree(const Tree& got, const Tree& want, const std::string& what) {
  std::map<std::string, size_t> got_sizes, want_sizes;
  for (const auto& [n, b] : got) got_sizes[n] = b.size();
  for (const auto& [n, b] : want) want_sizes[n] = b.size();
  EXPECT_EQ(got_sizes, want_sizes) << what;
  if (got_sizes != want_sizes) return;
  for (const auto& [n, b] : want) EXPECT_TRUE(got.at(n) == b) << what << ": " << n << " differs";
}

class CrashSafetyTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    out_dir_ = dir_ / "out";
    fs::create_directories(out_dir_);
    fs::create_directories(dir_ / "logs");
  }
  // Each test writes some 100 MB: keep it only when it failed, to look at.
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::vector<std::string> ConvertArgs(const OutputKind& k, const fs::path& out_dir, const std::vector<std::string>& extra,
                                       bool force) {
    std::vector<std::string> argv{"quantc", "--quiet", "--threads", "2", "convert", k.input.string(),
                                  "-o", (out_dir / k.output).string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    if (force) argv.push_back("--force");
    return argv;
  }
  static std::string Shell(const std::vector<std::string>& argv) {
    std::string cmd = Q(kQuantc);
    for (size_t i = 1; i < argv.size(); ++i) cmd += " " + Q(argv[i]);
    return cmd;
  }

  // Starts quantc (argv[0] is its name), output to a log file, optionally under a file size limit.
  pid_t Start(const std::vector<std::string>& argv, rlim_t file_size_limit = RLIM_INFINITY) {
    const std::string log = (dir_ / "logs" / std::to_string(++runs_)).string();
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      if (file_size_limit != RLIM_INFINITY) {
        struct rlimit limit{file_size_limit, file_size_limit};
        setrlimit(RLIMIT_FSIZE, &limit);
      }
      execv(kQuantc.c_str(), args.data());
      _exit(127);
    }
    last_log_ = log;
    return pid;
  }

  // Lets `pid` run in slices of about 0.1 ms until `ready()` holds while it is stopped (it is
  // left stopped then, and true returned), or until it exits (false; *status is its wait status).
  bool RunUntil(pid_t pid, const std::function<bool()>& ready, int* status) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      ::kill(pid, SIGSTOP);
      int st = 0;
      if (waitpid(pid, &st, WUNTRACED) != pid) {
        ADD_FAILURE() << "waitpid failed";
        return false;
      }
      if (!WIFSTOPPED(st)) {
        *status = st;
        return false;
      }
      if (ready()) return true;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the run neither reached the point nor finished in 60 s";
        ::kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        *status = st;
        return false;
      }
      ::kill(pid, SIGCONT);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  fs::path StagingOf(const OutputKind& k, pid_t pid) const {
    return out_dir_ / ("." + k.locked_name + ".quantc-tmp-" + std::to_string(pid));
  }
  std::set<std::string> AllowedLeftovers(const OutputKind& k, pid_t killed) const {
    return {"." + k.locked_name + ".quantc.lock", StagingOf(k, killed).filename().string()};
  }

  // Runs the conversion, SIGKILLs it once its staging holds `at_bytes` (0: as soon as the staging
  // exists), and checks what it leaves in the output folder: exactly `expected` where users look,
  // and only its own hidden staging and lock beside it. Returns false if the run could not be killed there.
  bool KillAt(const OutputKind& k, bool force, uint64_t at_bytes, const Tree& expected, const std::string& what) {
    const pid_t pid = Start(ConvertArgs(k, out_dir_, k.args, force));
    const fs::path staging = StagingOf(k, pid);
    int status = 0;
    uint64_t staged = 0;
    const bool reached = RunUntil(pid, [&] {
      std::error_code ec;
      if (!fs::exists(staging, ec)) return false;
      staged = StagedBytes(staging);
      return staged >= at_bytes;
    }, &status);
    if (!reached) {
      // Under load the test can be descheduled long enough for the run to write past the point
      // and finish; the caller puts the folder back and tries again.
      last_miss_ = what + ": the run ended (status " + std::to_string(status) + ") before its staging held " +
                   std::to_string(at_bytes) + " bytes: " + ReadBytes(last_log_);
      return false;
    }
    ::kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << what;
    const std::string at = what + " (killed with " + std::to_string(staged) + " bytes staged)";
    ExpectSameTree(Visible(out_dir_), expected, at);
    EXPECT_THAT(Hidden(out_dir_), IsSubsetOf(AllowedLeftovers(k, pid))) << at;
    for (const std::string& f : k.loadable) {
      if (expected.empty()) break;
      Result r = RunShell(Q(kQuantc) + " inspect " + Q(out_dir_ / f));
      EXPECT_EQ(r.exit_code, 0) << at << ": the previous output no longer loads: " << r.output;
    }
    return true;
  }

  // KillAt, tried again (up to three times) when the run finished before reaching the point.
  void KillAtWithRetries(const OutputKind& k, bool force, uint64_t at_bytes, const Tree& expected, const std::string& what) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (KillAt(k, force, at_bytes, expected, what)) return;
      Restore(out_dir_, expected);
    }
    ADD_FAILURE() << "three runs finished before the kill point; the last: " << last_miss_;
  }

  // A conversion run alone, to compare with.
  Tree Reference(const OutputKind& k, const std::vector<std::string>& args) {
    const fs::path ref = dir_ / ("ref" + std::to_string(++refs_));
    fs::create_directories(ref);
    Result r = RunShell(Shell(ConvertArgs(k, ref, args, false)));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    Tree t = Visible(ref);
    EXPECT_FALSE(t.empty());
    return t;
  }

  // The whole SIGKILL story for one output kind.
  void CheckSigkill(const OutputKind& k) {
    const Tree reference = Reference(k, k.args);
    const uint64_t total = TotalBytes(reference);
    ASSERT_GT(total, 0u);

    // Nothing there before: a killed run leaves nothing a user could take for an output.
    for (double f : {0.0, 0.5}) {
      KillAtWithRetries(k, false, static_cast<uint64_t>(f * total), {}, "fresh, at " + std::to_string(f));
    }
    // The next run clears what the killed ones left, and succeeds.
    Result first = RunShell(Shell(ConvertArgs(k, out_dir_, k.previous_args, false)));
    ASSERT_EQ(first.exit_code, 0) << first.output;
    EXPECT_THAT(Hidden(out_dir_), IsEmpty());
    const Tree previous = Visible(out_dir_);
    ASSERT_TRUE(previous != reference) << "the previous result must differ from the new one, or a mix would not show";

    // A complete previous result: every kill keeps it whole, byte for byte.
    for (double f : {0.25, 0.5, 0.75, 0.9}) {
      KillAtWithRetries(k, true, static_cast<uint64_t>(f * total), previous, "replacing, at " + std::to_string(f));
    }
    // And the next run replaces it with exactly what a run alone writes, leaving nothing hidden.
    Result last = RunShell(Shell(ConvertArgs(k, out_dir_, k.args, true)));
    ASSERT_EQ(last.exit_code, 0) << last.output;
    ExpectSameTree(Visible(out_dir_), reference, "after the recovering run");
    EXPECT_THAT(Hidden(out_dir_), IsEmpty());
  }

  // A per-file size limit (what ulimit -f sets) fails the writes past it with EFBIG: halfway
  // through the largest file, and in its last bytes.
  void CheckFileSizeLimit(const OutputKind& k) {
    const Tree reference = Reference(k, k.args);
    uint64_t largest = 0;
    for (const auto& [n, b] : reference) largest = std::max<uint64_t>(largest, b.size());
    for (uint64_t limit : {largest / 2, largest - 1000}) {
      const pid_t pid = Start(ConvertArgs(k, out_dir_, k.args, false), limit);
      int status = 0;
      waitpid(pid, &status, 0);
      const std::string what = "file size limit " + std::to_string(limit);
      Result r{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), ReadBytes(last_log_)};
      ExpectOneErrorLine(r);
      EXPECT_THAT(r.output, HasSubstr("File too large")) << what;
      // The failing file is named: it is in this output's staging.
      EXPECT_THAT(r.output, HasSubstr((out_dir_ / ("." + k.locked_name + ".quantc-tmp-" + std::to_string(pid))).string()))
          << what;
      EXPECT_THAT(Visible(out_dir_), IsEmpty()) << what;
      EXPECT_THAT(Hidden(out_dir_), IsEmpty()) << what << ": staging or lock left behind";
    }
  }

  // A real ENOSPC: the output folder is a small tmpfs, mounted in a private mount namespace
  // (unshare -m, or -rm in a user namespace when not root) so that nothing stays mounted whatever
  // happens. Sizes: half the output, and all of it but the last 64 KiB. Skipped where no
  // namespace may mount.
  void CheckNoSpace(const OutputKind& k) {
    const fs::path mnt = dir_ / "mnt";
    fs::create_directories(mnt);
    std::string unshare, refused;
    for (const char* u : {"unshare -m", "unshare -rm"}) {
      Result probe = RunShell(std::string(u) + " sh -c " +
                              ShellQuote("mount -t tmpfs -o size=1m tmpfs " + Q(mnt) + " && touch " + Q(mnt / "probe")));
      if (probe.exit_code == 0 && !fs::exists(mnt / "probe")) {
        unshare = u;
        break;
      }
      refused += probe.output;
    }
    if (unshare.empty()) GTEST_SKIP() << "cannot mount a private tmpfs here: " << refused;
    const Tree reference = Reference(k, k.args);
    const uint64_t total = TotalBytes(reference);
    for (uint64_t size : {total / 2, total - (64 << 10)}) {
      const std::string what = "tmpfs of " + std::to_string(size) + " bytes for " + std::to_string(total);
      const fs::path status_file = dir_ / "status", listing = dir_ / "listing", log = dir_ / "log";
      const std::string inner = "mount -t tmpfs -o size=" + std::to_string(size) + " tmpfs " + Q(mnt) + " || exit 99; " +
                                Shell(ConvertArgs(k, mnt, k.args, false)) + " >" + Q(log) + " 2>&1; echo $? >" +
                                Q(status_file) + "; find " + Q(mnt) + " -mindepth 1 >" + Q(listing);
      Result r = RunShell(unshare + " sh -c " + ShellQuote(inner));
      ASSERT_EQ(r.exit_code, 0) << what << ": " << r.output;
      Result run{std::stoi(ReadBytes(status_file)), ReadBytes(log)};
      ExpectOneErrorLine(run);
      EXPECT_THAT(run.output, HasSubstr("No space left on device")) << what;
      EXPECT_THAT(run.output, HasSubstr((mnt / ("." + k.locked_name + ".quantc-tmp-")).string())) << what;
      EXPECT_EQ(ReadBytes(listing), "") << what << ": left on the full disk";
    }
  }

  // Run A is stopped mid-write, holding the output; run B into the same output must fail at once,
  // naming the output and saying another run holds it, and leave A's work alone; A then completes
  // with exactly what a run alone writes.
  void CheckConcurrentRuns(const OutputKind& k) {
    const Tree reference = Reference(k, k.args);
    ASSERT_FALSE(reference.empty());
    const pid_t a = Start(ConvertArgs(k, out_dir_, k.args, false));
    const fs::path staging = StagingOf(k, a);
    int status = 0;
    uint64_t staged = 0;
    ASSERT_TRUE(RunUntil(a, [&] { return (staged = StagedBytes(staging)) > 0; }, &status))
        << "run A ended before writing: " << ReadBytes(last_log_);
    for (bool force : {false, true}) {
      Result b = RunShell(Shell(ConvertArgs(k, out_dir_, k.args, force)));
      ExpectOneErrorLine(b);
      EXPECT_THAT(b.output, HasSubstr((out_dir_ / k.output).string() + ": another quantc process is writing this output"));
      EXPECT_EQ(StagedBytes(staging), staged) << "run B touched run A's staging";
    }
    ::kill(a, SIGCONT);
    waitpid(a, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadBytes(last_log_);
    ExpectSameTree(Visible(out_dir_), reference, "run A's output");
    EXPECT_THAT(Hidden(out_dir_), IsEmpty());
  }

  fs::path out_dir_;
  fs::path last_log_;
  std::string last_miss_;  // why the last KillAt did not kill
  int runs_ = 0, refs_ = 0;
};

TEST_F(CrashSafetyTest, SigkillSafetensorsFolder) { CheckSigkill(kSafetensors); }
TEST_F(CrashSafetyTest, SigkillGgufFile) { CheckSigkill(kGguf); }
TEST_F(CrashSafetyTest, SigkillSplitGguf) { CheckSigkill(kGgufSplit); }
TEST_F(CrashSafetyTest, SigkillOnnxFolder) { CheckSigkill(kOnnx); }
TEST_F(CrashSafetyTest, SigkillModelParallelShards) { CheckSigkill(kMp); }

TEST_F(CrashSafetyTest, FileSizeLimitEveryWriter) {
  for (const OutputKind* k : {&kSafetensors, &kGguf, &kGgufSplit, &kOnnx, &kMp}) {
    SCOPED_TRACE(k->output);
    CheckFileSizeLimit(*k);
  }
}

TEST_F(CrashSafetyTest, NoSpaceEveryWriter) {
  for (const OutputKind* k : {&kSafetensors, &kGguf, &kGgufSplit, &kOnnx, &kMp}) {
    SCOPED_TRACE(k->output);
    CheckNoSpace(*k);
    if (IsSkipped()) return;
  }
}

TEST_F(CrashSafetyTest, SecondRunIntoTheSameOutputFailsAndTheFirstCompletes) {
  for (const OutputKind* k : {&kSafetensors, &kGguf, &kGgufSplit, &kOnnx, &kMp}) {
    SCOPED_TRACE(k->output);
    CheckConcurrentRuns(*k);
    fs::remove_all(out_dir_);
    fs::create_directories(out_dir_);
  }
}

// Two runs started together, neither held back: exactly one writes the output (the other is
// refused, by the lock or because the output then exists), and it is complete.
TEST_F(CrashSafetyTest, TwoRunsStartedTogether) {
  const Tree reference = Reference(kSafetensors, kSafetensors.args);
  const pid_t a = Start(ConvertArgs(kSafetensors, out_dir_, kSafetensors.args, false));
  const fs::path log_a = last_log_;
  const pid_t b = Start(ConvertArgs(kSafetensors, out_dir_, kSafetensors.args, false));
  const fs::path log_b = last_log_;
  int sa = 0, sb = 0;
  waitpid(a, &sa, 0);
  waitpid(b, &sb, 0);
  ASSERT_TRUE(WIFEXITED(sa) && WIFEXITED(sb));
  EXPECT_EQ((WEXITSTATUS(sa) == 0) + (WEXITSTATUS(sb) == 0), 1) << ReadBytes(log_a) << ReadBytes(log_b);
  const std::string refused = ReadBytes(WEXITSTATUS(sa) == 0 ? log_b : log_a);
  EXPECT_THAT(refused, ::testing::AnyOf(HasSubstr("another quantc process is writing this output"),
                                        HasSubstr("output already exists")));
  ExpectSameTree(Visible(out_dir_), reference, "the output");
  EXPECT_THAT(Hidden(out_dir_), IsEmpty());
}

// --force onto a split set with another shard count: the old set's files go (shard 1 of the old
// set before any new shard moves in, the rest after), so no stale shard sits beside the new set.
TEST_F(CrashSafetyTest, ForcedSplitReplacesTheWholePreviousSet) {
  const fs::path in = kData / "tiny-llama-bf16", out = out_dir_ / "s.gguf";
  fs::create_directories(out_dir_);
  ASSERT_EQ(Convert(in, out, "--format gguf --split-max-size 2MB --quiet").exit_code, 0);
  ASSERT_TRUE(fs::exists(out_dir_ / "s-00007-of-00007.gguf"));
  Result r = Convert(in, out, "--format gguf --split-max-size 8MB --quiet --force");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out_dir_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"s-00001-of-00002.gguf", "s-00002-of-00002.gguf"}));
}

}  // namespace
}  // namespace quantc
