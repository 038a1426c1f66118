#include "lib/support/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <cctype>
#include "lib/support/strings.h"
#include "absl/strings/str_format.h"
#include "lib/support/status_macros.h"

namespace quantc {
namespace {

constexpr size_t kBufferSize = 4u << 20;  // per buffer; at most 4 in flight per file

absl::Status ErrnoStatus(const std::filesystem::path& path, std::string_view what, int err) {
  std::string msg = StrCat(path.string(), ": ", what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT: return absl::NotFoundError(msg);
    case EEXIST: return absl::AlreadyExistsError(msg);
    case EACCES:
    case EPERM: return absl::PermissionDeniedError(msg);
    case ENOSPC:
    case EFBIG:
    case EDQUOT: return absl::ResourceExhaustedError(msg);
    default: return absl::UnavailableError(msg);
  }
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::filesystem::path& path, uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path, "cannot open", errno);
  auto too_large = [&] {
    ::close(fd);
    return absl::InvalidArgumentError(StrCat(path.string(), ": larger than the ", max_bytes, "-byte limit for this file"));
  };
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes) return too_large();
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoStatus(path, "read failed", err);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) return too_large();  // FIFOs and devices have no size
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

absl::StatusOr<std::filesystem::path> ResolveInsideFolder(const std::filesystem::path& folder, const std::string& name,
                                                          std::string_view where) {
  namespace fs = std::filesystem;
  const fs::path relative(name);
  bool climbs = false;
  for (const fs::path& part : relative) climbs |= part == "..";
  if (name.empty() || relative.is_absolute() || climbs || name.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(StrCat(where, ": '", name, "' is not a file name inside the model folder"));
  }
  std::error_code ec;
  const fs::path root_folder = fs::canonical(folder.empty() ? fs::path(".") : folder, ec);
  if (ec) return folder / relative;  // the caller's open names the missing folder
  fs::path root = root_folder;
  if (root.parent_path().filename() == "snapshots" && fs::is_directory(root.parent_path().parent_path() / "blobs", ec)) {
    root = root.parent_path().parent_path();
  }
  const fs::path target = fs::canonical(root_folder / relative, ec);
  if (ec) return folder / relative;
  auto [r, t] = std::mismatch(root.begin(), root.end(), target.begin(), target.end());
  if (r != root.end()) {
    return absl::InvalidArgumentError(StrCat(where, ": '", name, "' resolves to ", target.string(), ", outside ",
                                             root.string(), " (symlinks may not leave the model folder)"));
  }
  return folder / relative;
}

absl::Status CheckJsonNesting(std::string_view text, std::string_view where) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character cannot end the string
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return absl::DataLossError(StrCat(where, ": JSON nested deeper than ", kMaxJsonDepth, " levels at byte ", i));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return absl::OkStatus();
}

OutputFile::OutputFile(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}

OutputFile::~OutputFile() {
  (void)StopWriter();
  if (fd_ >= 0) ::close(fd_);
}

absl::Status OutputFile::WriteNew(const std::filesystem::path& path, absl::FunctionRef<absl::Status(OutputFile&)> body) {
  QC_ASSIGN_OR_RETURN(std::unique_ptr<OutputFile> out, Create(path));
  absl::Status status = body(*out);
  if (status.ok()) status = out->Close();
  if (!status.ok()) {
    out.reset();  // closes the descriptor
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  return status;
}

absl::StatusOr<std::unique_ptr<OutputFile>> OutputFile::Create(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0644);
  bool direct = fd >= 0;
  if (fd < 0 && errno == EINVAL) {  // e.g. tmpfs: no O_DIRECT; the file was not created
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (fd < 0) return ErrnoStatus(path, "cannot create", errno);
  auto file = std::unique_ptr<OutputFile>(new OutputFile(path, fd));
  file->direct_ = direct;
  file->writer_ = std::thread([f = file.get()] { f->DrainLoop(); });
  return file;
}

void OutputFile::DrainLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return !full_.empty() || closing_; });
    if (full_.empty()) return;  // closing and drained
    std::unique_ptr<Buffer> buf = std::move(full_.front());
    full_.pop_front();
    lock.unlock();
    absl::Status status = WriteBuffer(*buf);
    buf->used = 0;
    lock.lock();
    if (!status.ok() && error_.ok()) error_ = status;
    free_.push_back(std::move(buf));
    changed_.notify_all();
  }
}

absl::Status OutputFile::WriteBuffer(const Buffer& buf) {
  constexpr size_t kAlign = 4096;
  const uint8_t* data = buf.bytes.get();
  size_t left = buf.used;
  while (left > 0) {
    // Only the last buffer of a file can end off a 4 KiB boundary: write its aligned part
    // directly, then drop O_DIRECT for the tail.
    // Some filesystems accept O_DIRECT at open and refuse it at write (EINVAL): go buffered then.
    auto leave_direct = [&]() -> absl::Status {
      int flags = ::fcntl(fd_, F_GETFL);
      if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) != 0) {
        return ErrnoStatus(path_, "cannot leave O_DIRECT", errno);
      }
      direct_ = false;
      return absl::OkStatus();
    };
    if (direct_ && left % kAlign != 0 && left < kAlign) QC_RETURN_IF_ERROR(leave_direct());
    size_t n_try = direct_ ? left - left % kAlign : left;
    ssize_t n = ::write(fd_, data, n_try);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && direct_) {
        QC_RETURN_IF_ERROR(leave_direct());
        continue;
      }
      return ErrnoStatus(path_, "write failed", errno);
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status OutputFile::FirstError() {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

absl::Status OutputFile::Submit() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!error_.ok()) return error_;
  if (filling_ != nullptr && filling_->used > 0) {
    full_.push_back(std::move(filling_));
    changed_.notify_all();
  }
  // Take a free buffer, allocate one while under the cap, or wait for the writer to return one.
  constexpr int kBuffers = 4;
  if (filling_ == nullptr) {
    if (free_.empty() && buffers_out_ < kBuffers) {
      ++buffers_out_;
      lock.unlock();
      filling_ = std::make_unique<Buffer>();
      filling_->bytes.reset(static_cast<uint8_t*>(std::aligned_alloc(4096, kBufferSize)));
      if (filling_->bytes == nullptr) return absl::ResourceExhaustedError(StrCat(path_.string(), ": out of memory"));
      filling_->size = kBufferSize;
      return absl::OkStatus();
    }
    changed_.wait(lock, [&] { return !free_.empty() || !error_.ok(); });
    if (!error_.ok()) return error_;
    filling_ = std::move(free_.front());
    free_.pop_front();
  }
  return absl::OkStatus();
}

absl::Status OutputFile::Write(std::span<const uint8_t> bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError(StrCat(path_.string(), ": write after close"));
  while (!bytes.empty()) {
    if (filling_ == nullptr || filling_->used == filling_->size) QC_RETURN_IF_ERROR(Submit());
    size_t n = std::min(bytes.size(), filling_->size - filling_->used);
    std::memcpy(filling_->bytes.get() + filling_->used, bytes.data(), n);
    filling_->used += n;
    offset_ += n;
    bytes = bytes.subspan(n);
  }
  return absl::OkStatus();
}

absl::Status OutputFile::StopWriter() {
  if (!writer_.joinable()) return FirstError();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (filling_ != nullptr && filling_->used > 0) full_.push_back(std::move(filling_));
    closing_ = true;
    changed_.notify_all();
  }
  writer_.join();
  return FirstError();
}

absl::Status OutputFile::Close() {
  if (fd_ < 0) return absl::OkStatus();
  absl::Status status = StopWriter();
  if (status.ok() && ::fdatasync(fd_) != 0) status = ErrnoStatus(path_, "fsync failed", errno);
  if (::close(fd_) != 0 && status.ok()) status = ErrnoStatus(path_, "close failed", errno);
  fd_ = -1;
  filling_.reset();
  free_.clear();
  return status;
}

absl::Status WriteStringToFile(const std::filesystem::path& path, std::string_view contents) {
  QC_ASSIGN_OR_RETURN(auto file, OutputFile::Create(path));
  QC_RETURN_IF_ERROR(file->Write(contents));
  return file->Close();
}

absl::Status CopyFile(const std::filesystem::path& from, const std::filesystem::path& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return ErrnoStatus(from, "cannot open", errno);
  struct stat st {};
  ::fstat(in, &st);
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    int err = errno;
    ::close(in);
    return ErrnoStatus(to, "cannot create", err);
  }
  absl::Status status;
  off_t remaining = st.st_size;
  while (remaining > 0) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, static_cast<size_t>(remaining), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Fall back to read/write where copy_file_range is not supported (EXDEV, ENOSYS, ...).
      if (n < 0 && errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL) {
        status = ErrnoStatus(to, "copy failed", errno);
        break;
      }
      char buf[1 << 16];
      ssize_t r = 0;
      while (status.ok() && (r = ::read(in, buf, sizeof buf)) > 0) {
        // A full disk first shortens a write (errno untouched), then fails the next one: retry
        // the rest, so the error names the real cause, not a stale errno (EXDEV from above).
        for (ssize_t done = 0; done < r;) {
          const ssize_t w = ::write(out, buf + done, static_cast<size_t>(r - done));
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) {
            status = ErrnoStatus(to, "write failed", w < 0 ? errno : EIO);
            break;
          }
          done += w;
        }
      }
      if (status.ok() && r < 0) status = ErrnoStatus(from, "read failed", errno);
      break;
    }
    remaining -= n;
  }
  if (status.ok() && ::fdatasync(out) != 0) status = ErrnoStatus(to, "fsync failed", errno);
  ::close(in);
  if (::close(out) != 0 && status.ok()) status = ErrnoStatus(to, "close failed", errno);
  return status;
}

absl::StatusOr<uint64_t> ParseByteSize(std::string_view text) {
  std::string s(StripWhitespace(text));
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  size_t pos = 0;
  while (pos < s.size() && (std::isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.')) ++pos;
  std::optional<double> parsed = ParseNumber<double>(std::string_view(s).substr(0, pos));
  double value = parsed.value_or(-1);
  if (value < 0) {
    return absl::InvalidArgumentError(StrCat("not a size: '", text, "' (examples: 5GB, 500MB, 2GiB)"));
  }
  std::string unit(StripWhitespace(std::string_view(s).substr(pos)));
  double mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "K" || unit == "KB") mult = 1e3;
  else if (unit == "M" || unit == "MB") mult = 1e6;
  else if (unit == "G" || unit == "GB") mult = 1e9;
  else if (unit == "T" || unit == "TB") mult = 1e12;
  else if (unit == "KIB") mult = 1024.0;
  else if (unit == "MIB") mult = 1024.0 * 1024;
  else if (unit == "GIB") mult = 1024.0 * 1024 * 1024;
  else if (unit == "TIB") mult = 1024.0 * 1024 * 1024 * 1024;
  else return absl::InvalidArgumentError(StrCat("unknown size unit in '", text, "'"));
  return static_cast<uint64_t>(std::llround(value * mult));
}

std::string FormatBytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrFormat("%.0f B", bytes) : absl::StrFormat("%.2f %s", bytes, kUnits[u]);
}

}  // namespace quantc
