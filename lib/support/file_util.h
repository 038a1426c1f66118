// Small file helpers that turn every OS error into a Status naming the file.
#pragma once

#include <condition_variable>
#include <cstdlib>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quantc {

// Side files (configs, tokenizers, indexes, ONNX graphs) are read whole: at most max_bytes, so a
// hostile or mistaken file (a 1 GB string, /dev/zero named config.json) is refused with an error
// naming it instead of exhausting memory.
inline constexpr uint64_t kMaxTextFileBytes = uint64_t{256} << 20;
absl::StatusOr<std::string> ReadFileToString(const std::filesystem::path& path, uint64_t max_bytes = kMaxTextFileBytes);

// A file a model names inside itself (a shard in an index, ONNX external data, a GGUF split
// sibling, a companion file), resolved in `folder`: `name` is relative with no ".." component,
// and its target after every symlink lies inside the model's folder — or, for a Hugging Face cache
// snapshot (models--org--name/snapshots/REV/, whose files link to ../../blobs/), inside that
// repository folder. Else INVALID_ARGUMENT naming `where`. A missing target is returned as is
// (the caller's open reports it).
absl::StatusOr<std::filesystem::path> ResolveInsideFolder(const std::filesystem::path& folder, const std::string& name,
                                                          std::string_view where);

// JSON nesting is bounded before parsing: nlohmann parses iteratively, but dumping, copying and
// comparing recurse once per level, so a config of a million '[' would parse and then overflow
// the stack when written back. DATA_LOSS naming `where` past kMaxJsonDepth levels.
inline constexpr int kMaxJsonDepth = 100;
absl::Status CheckJsonNesting(std::string_view text, std::string_view where);

// An output file written front to back. Writes are copied into a small ring of buffers that a
// background thread drains with write(2), so the caller computes the next chunk while the previous
// one is written. Where the filesystem allows, the file is opened O_DIRECT: data goes from our
// aligned buffers to the device without the kernel copying it into the page cache, which on a
// 2-core machine cost as much CPU as the conversion itself (docs/results.md), and without
// filling the cache with output nobody reads back.
// Every failure (ENOSPC, EFBIG, EIO) comes back, from the next Write or from Close, as a Status
// naming the file. Creating refuses to overwrite an existing file.
class OutputFile {
 public:
  static absl::StatusOr<std::unique_ptr<OutputFile>> Create(const std::filesystem::path& path);
  // Creates `path`, lets `body` write it, and closes it; on any failure the partial file (ours,
  // since Create refuses existing files) is removed and the first error returned.
  static absl::Status WriteNew(const std::filesystem::path& path, absl::FunctionRef<absl::Status(OutputFile&)> body);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  absl::Status Write(std::span<const uint8_t> bytes);  // copies; `bytes` may be reused at once
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
  void DrainLoop();                  // the writer thread
  absl::Status Submit();             // hands the filling buffer to the writer thread
  absl::Status FirstError();
  absl::Status StopWriter();         // drains, joins, returns the writer's first error

  // 4 KiB-aligned, so full buffers can go to an O_DIRECT descriptor as they are.
  struct Buffer {
    std::unique_ptr<uint8_t, void (*)(void*)> bytes{nullptr, &std::free};
    size_t size = 0;
    size_t used = 0;
  };
  absl::Status WriteBuffer(const Buffer& buf);  // on the writer thread
  std::filesystem::path path_;
  int fd_;
  bool direct_ = false;              // fd_ has O_DIRECT (cleared before an unaligned tail)
  uint64_t offset_ = 0;
  std::unique_ptr<Buffer> filling_;  // owned by the caller's thread
  // Shared with the writer thread, under mutex_.
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<Buffer>> full_, free_;
  int buffers_out_ = 0;              // buffers allocated (bounded by kBuffers)
  bool closing_ = false;
  absl::Status error_;
  std::thread writer_;
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
