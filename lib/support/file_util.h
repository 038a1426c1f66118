// Small file helpers that turn every OS error into a Status naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quantc {

absl::StatusOr<std::string> ReadFileToString(const std::filesystem::path& path);

// An output file written front to back through a buffer. Every failure (ENOSPC, EFBIG, EIO)
// comes back as a Status naming the file. Creating refuses to overwrite an existing file.
class OutputFile {
 public:
  static absl::StatusOr<std::unique_ptr<OutputFile>> Create(const std::filesystem::path& path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  absl::Status Write(std::span<const uint8_t> bytes);
  absl::Status Write(std::string_view text) {
    return Write({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  }
  // Bytes accepted so far (buffered or written).
  uint64_t offset() const { return offset_; }
  // Flushes, fsyncs and closes; the file is complete only after this returned OK.
  absl::Status Close();
  const std::filesystem::path& path() const { return path_; }

 private:
  OutputFile(std::filesystem::path path, int fd);
  absl::Status Flush();
  absl::Status WriteFully(const uint8_t* data, size_t size);

  std::filesystem::path path_;
  int fd_;
  std::vector<uint8_t> buffer_;
  size_t buffered_ = 0;
  uint64_t offset_ = 0;
};

// Writes `contents` to a new file in one go (through OutputFile).
absl::Status WriteStringToFile(const std::filesystem::path& path, std::string_view contents);
// Copies a regular file byte for byte (copy_file_range when the kernel allows).
absl::Status CopyFile(const std::filesystem::path& from, const std::filesystem::path& to);

// "5GB", "500MB", "1.5GiB", "4096" -> bytes. Decimal units are powers of 1000, binary ones of 1024.
absl::StatusOr<uint64_t> ParseByteSize(std::string_view text);
// 1536 -> "1.50 KiB".
std::string FormatBytes(double bytes);

}  // namespace quantc
