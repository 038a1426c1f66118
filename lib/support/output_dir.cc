#include "lib/support/output_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "lib/support/strings.h"

namespace quantc {
namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<AtomicOutput>> AtomicOutput::Begin(const fs::path& target_in, Kind kind,
                                                                  bool force) {
  fs::path target = target_in;
  if (target.has_filename() == false) target = target.parent_path();  // "out/" -> "out"
  if (target.empty()) return absl::InvalidArgumentError("empty output path");
  fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    return absl::NotFoundError(StrCat(target.string(), ": parent folder '", parent.string(),
                                            "' does not exist"));
  }
  std::string name = target.filename().string();
  auto out = std::unique_ptr<AtomicOutput>(new AtomicOutput());
  out->target_ = target;
  out->kind_ = kind;
  out->force_ = force;
  out->lock_path_ = parent / StrCat(".", name, ".quantc.lock");
  out->staging_ = parent / StrCat(".", name, ".quantc-tmp-", ::getpid());

  out->lock_fd_ = ::open(out->lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (out->lock_fd_ < 0) {
    return absl::PermissionDeniedError(
        StrCat(out->lock_path_.string(), ": cannot create lock file: ", std::strerror(errno)));
  }
  if (::flock(out->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(out->lock_fd_);
    out->lock_fd_ = -1;  // not ours: leave the file to its owner
    return absl::FailedPreconditionError(StrCat(
        target.string(), ": another quantc process is writing this output (lock ", out->lock_path_.string(), ")"));
  }
  // The previous owner unlinks the lock file as it exits; if we locked an unlinked inode, the lock
  // protects nothing, so check that the path still names the file we hold.
  struct stat held {}, named {};
  if (::fstat(out->lock_fd_, &held) != 0 || ::stat(out->lock_path_.c_str(), &named) != 0 ||
      held.st_ino != named.st_ino || held.st_dev != named.st_dev) {
    ::close(out->lock_fd_);
    out->lock_fd_ = -1;
    return absl::FailedPreconditionError(StrCat(
        target.string(), ": another quantc process is writing this output (lock ", out->lock_path_.string(), ")"));
  }
  if (fs::exists(fs::symlink_status(target, ec)) && !force) {
    return absl::AlreadyExistsError(
        StrCat(target.string(), ": output already exists (use --force to replace it)"));
  }
  // We hold the lock, so any staging left here was abandoned by a killed run: clear it.
  std::string stale_prefix = StrCat(".", name, ".quantc-");
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    std::string f = entry.path().filename().string();
    if (f.starts_with(stale_prefix) && f != out->lock_path_.filename().string()) {
      fs::remove_all(entry.path(), ec);
    }
  }
  if (kind == Kind::kDirectory && !fs::create_directory(out->staging_, ec)) {
    return absl::PermissionDeniedError(
        StrCat(out->staging_.string(), ": cannot create staging folder: ", ec.message()));
  }
  return out;
}

absl::Status AtomicOutput::Commit() {
  std::error_code ec;
  // Data files were fsynced as they closed; sync the folder entries too before the rename.
  if (int fd = ::open(staging_.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  fs::path old;
  if (fs::exists(fs::symlink_status(target_, ec))) {
    if (!force_) {
      return absl::AlreadyExistsError(
          StrCat(target_.string(), ": output appeared while writing (use --force to replace it)"));
    }
    old = target_.parent_path() / StrCat(".", target_.filename().string(), ".quantc-old-", ::getpid());
    fs::rename(target_, old, ec);
    if (ec) return absl::PermissionDeniedError(StrCat(target_.string(), ": cannot replace: ", ec.message()));
  }
  fs::rename(staging_, target_, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, target_, ec);  // put the previous output back
    return absl::PermissionDeniedError(StrCat(target_.string(), ": cannot rename into place: ", ec.message()));
  }
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
  return absl::OkStatus();
}

AtomicOutput::~AtomicOutput() {
  std::error_code ec;
  if (!committed_ && !staging_.empty()) fs::remove_all(staging_, ec);
  if (lock_fd_ >= 0) {
    ::unlink(lock_path_.c_str());
    ::close(lock_fd_);
  }
}

}  // namespace quantc
