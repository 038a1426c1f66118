#include "lib/cuda/cuda.h"

#include <cuda_runtime.h>

#include <optional>

#include "lib/cuda/matmul_kernels.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/support/strings.h"

namespace quantc::cuda {
namespace {

absl::Status Check(cudaError_t e, std::string_view what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(StrCat("CUDA: ", what, ": ", cudaGetErrorString(e)));
}

std::optional<kernels::Format> FormatOf(DType t) {
  switch (t) {
    case DType::kF32: return kernels::Format::kF32;
    case DType::kF16: return kernels::Format::kF16;
    case DType::kBF16: return kernels::Format::kBF16;
    case DType::kQ8_0: return kernels::Format::kQ8_0;
    case DType::kQ4_0: return kernels::Format::kQ4_0;
    case DType::kQ4_K: return kernels::Format::kQ4_K;
    case DType::kQ6_K: return kernels::Format::kQ6_K;
    case DType::kMXFP4: return kernels::Format::kMXFP4;
    default: return std::nullopt;
  }
}

}  // namespace

absl::Status CheckLaunch(int code, std::string_view what) { return Check(static_cast<cudaError_t>(code), what); }

absl::Status Synchronize() { return Check(cudaDeviceSynchronize(), "kernels"); }

int DeviceCount() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::string DeviceDescription() {
  cudaDeviceProp p{};
  if (DeviceCount() == 0 || cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "no CUDA device";
  return StrCat(p.name, ", sm_", p.major, p.minor, ", ", fmt::format("{:.1f}", p.totalGlobalMem / 1073741824.0), " GiB");
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  DeviceBuffer b;
  if (bytes == 0) return b;
  if (absl::Status s = Check(cudaMalloc(&b.data_, bytes), StrCat("allocating ", bytes, " bytes")); !s.ok()) return s;
  b.size_ = bytes;
  return b;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) cudaFree(data_);
    data_ = o.data_, size_ = o.size_;
    o.data_ = nullptr, o.size_ = 0;
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);
}

absl::Status DeviceBuffer::Upload(std::span<const uint8_t> bytes, size_t offset) {
  if (offset + bytes.size() > size_) return absl::OutOfRangeError("upload past the end of a device buffer");
  return Check(cudaMemcpy(static_cast<uint8_t*>(data_) + offset, bytes.data(), bytes.size(), cudaMemcpyHostToDevice), "upload");
}

absl::Status DeviceBuffer::Download(std::span<uint8_t> bytes, size_t offset) const {
  if (offset + bytes.size() > size_) return absl::OutOfRangeError("download past the end of a device buffer");
  return Check(cudaMemcpy(bytes.data(), static_cast<const uint8_t*>(data_) + offset, bytes.size(), cudaMemcpyDeviceToHost),
               "download");
}

bool HasMatMulKernel(DType dtype) { return FormatOf(dtype).has_value(); }

absl::StatusOr<DeviceWeight> UploadWeight(DType dtype, std::span<const uint8_t> bytes, int64_t rows, int64_t cols) {
  if (!HasMatMulKernel(dtype)) return absl::UnimplementedError(StrCat("no CUDA matmul kernel for ", Name(dtype), " weights"));
  const int64_t align = Traits(dtype).block_elems > 32 ? Traits(dtype).block_elems : 32;
  if (rows <= 0 || cols <= 0 || cols % align != 0) {
    return absl::InvalidArgumentError(StrCat(Name(dtype), " weight [", rows, ", ", cols, "]: the GPU kernels need columns in whole blocks of ", align));
  }
  const uint64_t row_bytes = quantc::kernels::ggml_quants::RowBytes(dtype, cols);
  if (bytes.size() != row_bytes * static_cast<uint64_t>(rows)) {
    return absl::InvalidArgumentError(StrCat(Name(dtype), " weight [", rows, ", ", cols, "] needs ", row_bytes * rows, " bytes, got ", bytes.size()));
  }
  DeviceWeight w{dtype, rows, cols, row_bytes, {}};
  absl::StatusOr<DeviceBuffer> b = DeviceBuffer::Allocate(bytes.size());
  if (!b.ok()) return b.status();
  w.bytes = std::move(*b);
  if (absl::Status s = w.bytes.Upload(bytes); !s.ok()) return s;
  return w;
}

absl::Status MatMul(const DeviceWeight& w, const float* x, int64_t n, float* y) {
  const std::optional<kernels::Format> f = FormatOf(w.dtype);
  if (!f) return absl::UnimplementedError(StrCat("no CUDA matmul kernel for ", Name(w.dtype)));
  if (absl::Status s = CheckLaunch(kernels::LaunchMatMul(*f, w.bytes.data(), w.rows, w.cols,
                                                          static_cast<int64_t>(w.row_bytes), x, n, y),
                                     "matmul launch");
      !s.ok()) {
    return s;
  }
  return Synchronize();
}

}  // namespace quantc::cuda
