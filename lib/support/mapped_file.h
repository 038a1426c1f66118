// A read-only memory mapping of a whole file, shared by the tensor views that point into it.
// Pages are released after use (MADV_DONTNEED) so that streaming through a file larger than
// RAM keeps the resident set flat: a read-only private file mapping simply re-faults from the
// page cache if touched again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "absl/status/statusor.h"

namespace quantc {

class MappedFile {
 public:
  static absl::StatusOr<std::shared_ptr<const MappedFile>> Open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  uint64_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, static_cast<size_t>(size_)}; }

  // Hints the kernel that [offset, offset+length) will be read sequentially soon.
  void WillNeed(uint64_t offset, uint64_t length) const;
  // Drops the resident pages wholly inside [offset, offset+length) from this process.
  void Release(uint64_t offset, uint64_t length) const;

 private:
  MappedFile(std::filesystem::path path, const uint8_t* data, uint64_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::filesystem::path path_;
  const uint8_t* data_;
  uint64_t size_;
};

}  // namespace quantc
