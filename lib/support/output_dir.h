// Atomic outputs. Everything is written into a hidden staging sibling of the target and renamed
// into place only when complete, so a crash, a full disk or SIGKILL never leaves a finished-looking
// output. A lock file (flock, released by the kernel when the process dies) makes two runs into one
// output fail loudly instead of interleaving.
//
//   parent/.NAME.quantc.lock          held for the whole run
//   parent/.NAME.quantc-tmp-PID       staging (a folder or a file, per Kind)
//   parent/NAME                       appears only at Commit()
#pragma once

#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"

namespace quantc {

class AtomicOutput {
 public:
  enum class Kind { kDirectory, kFile };

  // Refuses an existing target unless `force` (then it is replaced only at Commit).
  // For kDirectory the staging folder is created; for kFile the caller creates the file.
  static absl::StatusOr<std::unique_ptr<AtomicOutput>> Begin(const std::filesystem::path& target, Kind kind,
                                                             bool force);
  ~AtomicOutput();  // without Commit: removes the staging path and releases the lock
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  const std::filesystem::path& staging() const { return staging_; }
  const std::filesystem::path& target() const { return target_; }

  // Syncs the staging data and renames it over the target.
  absl::Status Commit();

 private:
  AtomicOutput() = default;
  std::filesystem::path target_, staging_, lock_path_;
  Kind kind_ = Kind::kDirectory;
  bool force_ = false;
  bool committed_ = false;
  int lock_fd_ = -1;
};

}  // namespace quantc
