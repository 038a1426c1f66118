// quantc's CUDA backend (built when nvcc is found; run on the device machine): device memory and
// the weight-stored matmul. Weights are uploaded in their stored format (F32/F16/BF16, block FP8
// with its scale grid, ggml block types, compressed-tensors packed int4/int8 and FP4 with their
// scales) and decoded inside the matmul kernel (matmul_kernels.cu), never expanded in device
// memory; a prefill's matmul (n >= kBlasMinTokens) decodes row tiles into a bounded scratch for
// cuBLAS (blas.h). No CUDA types in this header: C++ callers see absl::Status and raw device
// pointers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/cuda/matmul_kernels.h"
#include "lib/dtypes/dtype.h"
#include "lib/kernels/fp4/fp4.h"

struct CUstream_st;
struct CUgraphExec_st;

namespace quantc::cuda {

// The number of CUDA devices (0 without a driver or device: not an error) and a description of
// device 0 ("NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB").
int DeviceCount();
std::string DeviceDescription();

// A stream's cuBLAS handle and the scratch its GEMMs dequantize weights into (blas.cc).
class BlasContext;
struct BlasContextDeleter {
  void operator()(BlasContext* c) const;
};

// Work queued in order on the device (cudaStream_t). Move-only; work on it is not waited for at
// destruction (Synchronize first).
class Stream {
 public:
  Stream() = default;  // none yet (Create makes one)
  static absl::StatusOr<Stream> Create();
  Stream(Stream&& o) noexcept : s_(o.s_), blas_(std::move(o.blas_)) { o.s_ = nullptr; }
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();
  CUstream_st* get() const { return s_; }
  // Waits for the stream's work; reports what went wrong in its kernels.
  absl::Status Synchronize() const;
  // The stream's cuBLAS state, made on its first GEMM (blas.cc) and kept until the stream goes:
  // one handle and one scratch per stream, so streams never share a scratch.
  absl::StatusOr<BlasContext*> Blas() const;

 private:
  CUstream_st* s_ = nullptr;
  mutable std::unique_ptr<BlasContext, BlasContextDeleter> blas_;
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
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Page-locked host memory, for copies that overlap the device's work, mapped into the device's
// address space: kernels may read and write it in place (device_as), with no copy queued — a few
// bytes a decode step (the token ids in, the arg-max out), where a copy's own latency would count.
// Move-only.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  static absl::StatusOr<PinnedBuffer> Allocate(size_t bytes);
  PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), device_(o.device_), size_(o.size_) {
    o.data_ = o.device_ = nullptr, o.size_ = 0;
  }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer();
  template <typename T>
  std::span<T> as() const {
    return {static_cast<T*>(data_), size_ / sizeof(T)};
  }
  std::span<uint8_t> bytes() const { return {static_cast<uint8_t*>(data_), size_}; }
  // The same memory as the device addresses it. A kernel's writes there are visible to the host
  // once the stream has been synchronized; the host's, to kernels launched after them.
  template <typename T>
  T* device_as() const {
    return static_cast<T*>(device_);
  }

 private:
  void* data_ = nullptr;
  void* device_ = nullptr;
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
  // The codes' type: the stored dtype; kF8E4M3 for block FP8, kI32 for packed integers (their
  // words), kF4 for FP4 codes.
  DType dtype = DType::kF32;
  kernels::Format format = kernels::Format::kF32;
  int64_t rows = 0, cols = 0;
  // A row's bytes on the device, and in the stored format: they differ where rows are laid out for
  // aligned loads (Q6_K: kernels::Q6KDeviceRowBytes, 16-byte rows).
  uint64_t row_bytes = 0, stored_row_bytes = 0;
  DeviceBuffer bytes;
  // Scales stored beside the codes. Block FP8: the F32 grid [ceil(rows / scale_block_rows),
  // scale_cols]. Packed integers: F32 [rows, scale_cols], one per group_size columns, and their
  // zero points (bytes, same shape) in `zeros`, empty when symmetric. FP4: the scale bytes [rows,
  // scale_cols] (E8M0 / E4M3) and NVFP4's per-tensor multiplier `global`.
  DeviceBuffer scales, zeros;
  int64_t scale_cols = 0, scale_block_rows = 0, group_size = 0;
  float global = 1.0f;
  // The kernels' view of it: the weight fields of MatMulArgs (x, y and the output left unset).
  kernels::MatMulArgs Args() const;
};
bool HasMatMulKernel(DType dtype);
// UNIMPLEMENTED for a dtype without a kernel; INVALID_ARGUMENT when the bytes do not fill
// [rows, cols] or cols is not whole blocks of 32 (256 for K-quants). Q6_K rows are laid out apart
// (kernels::Q6KDeviceRowBytes); every other format keeps its stored bytes as they are.
absl::StatusOr<DeviceWeight> UploadWeight(DType dtype, std::span<const uint8_t> bytes, int64_t rows, int64_t cols);
// DeepSeek's block FP8: E4M3 codes [rows, cols] and one F32 scale per block_rows x 128 block.
// INVALID_ARGUMENT unless blocks are 128 columns wide and cols is whole units of 32.
absl::StatusOr<DeviceWeight> UploadFp8BlockWeight(std::span<const uint8_t> codes, std::span<const float> scales,
                                                  int64_t rows, int64_t cols, int64_t block_rows, int64_t block_cols);
// compressed-tensors pack-quantized integers as kernels::MakePackedIntWeight reads them
// (lib/ir/packed_int.h): row r's codes cols · bits / 32 little-endian words, element c in bits
// [c·bits, c·bits + bits); weight (r, c) = scales[r · groups + c / group_size] · (q − zero), zero
// = zeros[the same index], or 2^(bits − 1) when `zeros` is empty (symmetric); groups =
// ceil(cols / group_size), the last one ragged when group_size does not divide cols (group_size =
// cols: one scale per output channel). HasPackedIntKernel: bits 4 or 8, cols and group_size
// whole units of 16. INVALID_ARGUMENT for a shape it refuses or spans that do not fit.
bool HasPackedIntKernel(int bits, int64_t cols, int64_t group_size);
absl::StatusOr<DeviceWeight> UploadPackedIntWeight(std::span<const uint8_t> packed, int bits, int64_t rows,
                                                   int64_t cols, int64_t group_size, std::span<const float> scales,
                                                   std::span<const uint8_t> zeros);
// FP4 (E2M1) in the safetensors layouts lib/ir/fp4_weight.h reads, as kernels::MakeFp4Weight
// takes them: codes two per byte along a row (element 2j in the low nibble), rows back to back;
// one scale byte per group, [rows, cols / group] (MXFP4: E8M0 per 32; NVFP4: E4M3 per 16, times
// `global`, the per-tensor multiplier). HasFp4Kernel: cols whole groups and units of 16.
// INVALID_ARGUMENT for a shape it refuses or spans that do not fit.
bool HasFp4Kernel(quantc::kernels::fp4::Fp4Format format, int64_t cols);
absl::StatusOr<DeviceWeight> UploadFp4Weight(quantc::kernels::fp4::Fp4Format format, std::span<const uint8_t> codes,
                                             std::span<const uint8_t> scales, float global, int64_t rows, int64_t cols);

// Where a matmul writes: y[t * ldy + r] (ldy 0 = rows), plus bias[r] if given, added to what y
// holds if `accumulate` (the residual add).
struct MatMulOutput {
  int64_t ldy = 0;
  const float* bias = nullptr;
  bool accumulate = false;
};
// One token's x [cols] split into two planes of bytes (kernels::LaunchSplitX), which the one-token
// kernels of Q4_K and Q6_K multiply with integer dot products: made once per input row (Split, or the
// kernel that makes x: kernels::LaunchRmsNorm, LaunchSiluMul, one token's attention), read by every
// product of that row (MatMul's `split`). Each value is carried to within 1/508 of its 16-value
// unit's largest / 127, and the product is the FP32 one's on x so rounded. Move-only; one stream at
// a time.
class SplitInput {
 public:
  static absl::StatusOr<SplitInput> Allocate(int64_t cols);
  // Splits x [cols] (device FP32), queued on `stream`; or a kernel that writes it (Out()) does.
  absl::Status Split(const float* x, const Stream& stream) const;
  kernels::SplitOut Out() const;
  int64_t cols() const { return cols_; }

 private:
  DeviceBuffer buffer_;  // the planes, then the units
  int64_t cols_ = 0;
};

// y[t * ldy + r] = sum_c x[t * cols + c] * W[r, c] for t < n; x [n, cols] and y are device FP32.
// Queued on `stream` (null: the legacy default stream); launch errors are reported here, kernel
// errors by the next synchronization. From kBlasMinTokens tokens on a stream, cuBLAS computes it
// (BlasMatMul, blas.h: TF32 tensor cores on FP32 tiles of the weight); else the matmul kernel, in
// FP32. `split`: x as SplitInput made it (one token), for the kernels that read it.
absl::Status MatMul(const DeviceWeight& w, const float* x, int64_t n, float* y, const MatMulOutput& out = {},
                    const Stream* stream = nullptr, const SplitInput* split = nullptr);

// out [n, cols] (device FP32) = rows ids[p .. p + n) of `table` (an embedding) for p = *step,
// decoded on the device as the matmul kernels decode them, and *pos = p (kernels::LaunchEmbedRows).
// ids (each below table.rows: the caller checks) and step may be mapped pinned memory
// (PinnedBuffer::device_as). Queued on `stream`.
absl::Status EmbedRows(const DeviceWeight& table, const int32_t* ids, const int32_t* step, int64_t n, int32_t* pos,
                       float* out, const Stream& stream);

// One token's products of two weights that read the same x (its split made) in one launch
// (kernels::LaunchMatVecPair: the integer kernels of Q4_K and Q6_K side by side). Returns false,
// having launched nothing, where the pair has no such kernel: the caller multiplies them apart.
absl::StatusOr<bool> MatVecPair(const DeviceWeight& a, float* ya, const MatMulOutput& out_a, const DeviceWeight& b,
                                float* yb, const MatMulOutput& out_b, const float* x, const SplitInput& split,
                                const Stream& stream);

}  // namespace quantc::cuda
