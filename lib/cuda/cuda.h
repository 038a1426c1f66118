// quantc's CUDA backend (built when nvcc is found; run on the device machine): device memory and
// the weight-stored matmul. Weights are uploaded in their stored format (F32/F16/BF16 and ggml
// block types) and decoded inside the matmul kernel (matmul_kernels.cu), never expanded in
// device memory. No CUDA types in this header: C++ callers see absl::Status and raw device
// pointers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/dtypes/dtype.h"

namespace quantc::cuda {

// The number of CUDA devices (0 without a driver or device: not an error) and a description of
// device 0 ("NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB").
int DeviceCount();
std::string DeviceDescription();

// A kernel launch's return code (kernels::Launch*: a CUDA error, 0 = success) as a Status naming
// `what`; Synchronize waits for the device and reports what went wrong in the kernels since.
absl::Status CheckLaunch(int code, std::string_view what);
absl::Status Synchronize();

// Device memory, freed with the object. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes);
  DeviceBuffer(DeviceBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr, o.size_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  absl::Status Upload(std::span<const uint8_t> bytes, size_t offset = 0);
  absl::Status Download(std::span<uint8_t> bytes, size_t offset = 0) const;
  void* data() const { return data_; }
  size_t size() const { return size_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// A weight matrix [rows = out, cols = in] on the device in its stored format.
struct DeviceWeight {
  DType dtype = DType::kF32;
  int64_t rows = 0, cols = 0;
  uint64_t row_bytes = 0;
  DeviceBuffer bytes;
};
bool HasMatMulKernel(DType dtype);
// UNIMPLEMENTED for a dtype without a kernel; INVALID_ARGUMENT when the bytes do not fill
// [rows, cols] or cols is not whole blocks of 32 (256 for K-quants).
absl::StatusOr<DeviceWeight> UploadWeight(DType dtype, std::span<const uint8_t> bytes, int64_t rows, int64_t cols);

// y[t * rows + r] = sum_c x[t * cols + c] * W[r, c] for t < n; x [n, cols] and y [n, rows] are
// device FP32. Synchronous (waits for the kernels, reports their errors).
absl::Status MatMul(const DeviceWeight& w, const float* x, int64_t n, float* y);

}  // namespace quantc::cuda
