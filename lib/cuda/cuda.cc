#include "lib/cuda/cuda.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "lib/cuda/blas.h"
#include "lib/cuda/matmul_kernels.h"
#include "lib/kernels/ggml_quants/blocks.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/support/status_macros.h"
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
    case DType::kQ5_K: return kernels::Format::kQ5_K;
    case DType::kQ6_K: return kernels::Format::kQ6_K;
    case DType::kMXFP4: return kernels::Format::kMXFP4;
    case DType::kF8E4M3: return kernels::Format::kFp8Block;
    default: return std::nullopt;
  }
}

}  // namespace

absl::Status CheckLaunch(int code, std::string_view what) { return Check(static_cast<cudaError_t>(code), what); }

absl::Status Synchronize() { return Check(cudaDeviceSynchronize(), "kernels"); }

absl::StatusOr<Stream> Stream::Create() {
  Stream s;
  if (absl::Status st = Check(cudaStreamCreate(&s.s_), "creating a stream"); !st.ok()) return st;
  return s;
}

// The cuBLAS handle goes before the stream it is bound to.
Stream& Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    blas_.reset();
    if (s_ != nullptr) cudaStreamDestroy(s_);
    s_ = o.s_;
    blas_ = std::move(o.blas_);
    o.s_ = nullptr;
  }
  return *this;
}

Stream::~Stream() {
  blas_.reset();
  if (s_ != nullptr) cudaStreamDestroy(s_);
}

absl::Status Stream::Synchronize() const { return Check(cudaStreamSynchronize(s_), "kernels"); }

absl::StatusOr<PinnedBuffer> PinnedBuffer::Allocate(size_t bytes) {
  PinnedBuffer b;
  if (bytes == 0) return b;
  QC_RETURN_IF_ERROR(
      Check(cudaHostAlloc(&b.data_, bytes, cudaHostAllocMapped), StrCat("allocating ", bytes, " pinned bytes")));
  b.size_ = bytes;
  QC_RETURN_IF_ERROR(Check(cudaHostGetDevicePointer(&b.device_, b.data_, 0), "mapping pinned memory"));
  return b;
}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) cudaFreeHost(data_);
    data_ = o.data_, device_ = o.device_, size_ = o.size_;
    o.data_ = o.device_ = nullptr, o.size_ = 0;
  }
  return *this;
}

PinnedBuffer::~PinnedBuffer() {
  if (data_ != nullptr) cudaFreeHost(data_);
}

absl::StatusOr<Graph> Graph::Capture(const Stream& stream, const std::function<absl::Status()>& enqueue) {
  if (absl::Status s = Check(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal), "graph capture");
      !s.ok()) {
    return s;
  }
  const absl::Status queued = enqueue();
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream.get(), &graph);
  if (!queued.ok()) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    return queued;
  }
  if (absl::Status s = Check(ended, "graph capture"); !s.ok()) return s;
  Graph g;
  const cudaError_t made = cudaGraphInstantiate(&g.exec_, graph, 0);
  cudaGraphDestroy(graph);
  if (absl::Status s = Check(made, "graph instantiation"); !s.ok()) return s;
  return g;
}

Graph& Graph::operator=(Graph&& o) noexcept {
  if (this != &o) {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
    exec_ = o.exec_;
    o.exec_ = nullptr;
  }
  return *this;
}

Graph::~Graph() {
  if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
}

absl::Status Graph::Launch(const Stream& stream) const {
  return Check(cudaGraphLaunch(exec_, stream.get()), "graph launch");
}

absl::StatusOr<double> MeasureCopyBandwidth(size_t bytes, int reps) {
  absl::StatusOr<DeviceBuffer> a = DeviceBuffer::Allocate(bytes), b = DeviceBuffer::Allocate(bytes);
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  if (absl::Status s = Check(cudaMemset(a->data(), 0x5A, bytes), "memset"); !s.ok()) return s;
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<float> ms;
  for (int r = -1; r < reps; ++r) {  // r = -1: the warm-up
    cudaEventRecord(start);
    cudaMemcpy(b->data(), a->data(), bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    if (absl::Status s = Check(cudaEventSynchronize(stop), "copy"); !s.ok()) return s;
    float t = 0;
    cudaEventElapsedTime(&t, start, stop);
    if (r >= 0) ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return 2.0 * static_cast<double>(bytes) / (ms[ms.size() / 2] * 1e-3);
}

int DeviceCount() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::string DeviceDescription() {
  cudaDeviceProp p{};
  if (DeviceCount() == 0 || cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "no CUDA device";
  return StrCat(p.name, ", sm_", p.major, p.minor, ", ", fmt::format("{:.1f}", p.totalGlobalMem / 1073741824.0),
                " GiB");
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  DeviceBuffer b;
  if (bytes == 0) return b;
  if (absl::Status s = Check(cudaMalloc(&b.data_, bytes), StrCat("allocating ", bytes, " bytes")); !s.ok()) return s;
  b.size_ = bytes;
  return b;
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::FromHost(std::span<const uint8_t> bytes, size_t slack) {
  absl::StatusOr<DeviceBuffer> b = Allocate(bytes.size() + slack);
  if (!b.ok()) return b.status();
  if (absl::Status s = b->Upload(bytes); !s.ok()) return s;
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
  return Check(cudaMemcpy(static_cast<uint8_t*>(data_) + offset, bytes.data(), bytes.size(), cudaMemcpyHostToDevice),
               "upload");
}

absl::Status DeviceBuffer::UploadAsync(std::span<const uint8_t> bytes, const Stream& stream, size_t offset) {
  if (offset + bytes.size() > size_) return absl::OutOfRangeError("upload past the end of a device buffer");
  return Check(cudaMemcpyAsync(static_cast<uint8_t*>(data_) + offset, bytes.data(), bytes.size(),
                               cudaMemcpyHostToDevice, stream.get()),
               "upload");
}

absl::Status DeviceBuffer::DownloadAsync(std::span<uint8_t> bytes, const Stream& stream, size_t offset) const {
  if (offset + bytes.size() > size_) return absl::OutOfRangeError("download past the end of a device buffer");
  return Check(cudaMemcpyAsync(bytes.data(), static_cast<const uint8_t*>(data_) + offset, bytes.size(),
                               cudaMemcpyDeviceToHost, stream.get()),
               "download");
}

absl::Status DeviceBuffer::Download(std::span<uint8_t> bytes, size_t offset) const {
  if (offset + bytes.size() > size_) return absl::OutOfRangeError("download past the end of a device buffer");
  return Check(
      cudaMemcpy(bytes.data(), static_cast<const uint8_t*>(data_) + offset, bytes.size(), cudaMemcpyDeviceToHost),
      "download");
}

bool HasMatMulKernel(DType dtype) { return FormatOf(dtype).has_value(); }

namespace {

// Q6_K rows as the device keeps them (kernels::Q6KDeviceRowBytes): each row's blocks' ql, then
// their qh, scales and d, rows padded to 16 bytes.
std::vector<uint8_t> Q6KRowsApart(std::span<const uint8_t> stored, int64_t rows, int64_t cols) {
  using quantc::kernels::ggml_quants::BlockQ6_K;
  static_assert(sizeof(BlockQ6_K) == kernels::kQ6KBlockBytes);
  const int64_t nb = cols / 256, row_bytes = kernels::Q6KDeviceRowBytes(cols);
  std::vector<uint8_t> out(static_cast<size_t>(rows * row_bytes));
  for (int64_t r = 0; r < rows; ++r) {
    const auto* in = reinterpret_cast<const BlockQ6_K*>(stored.data()) + r * nb;
    uint8_t* row = out.data() + r * row_bytes;
    uint8_t* qh = row + kernels::kQ6KQlBytes * nb;
    uint8_t* scales = qh + kernels::kQ6KQhBytes * nb;
    uint8_t* d = scales + kernels::kQ6KScaleBytes * nb;
    for (int64_t b = 0; b < nb; ++b) {
      std::memcpy(row + kernels::kQ6KQlBytes * b, in[b].ql, kernels::kQ6KQlBytes);
      std::memcpy(qh + kernels::kQ6KQhBytes * b, in[b].qh, kernels::kQ6KQhBytes);
      std::memcpy(scales + kernels::kQ6KScaleBytes * b, in[b].scales, kernels::kQ6KScaleBytes);
      std::memcpy(d + kernels::kQ6KDBytes * b, &in[b].d, kernels::kQ6KDBytes);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<DeviceWeight> UploadWeight(DType dtype, std::span<const uint8_t> bytes, int64_t rows, int64_t cols) {
  if (!HasMatMulKernel(dtype)) {
    return absl::UnimplementedError(StrCat("no CUDA matmul kernel for ", Name(dtype), " weights"));
  }
  if (dtype == DType::kF8E4M3) return absl::InvalidArgumentError("FP8 weights need their scales: UploadFp8BlockWeight");
  const int64_t align = Traits(dtype).block_elems > 32 ? Traits(dtype).block_elems : 32;
  if (rows <= 0 || cols <= 0 || cols % align != 0) {
    return absl::InvalidArgumentError(StrCat(Name(dtype), " weight [", rows, ", ", cols,
                                             "]: the GPU kernels need columns in whole blocks of ", align));
  }
  const uint64_t row_bytes = quantc::kernels::ggml_quants::RowBytes(dtype, cols);
  if (bytes.size() != row_bytes * static_cast<uint64_t>(rows)) {
    return absl::InvalidArgumentError(
        StrCat(Name(dtype), " weight [", rows, ", ", cols, "] needs ", row_bytes * rows, " bytes, got ", bytes.size()));
  }
  DeviceWeight w;
  w.dtype = dtype, w.format = *FormatOf(dtype), w.rows = rows, w.cols = cols;
  w.row_bytes = w.stored_row_bytes = row_bytes;
  std::vector<uint8_t> apart;
  if (dtype == DType::kQ6_K) {
    apart = Q6KRowsApart(bytes, rows, cols);
    bytes = apart;
    w.row_bytes = static_cast<uint64_t>(kernels::Q6KDeviceRowBytes(cols));
  }
  // 16 bytes of slack: kernels read unaligned 4-byte groups as two aligned words.
  absl::StatusOr<DeviceBuffer> b = DeviceBuffer::FromHost(bytes, 16);
  if (!b.ok()) return b.status();
  w.bytes = std::move(*b);
  return w;
}

absl::StatusOr<DeviceWeight> UploadFp8BlockWeight(std::span<const uint8_t> codes, std::span<const float> scales,
                                                  int64_t rows, int64_t cols, int64_t block_rows, int64_t block_cols) {
  if (rows <= 0 || cols <= 0 || cols % 32 != 0 || block_cols != 128 || block_rows <= 0) {
    return absl::InvalidArgumentError(
        StrCat("FP8 weight [", rows, ", ", cols, "] in ", block_rows, "x", block_cols,
               " blocks: the GPU kernel needs blocks 128 columns wide and columns in units of 32"));
  }
  const int64_t scale_rows = (rows + block_rows - 1) / block_rows, scale_cols = (cols + 127) / 128;
  if (codes.size() != static_cast<uint64_t>(rows * cols) ||
      scales.size() != static_cast<uint64_t>(scale_rows * scale_cols)) {
    return absl::InvalidArgumentError(StrCat("FP8 weight [", rows, ", ", cols, "]: ", codes.size(), " codes and ",
                                             scales.size(), " scales do not fit it"));
  }
  DeviceWeight w;
  w.dtype = DType::kF8E4M3, w.format = kernels::Format::kFp8Block;
  w.rows = rows, w.cols = cols, w.row_bytes = w.stored_row_bytes = static_cast<uint64_t>(cols);
  w.scale_cols = scale_cols, w.scale_block_rows = block_rows;
  absl::StatusOr<DeviceBuffer> b = DeviceBuffer::FromHost(codes, 16);
  if (!b.ok()) return b.status();
  w.bytes = std::move(*b);
  absl::StatusOr<DeviceBuffer> sc =
      DeviceBuffer::FromHost({reinterpret_cast<const uint8_t*>(scales.data()), scales.size() * 4});
  if (!sc.ok()) return sc.status();
  w.scales = std::move(*sc);
  return w;
}

bool HasPackedIntKernel(int bits, int64_t cols, int64_t group_size) {
  return (bits == 4 || bits == 8) && cols > 0 && cols % 16 == 0 && cols <= 0x7FFFFFFF && group_size > 0 &&
         group_size % 16 == 0;
}

absl::StatusOr<DeviceWeight> UploadPackedIntWeight(std::span<const uint8_t> packed, int bits, int64_t rows,
                                                   int64_t cols, int64_t group_size, std::span<const float> scales,
                                                   std::span<const uint8_t> zeros) {
  const std::string what = StrCat("int", bits, " weight [", rows, ", ", cols, "] in groups of ", group_size);
  if (rows <= 0 || !HasPackedIntKernel(bits, cols, group_size)) {
    return absl::InvalidArgumentError(
        StrCat(what, ": the GPU kernel needs 4 or 8 bits and columns and groups in whole units of 16"));
  }
  const int64_t groups = (cols + group_size - 1) / group_size;
  const uint64_t row_bytes = static_cast<uint64_t>(cols) * bits / 8;
  if (packed.size() != row_bytes * rows || scales.size() != static_cast<uint64_t>(rows * groups) ||
      (!zeros.empty() && zeros.size() != scales.size())) {
    return absl::InvalidArgumentError(StrCat(what, ": ", packed.size(), " code bytes, ", scales.size(), " scales and ",
                                             zeros.size(), " zero points do not fit it"));
  }
  DeviceWeight w;
  w.dtype = DType::kI32, w.format = bits == 4 ? kernels::Format::kPackedInt4 : kernels::Format::kPackedInt8;
  w.rows = rows, w.cols = cols, w.row_bytes = w.stored_row_bytes = row_bytes;
  w.scale_cols = groups, w.group_size = group_size;
  QC_ASSIGN_OR_RETURN(w.bytes, DeviceBuffer::FromHost(packed));
  QC_ASSIGN_OR_RETURN(w.scales,
                      DeviceBuffer::FromHost({reinterpret_cast<const uint8_t*>(scales.data()), scales.size() * 4}));
  if (!zeros.empty()) {
    QC_ASSIGN_OR_RETURN(w.zeros, DeviceBuffer::FromHost(zeros));
  }
  return w;
}

bool HasFp4Kernel(quantc::kernels::fp4::Fp4Format format, int64_t cols) {
  return cols > 0 && cols % 16 == 0 && cols % quantc::kernels::fp4::GroupSize(format) == 0;
}

absl::StatusOr<DeviceWeight> UploadFp4Weight(quantc::kernels::fp4::Fp4Format format, std::span<const uint8_t> codes,
                                             std::span<const uint8_t> scales, float global, int64_t rows,
                                             int64_t cols) {
  namespace fp4 = quantc::kernels::fp4;
  const std::string what = StrCat(fp4::Name(format), " weight [", rows, ", ", cols, "]");
  if (rows <= 0 || !HasFp4Kernel(format, cols)) {
    return absl::InvalidArgumentError(
        StrCat(what, ": the GPU kernel needs columns in whole groups of ", fp4::GroupSize(format), " and units of 16"));
  }
  const int64_t groups = cols / fp4::GroupSize(format);
  if (codes.size() != static_cast<uint64_t>(rows * cols / 2) || scales.size() != static_cast<uint64_t>(rows * groups)) {
    return absl::InvalidArgumentError(
        StrCat(what, ": ", codes.size(), " code bytes and ", scales.size(), " scales do not fit it"));
  }
  DeviceWeight w;
  w.dtype = DType::kF4, w.format = format == fp4::Fp4Format::kMx ? kernels::Format::kFp4Mx : kernels::Format::kFp4Nv;
  w.rows = rows, w.cols = cols, w.row_bytes = w.stored_row_bytes = static_cast<uint64_t>(cols / 2);
  w.scale_cols = groups, w.global = global;
  QC_ASSIGN_OR_RETURN(w.bytes, DeviceBuffer::FromHost(codes));
  QC_ASSIGN_OR_RETURN(w.scales, DeviceBuffer::FromHost(scales));
  return w;
}

kernels::MatMulArgs DeviceWeight::Args() const {
  kernels::MatMulArgs a;
  a.w = bytes.data(), a.rows = rows, a.cols = cols, a.row_bytes = static_cast<int64_t>(row_bytes);
  a.scale_cols = scale_cols, a.scale_block_rows = scale_block_rows, a.group_size = group_size, a.global = global;
  // The scale buffer holds F32 scales or (FP4) scale bytes: the format reads the one it has.
  if (format == kernels::Format::kFp4Mx || format == kernels::Format::kFp4Nv) {
    a.scale_bytes = scales.as<uint8_t>();
  } else {
    a.scales = scales.as<float>();
  }
  a.zeros = zeros.as<uint8_t>();
  return a;
}

absl::StatusOr<SplitInput> SplitInput::Allocate(int64_t cols) {
  if (cols <= 0 || cols % 32 != 0) return absl::InvalidArgumentError(StrCat("cannot split a row of ", cols, " values"));
  SplitInput s;
  QC_ASSIGN_OR_RETURN(s.buffer_, DeviceBuffer::Allocate(kernels::SplitXPlaneBytes(cols) +
                                                        kernels::SplitXUnitFloats(cols) * sizeof(float)));
  s.cols_ = cols;
  return s;
}
kernels::SplitOut SplitInput::Out() const {
  uint8_t* planes = buffer_.as<uint8_t>();
  return {planes, reinterpret_cast<float*>(planes + kernels::SplitXPlaneBytes(cols_))};
}
absl::Status SplitInput::Split(const float* x, const Stream& stream) const {
  return CheckLaunch(kernels::LaunchSplitX(x, cols_, Out(), stream.get()), "split launch");
}

namespace {
// The kernels' arguments for y = W·x: x's planes with them where one token's split fits W.
kernels::MatMulArgs ArgsFor(const DeviceWeight& w, const float* x, int64_t n, float* y, const MatMulOutput& out,
                            const SplitInput* split) {
  kernels::MatMulArgs a = w.Args();
  a.x = x, a.n = n, a.y = y, a.ldy = out.ldy == 0 ? w.rows : out.ldy, a.bias = out.bias, a.accumulate = out.accumulate;
  if (split != nullptr && n == 1 && split->cols() == w.cols) {
    const kernels::SplitOut planes = split->Out();
    a.x_planes = planes.planes, a.x_units = planes.units;
  }
  return a;
}
}  // namespace

absl::Status MatMul(const DeviceWeight& w, const float* x, int64_t n, float* y, const MatMulOutput& out,
                    const Stream* stream, const SplitInput* split) {
  if (n >= kBlasMinTokens && stream != nullptr) return BlasMatMul(w, x, n, y, out, *stream);
  const kernels::MatMulArgs a = ArgsFor(w, x, n, y, out, split);
  return CheckLaunch(kernels::LaunchMatMul(w.format, a, stream != nullptr ? stream->get() : nullptr), "matmul launch");
}

absl::Status EmbedRows(const DeviceWeight& table, const int32_t* ids, const int32_t* step, int64_t n, int32_t* pos,
                       float* out, const Stream& stream) {
  return CheckLaunch(kernels::LaunchEmbedRows(table.format, table.Args(), ids, step, n, pos, out, stream.get()),
                     "embedding lookup");
}

absl::StatusOr<bool> MatVecPair(const DeviceWeight& a, float* ya, const MatMulOutput& out_a, const DeviceWeight& b,
                                float* yb, const MatMulOutput& out_b, const float* x, const SplitInput& split,
                                const Stream& stream) {
  if (split.cols() != a.cols || split.cols() != b.cols) return false;
  const int code = kernels::LaunchMatVecPair(a.format, ArgsFor(a, x, 1, ya, out_a, &split), b.format,
                                             ArgsFor(b, x, 1, yb, out_b, &split), stream.get());
  if (code == kernels::kNotLaunched) return false;
  QC_RETURN_IF_ERROR(CheckLaunch(code, "matmul pair launch"));
  return true;
}

}  // namespace quantc::cuda
