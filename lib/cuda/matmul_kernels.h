// The launch interface of lib/cuda's weight kernels: the matmul (matmul_kernels.cu) and the row
// dequantization that feeds cuBLAS (dequant_kernels.cu), both decoding with weight_formats.cuh.
// Plain types only, so the C++ side (cuda.cc, blas.cc, absl::Status) and nvcc never share a header
// beyond this one. A stream is CUDA's own opaque handle type (cudaStream_t is `CUstream_st*`),
// declared here without CUDA's headers.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace quantc::cuda::kernels {

// Storage formats with a kernel; the numbers are private to lib/cuda (cuda.cc maps storage to
// them). kMXFP4 is ggml's block; kFp4Mx / kFp4Nv are the safetensors FP4 layouts (codes, and
// scale bytes beside them).
enum class Format : int {
  kF32,
  kF16,
  kBF16,
  kQ8_0,
  kQ4_0,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kMXFP4,
  kFp8Block,
  kPackedInt4,
  kPackedInt8,
  kFp4Mx,
  kFp4Nv,
};

// Q6_K rows on the device (cuda.cc's UploadWeight lays them out so): each row keeps its blocks'
// parts apart, in the stored bytes — every block's ql (kQ6KQlBytes), then every qh, every scales,
// every d — and starts 16-byte aligned (Q6KDeviceRowBytes). A lane's 16 bytes of ql or qh are then
// one aligned load; in the stored order, 210-byte blocks leave them 2-byte aligned (five word loads
// joined by shifts). Block b of a row of nb blocks: ql at 128 b, qh at 128 nb + 64 b, scales at
// 192 nb + 16 b, d at 208 nb + 2 b.
constexpr int64_t kQ6KQlBytes = 128, kQ6KQhBytes = 64, kQ6KScaleBytes = 16, kQ6KDBytes = 2;
constexpr int64_t kQ6KBlockBytes = kQ6KQlBytes + kQ6KQhBytes + kQ6KScaleBytes + kQ6KDBytes;  // 210
inline int64_t Q6KDeviceRowBytes(int64_t cols) { return (cols / 256 * kQ6KBlockBytes + 15) / 16 * 16; }

struct MatMulArgs {
  const void* w = nullptr;  // rows back to back, row_bytes each, the format's blocks in order (Q6_K: above)
  int64_t rows = 0, cols = 0, row_bytes = 0;
  const float* x = nullptr;  // [n, cols]
  int64_t n = 0;
  float* y = nullptr;  // [n, ldy]: y[t * ldy + r]
  int64_t ldy = 0;
  const float* bias = nullptr;  // [rows] added to every token, or null
  bool accumulate = false;      // y += W·x (the residual add) instead of y = W·x
  // kFp8Block: the F32 scale of weight (r, c) at scales[(r / scale_block_rows) * scale_cols + c / 128].
  // kPackedInt*: the F32 scale of weight (r, c) at scales[r * scale_cols + c / group_size].
  const float* scales = nullptr;
  int64_t scale_cols = 0, scale_block_rows = 128;
  // kPackedInt*: the zero point of (r, c) at zeros[r * scale_cols + c / group_size]; null: symmetric
  // (2^(bits - 1)). group_size: a multiple of 16 (one per output channel: cols).
  const uint8_t* zeros = nullptr;
  int64_t group_size = 0;
  // kFp4Mx / kFp4Nv: the scale byte of (r, c) at scale_bytes[r * scale_cols + c / 32 (16)], E8M0 /
  // E4M3; kFp4Nv's group scale is e4m3 × global.
  const uint8_t* scale_bytes = nullptr;
  float global = 1.0f;
  // One token: x split as LaunchSplitX makes it (null: not made). Q4_K's one-token kernel then
  // multiplies with integer dot products.
  const uint8_t* x_planes = nullptr;
  const float* x_units = nullptr;
};

// y = W·x (+ bias) for every token; x, y and bias are device FP32. Returns the CUDA error code of
// the launch (0 = success); cudaErrorInvalidValue when the arguments do not fit the format (cols
// whole blocks: 32 for ggml's small blocks, 256 for K-quants, 16 for kFp8Block, kPackedInt* and
// kFp4*; the scales it reads).
int LaunchMatMul(Format format, const MatMulArgs& args, CUstream_st* stream);

// A kernel for one token (n == 1, a decode step): kDefault is LaunchMatMul's choice; kGeneric the
// kernel of n > 1, which every format has; kDecode the decode kernels of Q4_K and Q5_K, which
// stream whole blocks with 16-byte loads, and Q6_K's integer kernel (planes only), with these
// options:
struct MatVecKernel {
  enum Kind { kDefault, kGeneric, kDecode };
  Kind kind = kDefault;
  int rows = 0;            // rows a thread block (kGeneric) or a warp (kDecode) takes: 1, 2 or 4; 0: 4
  int split = 0;           // kDecode: warps side by side along a row: 1, 2 or 4; 0: by the row count
  bool subnormal = false;  // kDecode, Q4_K: codes taken as subnormal floats, no per-weight conversion
  bool planes = false;     // kDecode, Q4_K, Q6_K: integer dot products with x split into planes (args.x_planes)
  bool staged = false;     // the thread block's rows copied to shared memory in one bulk copy first
};
// y = W·x (+ bias) for one token (args.n is taken as 1) on the kernel named: for comparing them
// (tools/bench/bench_gpu_matvec.cc, tests/cuda/matmul_test.cc). cudaErrorInvalidValue where the
// format has no such kernel.
int LaunchMatVec(Format format, const MatMulArgs& args, const MatVecKernel& kernel, CUstream_st* stream);

// Whether LaunchMatMul's kernel for one token reads x's planes (MatMulArgs::x_planes) when given
// them: Q4_K's always, Q6_K's for tall matrices (an LM head) and long rows (FFN down). The rest
// read x.
bool OneTokenReadsSplit(Format format, int64_t rows, int64_t cols);

// One token's products of two matrices that read the same x, split into planes (args.x_planes,
// x_units; LaunchSplitX), in one launch: their thread blocks side by side, each on its integer
// kernel (staged), so that the second does not wait for the first's launch to
// finish (q/k in Q4_K and v in Q6_K, as Q4_K_M stores attention). Returns the launch's CUDA error
// code, or kNotLaunched where a matrix has no such kernel (formats other than Q4_K and Q6_K) or a
// thread block's rows do not fit the stage; args.n is taken as 1.
constexpr int kNotLaunched = -1;
int LaunchMatVecPair(Format format_a, const MatMulArgs& args_a, Format format_b, const MatMulArgs& args_b,
                     CUstream_st* stream);

// One token's x[0..cols) (cols a multiple of 32) as two planes of signed bytes per unit of 16
// values, so that a product with small integer codes is two integer dot products: with d = max |x|
// / 127 over the unit, x ≈ x' = d · (p1 + p2 / 254) within d / 508 (lib/cuda/split_x.cuh: x to
// about 1/64500 of its unit's largest value, finer than the TF32 of the prefill GEMMs), and the
// integer kernels compute W·x'. planes: cols / 16 · 32 bytes (per 16 values p1's 16 bytes, then
// p2's); units: cols / 16 · 2 floats (per 16 values d / 254 and the sum of x'). The integer kernels
// of Q4_K and Q6_K read it (MatMulArgs::x_planes, x_units); LaunchRmsNorm, LaunchSiluMul and one
// token's attention can write it beside x.
struct SplitOut {
  uint8_t* planes = nullptr;
  float* units = nullptr;
};
int LaunchSplitX(const float* x, int64_t cols, const SplitOut& to, CUstream_st* stream);
constexpr int kSplitXPlanes = 2;
constexpr int kSplitXRadix = 254;  // p2's weight against p1's: |p2| <= 127
constexpr int64_t kSplitXUnitBytes = 16 * kSplitXPlanes;
constexpr int64_t SplitXPlaneBytes(int64_t cols) { return cols / 16 * kSplitXUnitBytes; }
constexpr int64_t SplitXUnitFloats(int64_t cols) { return cols / 16 * 2; }

// Whether the decode step's kernels start early (lib/cuda/launch.cuh; default true), their blocks
// taking the SMs the kernel before leaves free, or each after the one before has finished.
// Process-wide; benchmarks compare both. Kernels launched after a change take it (a recorded CUDA
// graph keeps what it was recorded with).
void SetEarlyLaunch(bool early);

// out[(r - r0) * cols + c] = W[r, c] in FP32 for r0 <= r < r1: the weights the matmul kernel uses
// (its decoders; x, y and the output fields of args are not read). out must be 16-byte aligned.
int LaunchDequantRows(Format format, const MatMulArgs& args, int64_t r0, int64_t r1, float* out, CUstream_st* stream);
// out[t * cols + c] = W[ids[p + t], c] for t < n and p = *step, as LaunchDequantRows decodes
// them: the embedding lookup of a decode step whose tokens are ids[p .. p + n) (each below
// args.rows: the caller checks), and *pos = p. ids and step may be mapped host memory (the runner's
// token history and next position, which the step's arg-max moves on: LaunchArgmax), so that
// recorded steps can be replayed back to back, and *pos is where the step's kernels read p.
int LaunchEmbedRows(Format format, const MatMulArgs& args, const int32_t* ids, const int32_t* step, int64_t n,
                    int32_t* pos, float* out, CUstream_st* stream);

// y[t * ldy + r] = bias[r] (+ y[t * ldy + r] if accumulate) for t < n, r < rows: the bias ahead of
// a GEMM that then adds W·x (beta = 1).
int LaunchSetBias(float* y, int64_t n, int64_t rows, int64_t ldy, const float* bias, bool accumulate,
                  CUstream_st* stream);

}  // namespace quantc::cuda::kernels
