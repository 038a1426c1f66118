#include "lib/tensor/tensor.h"

#include <cstring>

#include "lib/support/strings.h"
#include "absl/strings/str_join.h"
#include "lib/dtypes/float_convert.h"
#include "lib/support/status_macros.h"

namespace quantc {

absl::StatusOr<uint64_t> NumElements(const Shape& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return absl::InvalidArgumentError(StrCat("negative dimension in shape ", ShapeToString(shape)));
    if (d != 0 && n > static_cast<uint64_t>(INT64_MAX) / static_cast<uint64_t>(d)) {
      return absl::InvalidArgumentError(StrCat("element count of shape ", ShapeToString(shape), " overflows"));
    }
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

std::string ShapeToString(const Shape& shape) { return StrCat("[", absl::StrJoin(shape, ", "), "]"); }

uint64_t TensorInfo::num_elements() const { return NumElements(shape).value_or(0); }
uint64_t TensorInfo::byte_size() const { return ByteSize(dtype, num_elements()).value_or(0); }
int64_t TensorInfo::cols() const { return shape.empty() ? 1 : shape.back(); }
int64_t TensorInfo::rows() const {
  int64_t r = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) r *= shape[i];
  return r;
}

absl::StatusOr<uint64_t> CheckedByteSize(const TensorInfo& info) {
  QC_ASSIGN_OR_RETURN(uint64_t n, NumElements(info.shape));
  return ByteSize(info.dtype, n);
}

absl::Status MappedTensorSource::Stream(ByteSink sink) const {
  std::span<const uint8_t> all = file_->bytes().subspan(offset_, size_);
  for (uint64_t pos = 0, n = 0; pos < size_; pos += n) {  // an empty tensor streams nothing
    n = std::min(kStreamChunkBytes, size_ - pos);
    if (pos + n < size_) file_->WillNeed(offset_ + pos + n, std::min(kStreamChunkBytes, size_ - pos - n));
    QC_RETURN_IF_ERROR(sink(all.subspan(pos, n)));
    file_->Release(offset_ + pos, n);
  }
  return absl::OkStatus();
}

std::string MappedTensorSource::Describe() const { return file_->path().filename().string(); }

std::optional<std::span<const uint8_t>> MappedTensorSource::MappedBytes() const {
  return file_->bytes().subspan(offset_, size_);
}

absl::StatusOr<std::vector<uint8_t>> ReadAll(const TensorSource& source, uint64_t expected_size) {
  std::vector<uint8_t> out;
  out.reserve(expected_size);
  QC_RETURN_IF_ERROR(source.Stream([&](std::span<const uint8_t> chunk) {
    out.insert(out.end(), chunk.begin(), chunk.end());
    return absl::OkStatus();
  }));
  if (out.size() != expected_size) {
    return absl::InternalError(StrCat(source.Describe(), ": produced ", out.size(), " bytes, expected ",
                                            expected_size));
  }
  return out;
}

absl::Status DecodeToF32(DType dtype, const uint8_t* raw, uint64_t n, float* out) {
  auto load16 = [&](uint64_t i) {
    uint16_t v;
    std::memcpy(&v, raw + 2 * i, 2);
    return v;
  };
  switch (dtype) {
    case DType::kF32: std::memcpy(out, raw, n * 4); break;
    case DType::kF64:
      for (uint64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, raw + 8 * i, 8);
        out[i] = static_cast<float>(v);
      }
      break;
    case DType::kBF16: for (uint64_t i = 0; i < n; ++i) out[i] = BF16ToF32(load16(i)); break;
    case DType::kF16: for (uint64_t i = 0; i < n; ++i) out[i] = F16ToF32(load16(i)); break;
    case DType::kF8E4M3: for (uint64_t i = 0; i < n; ++i) out[i] = F8E4M3ToF32(raw[i]); break;
    case DType::kF8E5M2: for (uint64_t i = 0; i < n; ++i) out[i] = F8E5M2ToF32(raw[i]); break;
    case DType::kF8E8M0: for (uint64_t i = 0; i < n; ++i) out[i] = F8E8M0ToF32(raw[i]); break;
    default: return absl::UnimplementedError(StrCat("cannot read ", Name(dtype), " as F32"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> ReadAllAsF32(const TensorSource& source, const TensorInfo& info) {
  QC_ASSIGN_OR_RETURN(uint64_t bytes, CheckedByteSize(info));
  QC_ASSIGN_OR_RETURN(std::vector<uint8_t> raw, ReadAll(source, bytes));
  std::vector<float> out(info.num_elements());
  if (absl::Status s = DecodeToF32(info.dtype, raw.data(), out.size(), out.data()); !s.ok()) {
    return absl::Status(s.code(), StrCat(source.Describe(), ": ", s.message()));
  }
  return out;
}

}  // namespace quantc
