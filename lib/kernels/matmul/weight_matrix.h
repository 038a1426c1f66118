// The weight interface of the runner: a matrix [rows = out features, cols = in features] kept in
// its stored format (dense float, block-scaled FP8, ggml block types). Each kernel family
// implements DequantRows for its format; MatMul tiles the rows, dequantizes one tile at a time into
// FP32 (cache-sized, per thread) and multiplies, so a model runs from its stored bytes and is never
// copied whole into FP32. Compute is FP32, except where a ggml block type's inputs are rounded as
// llama.cpp rounds them: then MatMul quantizes the inputs once and runs llama.cpp's integer dot
// products on the stored blocks (ggml_quants/dot.h), which is the same arithmetic and much faster.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/dtypes/dtype.h"
#include "lib/kernels/fp4/fp4.h"
#include "lib/kernels/fp8/block_dequant.h"
#include "lib/kernels/ggml_quants/activations.h"
#include "lib/kernels/ggml_quants/dot.h"

namespace quantc::kernels {

class WeightMatrix {
 public:
  WeightMatrix(int64_t rows, int64_t cols) : rows_(rows), cols_(cols) {}
  virtual ~WeightMatrix() = default;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // Writes rows [r0, r1) as FP32 into out[(r - r0) * cols + c]. Thread-safe (const, no state).
  virtual void DequantRows(int64_t r0, int64_t r1, float* out) const = 0;
  // F32 storage: row r at f32_rows() + r * cols, multiplied in place (no tile copy). Else null.
  virtual const float* f32_rows() const { return nullptr; }
  // Block storage with integer dot products (row r at base + r * row_bytes). Else kernels == null.
  struct QuantizedRows {
    const ggml_quants::DotKernels* kernels = nullptr;
    const uint8_t* base = nullptr;
    uint64_t row_bytes = 0;
  };
  virtual QuantizedRows quantized_rows() const { return {}; }
  // The stored bytes, rows back to back, for formats other backends can run as stored (dense
  // F32/F16/BF16 and the ggml block types); nullopt for the rest (they decode with DequantRows).
  struct StoredRows {
    DType dtype;
    std::span<const uint8_t> bytes;
  };
  virtual std::optional<StoredRows> stored_rows() const { return std::nullopt; }
  // Block-scaled FP8 storage (E4M3 codes row-major, the F32 scale grid), for backends that decode
  // it in their own kernels; nullopt for every other storage.
  struct Fp8BlockRows {
    std::span<const uint8_t> codes;
    std::span<const float> scales;
    fp8::BlockLayout layout;
  };
  virtual std::optional<Fp8BlockRows> fp8_block_rows() const { return std::nullopt; }
  // compressed-tensors packed integers as MakePackedIntWeight took them (zero points unpacked,
  // empty when symmetric), and FP4 as MakeFp4Weight took it, for backends that decode them in
  // their own kernels; nullopt for every other storage.
  struct PackedIntRows {
    std::span<const uint8_t> packed;
    int bits;
    int64_t group_size;
    std::span<const float> scales;
    std::span<const uint8_t> zeros;
  };
  virtual std::optional<PackedIntRows> packed_int_rows() const { return std::nullopt; }
  struct Fp4Rows {
    fp4::Fp4Format format;
    std::span<const uint8_t> codes, scales;
    float global;
  };
  virtual std::optional<Fp4Rows> fp4_rows() const { return std::nullopt; }

  // How MatMul treats this matrix's inputs (set once by whoever builds the model's weights):
  // rounded first as llama.cpp's CPU backend rounds them (ggml_quants/activations.h), and/or shown
  // to an observer (importance statistics) before any rounding.
  using InputObserver = std::function<void(const float* x, int64_t n)>;
  void set_input_rounding(ggml_quants::ActivationRounding r) { input_rounding_ = r; }
  void set_input_observer(InputObserver f) { input_observer_ = std::move(f); }
  ggml_quants::ActivationRounding input_rounding() const { return input_rounding_; }
  const InputObserver& input_observer() const { return input_observer_; }

 private:
  int64_t rows_, cols_;
  ggml_quants::ActivationRounding input_rounding_ = ggml_quants::ActivationRounding::kNone;
  InputObserver input_observer_;
};

// F32 / BF16 / F16 rows, read in place (`bytes` must outlive the matrix).
absl::StatusOr<std::unique_ptr<WeightMatrix>> MakeDenseWeight(DType dtype, std::span<const uint8_t> bytes,
                                                              int64_t rows, int64_t cols);
// Block-scaled F8_E4M3 (DeepSeek): each value is bf16_rne(f32(q) * scale), exactly what the
// fp8-to-bf16 pass writes, so a model runs identically before and after that pass.
std::unique_ptr<WeightMatrix> MakeFp8BlockWeight(std::span<const uint8_t> codes, std::vector<float> scales,
                                                 fp8::BlockLayout layout);
// A ggml block type (Q4_0 .. MXFP4, lib/kernels/ggml_quants): each row is cols / block_elems whole
// blocks, rows back to back (a GGUF tensor, or one expert's slice of a stacked one). Rows are
// decoded with ggml_quants::Fast(dtype).dequantize, one call per row. `bytes` must outlive the matrix.
absl::StatusOr<std::unique_ptr<WeightMatrix>> MakeBlockQuantWeight(DType dtype, std::span<const uint8_t> bytes,
                                                                   int64_t rows, int64_t cols);

// compressed-tensors pack-quantized integers (lib/kernels/int_quant): row r's codes are
// PackedWords(cols, bits) little-endian int32 words at packed + r * row_words * 4; weight (r, c) is
// scales[r * groups + g] * (q - zero), g = c / group_size, zero = zeros[r * groups + g] (unpacked,
// unsigned) or 2^(bits-1) when `zeros` is empty (symmetric). cols % group_size must be 0.
// `packed` must outlive the matrix.
struct PackedIntLayout {
  int bits = 4;
  int64_t rows = 0, cols = 0;
  int64_t group_size = 0;  // columns per scale (cols for one scale per output channel)
};
absl::StatusOr<std::unique_ptr<WeightMatrix>> MakePackedIntWeight(std::span<const uint8_t> packed, PackedIntLayout layout,
                                                                  std::vector<float> scales, std::vector<uint8_t> zeros);

// FP4 (E2M1) codes, two per byte along a row (element 2j in the low nibble), rows back to back
// (cols / 2 bytes each); one scale byte per group (E8M0 for MXFP4, E4M3 for NVFP4), rows back to
// back; `global` NVFP4's per-tensor multiplier. Rows are decoded by fp4::DequantizeRow.
// `codes` must outlive the matrix.
absl::StatusOr<std::unique_ptr<WeightMatrix>> MakeFp4Weight(fp4::Fp4Format format, std::span<const uint8_t> codes,
                                                            std::vector<uint8_t> scales, float global, int64_t rows,
                                                            int64_t cols);

// y[t * w.rows() + r] = sum_c x[t * w.cols() + c] * W[r, c] (+ bias[r]), for t < n. Parallel over
// row tiles; x and y must not overlap.
void MatMul(const WeightMatrix& w, const float* x, int64_t n, float* y, const float* bias = nullptr);

}  // namespace quantc::kernels
