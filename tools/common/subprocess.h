// Child processes for the tools: a driver that serves requests over pipes (validate's node window
// server) and a command run to completion (validate --convert's conversions).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace quantc::tools {

// A child with pipes to its stdin and from its stdout; stderr is ours (its messages reach the user).
class Subprocess {
 public:
  // `argv[0]` is looked up in PATH. A program that cannot be started is an error naming it.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const std::vector<std::string>& argv);
  ~Subprocess();  // closes the pipes and waits for the child (killing it if it still runs)

  absl::Status Write(const void* data, size_t bytes);
  // Exactly `bytes`; an early end (the child died) is an error naming the program and its exit.
  absl::Status Read(void* data, size_t bytes);
  // Closes stdin and waits: the exit status (128 + signal when killed).
  absl::StatusOr<int> Finish();

 private:
  Subprocess() = default;
  std::string Describe();  // "node (exit 1)" once the child has ended
  std::string name_;
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  int exit_ = -1;
};

// Runs `argv` to completion with our stdin and stderr, its stdout sent to our stderr (so that a
// child's summary does not mix with what this command prints); returns its exit status.
absl::StatusOr<int> RunToCompletion(const std::vector<std::string>& argv);

}  // namespace quantc::tools
