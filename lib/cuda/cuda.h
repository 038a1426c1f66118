// quantc's CUDA backend (built when nvcc is found; run on the device machine): device memory and
// the weight-stored matmul. Weights are uploaded in their stored format (F32/F16/BF16, block FP8
// with its scale grid, ggml block types) and decoded inside the matmul kernel (matmul_kernels.cu), never expanded in
// device memory. No CUDA types in this header: C++ callers see absl::Status and raw device
// pointers.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/dtypes/dtype.h"

struct CUstream_st;
struct CUgraphExec_st;

namespace quantc::cuda {

// The number of CUDA devices (0 without a driver or device: not an error) and a description of
// device 0 ("NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB").
int DeviceCount();
std::string DeviceDescription();

// Work queued in order on the device (cudaStream_t). Move-only; work on it is not waited for at
// destruction (Synchronize first).
class Stream {
 public:
  Stream() = default;  // none yet (Create makes one)
  static absl::StatusOr<Stream> Create();
  Stream(Stream&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();
  CUstream_st* get() const { return s_; }
  // Waits for the stream's work; reports what went wrong in its kernels.
  absl::Status Synchronize() const;

 private:
  CUstream_st* s_ = nullptr;
};

// A kernel launch's return code (kernels::Launch*: a CUDA error, 0 = success) as a Status naming
// `what`; Synchronize waits for the device and reports what went wrong in the kernels since.
absl::Status CheckLaunch(int code, std::string_view what);
absl::Status Synchronize();

// Device memory, freed with the object. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes);
  // A copy of `bytes` (plus `slack` unwritten bytes past them).
  static absl::StatusOr<DeviceBuffer> FromHost(std::span<const uint8_t> bytes, size_t slack = 0);
  DeviceBuffer(DeviceBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr, o.size_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  absl::Status Upload(std::span<const uint8_t> bytes, size_t offset = 0);
  absl::Status Download(std::span<uint8_t> bytes, size_t offset = 0) const;
  // Queued on `stream`: the host memory must stay valid (and, for true overlap, be pinned:
  // PinnedBuffer) until the stream gets there.
  absl::Status UploadAsync(std::span<const uint8_t> bytes, const Stream& stream, size_t offset = 0);
  absl::Status DownloadAsync(std::span<uint8_t> bytes, const Stream& stream, size_t offset = 0) const;
  void* data() const { return data_; }
  size_t size() const { return size_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Page-locked host memory, for copies that overlap the device's work. Move-only.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  static absl::StatusOr<PinnedBuffer> Allocate(size_t bytes);
  PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr, o.size_ = 0; }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer();
  template <typename T>
  std::span<T> as() const { return {static_cast<T*>(data_), size_ / sizeof(T)}; }
  std::span<uint8_t> bytes() const { return {static_cast<uint8_t*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// A recorded sequence of the stream's work (CUDA graph), replayed with one launch: a decode step's
// few hundred small kernels without a host round trip each. Move-only.
class Graph {
 public:
  Graph() = default;
  // Records what `enqueue` queues on `stream` (nothing runs), then instantiates it.
  static absl::StatusOr<Graph> Capture(const Stream& stream, const std::function<absl::Status()>& enqueue);
  Graph(Graph&& o) noexcept : exec_(o.exec_) { o.exec_ = nullptr; }
  Graph& operator=(Graph&& o) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  ~Graph();
  explicit operator bool() const { return exec_ != nullptr; }
  absl::Status Launch(const Stream& stream) const;

 private:
  CUgraphExec_st* exec_ = nullptr;
};

// Device-to-device copy bandwidth in bytes per second, counting bytes read and written (the
// bandwidth bound's denominator): the median of `reps` copies of `bytes` after a warm-up.
absl::StatusOr<double> MeasureCopyBandwidth(size_t bytes, int reps);

// A weight matrix [rows = out, cols = in] on the device in its stored format.
struct DeviceWeight {
  DType dtype = DType::kF32;
  int64_t rows = 0, cols = 0;
  uint64_t row_bytes = 0;
  DeviceBuffer bytes;
  // Block-scaled FP8 (dtype kF8E4M3): the F32 scale grid [ceil(rows / block_rows), scale_cols].
  DeviceBuffer scales;
  int64_t scale_cols = 0, scale_block_rows = 0;
};
bool HasMatMulKernel(DType dtype);
// UNIMPLEMENTED for a dtype without a kernel; INVALID_ARGUMENT when the bytes do not fill
// [rows, cols] or cols is not whole blocks of 32 (256 for K-quants).
absl::StatusOr<DeviceWeight> UploadWeight(DType dtype, std::span<const uint8_t> bytes, int64_t rows, int64_t cols);
// DeepSeek's block FP8: E4M3 codes [rows, cols] and one F32 scale per block_rows x 128 block.
// INVALID_ARGUMENT unless blocks are 128 columns wide and cols is whole units of 32.
absl::StatusOr<DeviceWeight> UploadFp8BlockWeight(std::span<const uint8_t> codes, std::span<const float> scales,
                                                  int64_t rows, int64_t cols, int64_t block_rows, int64_t block_cols);

// Where a matmul writes: y[t * ldy + r] (ldy 0 = rows), plus bias[r] if given, added to what y
// holds if `accumulate` (the residual add).
struct MatMulOutput {
  int64_t ldy = 0;
  const float* bias = nullptr;
  bool accumulate = false;
};
// y[t * ldy + r] = sum_c x[t * cols + c] * W[r, c] for t < n; x [n, cols] and y are device FP32.
// Queued on `stream` (null: the legacy default stream); launch errors are reported here, kernel
// errors by the next synchronization.
absl::Status MatMul(const DeviceWeight& w, const float* x, int64_t n, float* y, const MatMulOutput& out = {},
                    const Stream* stream = nullptr);

}  // namespace quantc::cuda
