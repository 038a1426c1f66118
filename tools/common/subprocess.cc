#include "tools/common/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/support/strings.h"

extern char** environ;

namespace quantc::tools {
namespace {

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const std::string& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

int WaitFor(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(const std::vector<std::string>& argv) {
  // A child that dies mid-request must give us EPIPE on write, not kill us with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return absl::InternalError(StrCat("pipe: ", std::strerror(errno)));
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]), close(to_child[1]);
    return absl::InternalError(StrCat("pipe: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
  auto p = std::unique_ptr<Subprocess>(new Subprocess());
  p->name_ = argv.at(0);
  std::vector<char*> args = Argv(argv);
  const int rc = posix_spawnp(&p->pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(to_child[0]), close(from_child[1]);
  p->in_ = to_child[1], p->out_ = from_child[0];
  if (rc != 0) {
    p->pid_ = -1;
    return absl::FailedPreconditionError(StrCat(argv[0], ": cannot start: ", std::strerror(rc)));
  }
  return p;
}

Subprocess::~Subprocess() {
  if (in_ >= 0) close(in_);
  if (out_ >= 0) close(out_);
  if (pid_ > 0 && exit_ < 0) {
    kill(pid_, SIGTERM);
    WaitFor(pid_);
  }
}

std::string Subprocess::Describe() {
  if (exit_ < 0 && pid_ > 0) {
    if (in_ >= 0) close(in_), in_ = -1;
    exit_ = WaitFor(pid_);
  }
  return exit_ >= 128 ? StrCat(name_, " (killed by signal ", exit_ - 128, ")") : StrCat(name_, " (exit ", exit_, ")");
}

// Moves all `bytes` through `io` (write or read on one pipe), retrying short transfers; false when
// the pipe closed or failed first.
template <typename Io>
bool TransferAll(Io io, size_t bytes) {
  size_t done = 0;
  while (done < bytes) {
    const ssize_t n = io(done, bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

absl::Status Subprocess::Write(const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  if (TransferAll([&](size_t at, size_t n) { return write(in_, p + at, n); }, bytes)) return absl::OkStatus();
  return absl::UnavailableError(StrCat(Describe(), " stopped reading its requests"));
}

absl::Status Subprocess::Read(void* data, size_t bytes) {
  char* p = static_cast<char*>(data);
  if (TransferAll([&](size_t at, size_t n) { return read(out_, p + at, n); }, bytes)) return absl::OkStatus();
  return absl::UnavailableError(StrCat(Describe(), " ended before answering"));
}

absl::StatusOr<int> Subprocess::Finish() {
  Describe();
  return exit_;
}

absl::StatusOr<int> RunToCompletion(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);
  std::vector<char*> args = Argv(argv);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return absl::FailedPreconditionError(StrCat(argv.at(0), ": cannot start: ", std::strerror(rc)));
  return WaitFor(pid);
}

}  // namespace quantc::tools
