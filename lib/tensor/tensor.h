// Tensors as quantc streams them: a TensorInfo (dtype + shape) and a TensorSource that produces
// the bytes on demand, in chunks. Nothing holds a whole checkpoint: readers hand out sources that
// view a mapped file, passes wrap sources in lazy transforms, and writers pull the bytes through
// one tensor at a time, so peak memory is a few chunks whatever the model size.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "lib/dtypes/dtype.h"
#include "lib/support/mapped_file.h"

namespace quantc {

using Shape = std::vector<int64_t>;

// Product of the dims; error on a negative dim or overflow past int64.
absl::StatusOr<uint64_t> NumElements(const Shape& shape);
std::string ShapeToString(const Shape& shape);  // "[384, 1120]"

struct TensorInfo {
  DType dtype = DType::kF32;
  Shape shape;
  // Only for infos already validated by their reader/pass (ByteSize of the dtype and shape is valid).
  uint64_t num_elements() const;
  uint64_t byte_size() const;
  // Rows x columns when viewed as a matrix: rows = product of all dims but the last.
  int64_t rows() const;
  int64_t cols() const;
};
// Validates dtype x shape (overflow, whole storage blocks) and returns the byte size.
absl::StatusOr<uint64_t> CheckedByteSize(const TensorInfo& info);

// Receives consecutive byte ranges of a tensor, in order. Returning an error stops the stream.
using ByteSink = absl::FunctionRef<absl::Status(std::span<const uint8_t>)>;

// Bytes of a tensor, produced on demand. Immutable once built; shared by the model entries and
// lazy transforms that read it.
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // Streams every byte of the tensor, in order, to `sink` in chunks of at most a few MiB.
  virtual absl::Status Stream(ByteSink sink) const = 0;
  // Where the bytes come from, for messages and `inspect`: a file name, or "fp8-to-bf16(...)".
  virtual std::string Describe() const = 0;
  // The mapped bytes, when this source is a plain view of a file (lets small reads skip a copy).
  virtual std::optional<std::span<const uint8_t>> MappedBytes() const { return std::nullopt; }
};

// A view of [offset, offset+size) in a mapped file. Streams in chunks, releasing each chunk's
// pages after the sink consumed it, so a pass-through copy keeps RSS flat.
class MappedTensorSource final : public TensorSource {
 public:
  MappedTensorSource(std::shared_ptr<const MappedFile> file, uint64_t offset, uint64_t size)
      : file_(std::move(file)), offset_(offset), size_(size) {}
  absl::Status Stream(ByteSink sink) const override;
  std::string Describe() const override;
  std::optional<std::span<const uint8_t>> MappedBytes() const override;
  const MappedFile& file() const { return *file_; }
  uint64_t offset() const { return offset_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  uint64_t offset_, size_;
};

// Bytes held in memory (small tensors made by passes, tests).
class OwnedTensorSource final : public TensorSource {
 public:
  explicit OwnedTensorSource(std::vector<uint8_t> bytes, std::string description = "memory")
      : bytes_(std::move(bytes)), description_(std::move(description)) {}
  absl::Status Stream(ByteSink sink) const override { return sink(bytes_); }
  std::string Describe() const override { return description_; }
  std::optional<std::span<const uint8_t>> MappedBytes() const override { return std::span(bytes_); }

 private:
  std::vector<uint8_t> bytes_;
  std::string description_;
};

// Reads a whole tensor into memory — for small tensors (scales, norms), never for weights in bulk.
absl::StatusOr<std::vector<uint8_t>> ReadAll(const TensorSource& source, uint64_t expected_size);
// Decodes `n` elements of a float dtype (F32, F64, BF16, F16, F8_E4M3/E5M2/E8M0) from `raw` into out;
// UNIMPLEMENTED for other dtypes. The one element-wise decoder the lazy casts and readers share.
absl::Status DecodeToF32(DType dtype, const uint8_t* raw, uint64_t n, float* out);
// Reads a whole tensor and converts every element to F32 (dtype must be a float type).
absl::StatusOr<std::vector<float>> ReadAllAsF32(const TensorSource& source, const TensorInfo& info);

// The chunk size sources aim for: large enough for sequential I/O, small enough to keep RSS flat.
inline constexpr uint64_t kStreamChunkBytes = 16u << 20;

}  // namespace quantc
