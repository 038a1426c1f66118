#include "lib/kernels/matmul/weight_matrix.h"

#include <algorithm>
#include <cstring>

#include "lib/dtypes/float_convert.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/kernels/int_quant/int_quant.h"
#include "lib/support/parallel.h"
#include "lib/support/strings.h"

namespace quantc::kernels {
namespace {

class DenseWeight final : public WeightMatrix {
 public:
  DenseWeight(DType dtype, std::span<const uint8_t> bytes, int64_t rows, int64_t cols)
      : WeightMatrix(rows, cols), dtype_(dtype), bytes_(bytes) {}
  void DequantRows(int64_t r0, int64_t r1, float* out) const override {
    const int64_t n = (r1 - r0) * cols();
    const uint8_t* base = bytes_.data();
    switch (dtype_) {
      case DType::kF32: std::memcpy(out, base + r0 * cols() * 4, n * 4); break;
      case DType::kBF16: {
        // 16-bit loads, shift, store as float bits: vectorizes (a byte-wise gather did not, and
        // decode spent 86% of its time here).
        const uint8_t* p = base + r0 * cols() * 2;
        uint32_t* o = reinterpret_cast<uint32_t*>(out);
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          uint16_t h;
          std::memcpy(&h, p + 2 * i, 2);
          o[i] = static_cast<uint32_t>(h) << 16;
        }
        break;
      }
      case DType::kF16: {
        const uint8_t* p = base + r0 * cols() * 2;
        for (int64_t i = 0; i < n; ++i) out[i] = F16ToF32(static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8)));
        break;
      }
      default: break;  // rejected by MakeDenseWeight
    }
  }
  const float* f32_rows() const override {
    return dtype_ == DType::kF32 ? reinterpret_cast<const float*>(bytes_.data()) : nullptr;
  }
  std::optional<StoredRows> stored_rows() const override { return StoredRows{dtype_, bytes_}; }

 private:
  DType dtype_;
  std::span<const uint8_t> bytes_;
};

class Fp8BlockWeight final : public WeightMatrix {
 public:
  Fp8BlockWeight(std::span<const uint8_t> codes, std::vector<float> scales, fp8::BlockLayout layout)
      : WeightMatrix(layout.rows, layout.cols), codes_(codes), scales_(std::move(scales)), layout_(layout) {}
  void DequantRows(int64_t r0, int64_t r1, float* out) const override {
    // The reference kernel: single-threaded, because MatMul already runs one tile per thread.
    std::vector<uint16_t> bf16(static_cast<size_t>((r1 - r0) * cols()));
    fp8::ref::DequantRowsToBF16(codes_.data() + r0 * cols(), scales_.data(), layout_, r0, r1, bf16.data());
    for (size_t i = 0; i < bf16.size(); ++i) out[i] = BF16ToF32(bf16[i]);
  }
  std::optional<Fp8BlockRows> fp8_block_rows() const override { return Fp8BlockRows{codes_, scales_, layout_}; }

 private:
  std::span<const uint8_t> codes_;
  std::vector<float> scales_;
  fp8::BlockLayout layout_;
};

class BlockQuantWeight final : public WeightMatrix {
 public:
  BlockQuantWeight(DType dtype, std::span<const uint8_t> bytes, uint64_t row_bytes, int64_t rows, int64_t cols)
      : WeightMatrix(rows, cols),
        dtype_(dtype),
        dequantize_(ggml_quants::Fast(dtype).dequantize),
        dot_(ggml_quants::FastDot(dtype)),
        bytes_(bytes),
        row_bytes_(row_bytes) {}
  void DequantRows(int64_t r0, int64_t r1, float* out) const override {
    for (int64_t r = r0; r < r1; ++r) dequantize_(bytes_.data() + r * row_bytes_, out + (r - r0) * cols(), cols());
  }
  QuantizedRows quantized_rows() const override { return {dot_, bytes_.data(), row_bytes_}; }
  std::optional<StoredRows> stored_rows() const override { return StoredRows{dtype_, bytes_}; }

 private:
  DType dtype_;
  ggml_quants::DequantizeRowFn dequantize_;
  const ggml_quants::DotKernels* dot_;
  std::span<const uint8_t> bytes_;
  uint64_t row_bytes_;
};

class PackedIntWeight final : public WeightMatrix {
 public:
  PackedIntWeight(std::span<const uint8_t> packed, PackedIntLayout layout, std::vector<float> scales,
                  std::vector<uint8_t> zeros)
      : WeightMatrix(layout.rows, layout.cols),
        packed_(packed),
        layout_(layout),
        groups_((layout.cols + layout.group_size - 1) / layout.group_size),
        row_words_(int_quant::PackedWords(layout.cols, layout.bits)),
        scales_(std::move(scales)),
        zeros_(std::move(zeros)) {}
  void DequantRows(int64_t r0, int64_t r1, float* out) const override {
    const int64_t cols = layout_.cols, g = layout_.group_size;
    const int32_t symmetric_zero = 1 << (layout_.bits - 1);
    std::vector<uint8_t> q(static_cast<size_t>(cols));
    std::vector<int32_t> words(static_cast<size_t>(row_words_));  // aligned copy: files need not align them
    for (int64_t r = r0; r < r1; ++r) {
      std::memcpy(words.data(), packed_.data() + r * row_words_ * 4, words.size() * 4);
      int_quant::UnpackBits(words.data(), cols, layout_.bits, q.data());
      float* o = out + (r - r0) * cols;
      for (int64_t k = 0; k < groups_; ++k) {
        const float scale = scales_[r * groups_ + k];
        const int32_t zero = zeros_.empty() ? symmetric_zero : zeros_[r * groups_ + k];
        for (int64_t c = k * g; c < std::min((k + 1) * g, cols); ++c) o[c] = scale * static_cast<float>(q[c] - zero);
      }
    }
  }
  std::optional<PackedIntRows> packed_int_rows() const override {
    return PackedIntRows{packed_, layout_.bits, layout_.group_size, scales_, zeros_};
  }

 private:
  std::span<const uint8_t> packed_;
  PackedIntLayout layout_;
  int64_t groups_, row_words_;
  std::vector<float> scales_;
  std::vector<uint8_t> zeros_;
};

class Fp4Weight final : public WeightMatrix {
 public:
  Fp4Weight(fp4::Fp4Format format, std::span<const uint8_t> codes, std::vector<uint8_t> scales, float global,
            int64_t rows, int64_t cols)
      : WeightMatrix(rows, cols), format_(format), codes_(codes), scales_(std::move(scales)), global_(global) {}
  void DequantRows(int64_t r0, int64_t r1, float* out) const override {
    const int64_t groups = cols() / fp4::GroupSize(format_);
    for (int64_t r = r0; r < r1; ++r) {
      fp4::DequantizeRow(format_, codes_.data() + r * (cols() / 2), scales_.data() + r * groups, cols(), global_,
                         out + (r - r0) * cols());
    }
  }
  std::optional<Fp4Rows> fp4_rows() const override { return Fp4Rows{format_, codes_, scales_, global_}; }

 private:
  fp4::Fp4Format format_;
  std::span<const uint8_t> codes_;
  std::vector<uint8_t> scales_;
  float global_;
};

float Dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

// Four rows against one input vector: four independent accumulators keep the adders busy
// (a single reduction chain is bound by add latency, not throughput).
void Dot4(const float* x, const float* w, int64_t n, float* out) {
  const float *w0 = w, *w1 = w + n, *w2 = w + 2 * n, *w3 = w + 3 * n;
  float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
  for (int64_t i = 0; i < n; ++i) {
    a0 += x[i] * w0[i];
    a1 += x[i] * w1[i];
    a2 += x[i] * w2[i];
    a3 += x[i] * w3[i];
  }
  out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WeightMatrix>> MakeDenseWeight(DType dtype, std::span<const uint8_t> bytes,
                                                              int64_t rows, int64_t cols) {
  if (dtype != DType::kF32 && dtype != DType::kBF16 && dtype != DType::kF16) {
    return absl::UnimplementedError(StrCat("no matmul kernel for ", Name(dtype), " weights"));
  }
  auto need = ByteSize(dtype, static_cast<uint64_t>(rows * cols));
  if (!need.ok() || *need != bytes.size()) {
    return absl::InvalidArgumentError(StrCat("weight bytes ", bytes.size(), " do not match [", rows, ", ", cols, "]"));
  }
  return std::unique_ptr<WeightMatrix>(new DenseWeight(dtype, bytes, rows, cols));
}

std::unique_ptr<WeightMatrix> MakeFp8BlockWeight(std::span<const uint8_t> codes, std::vector<float> scales,
                                                 fp8::BlockLayout layout) {
  return std::make_unique<Fp8BlockWeight>(codes, std::move(scales), layout);
}

absl::StatusOr<std::unique_ptr<WeightMatrix>> MakeBlockQuantWeight(DType dtype, std::span<const uint8_t> bytes,
                                                                   int64_t rows, int64_t cols) {
  const DTypeTraits& t = Traits(dtype);
  if (!t.is_block_quant || !ggml_quants::HasKernels(dtype)) {
    return absl::UnimplementedError(StrCat("no block-quant matmul kernel for ", Name(dtype), " weights"));
  }
  if (rows < 0 || cols <= 0 || cols % t.block_elems != 0) {
    return absl::InvalidArgumentError(StrCat(Name(dtype), " weight [", rows, ", ", cols, "]: rows must be whole ",
                                             t.block_elems, "-element blocks"));
  }
  const uint64_t row_bytes = ggml_quants::RowBytes(dtype, cols);
  if (bytes.size() != static_cast<uint64_t>(rows) * row_bytes) {
    return absl::InvalidArgumentError(StrCat("weight bytes ", bytes.size(), " do not match ", Name(dtype), " [", rows,
                                             ", ", cols, "]"));
  }
  return std::unique_ptr<WeightMatrix>(
      new BlockQuantWeight(dtype, bytes, row_bytes, rows, cols));
}

absl::StatusOr<std::unique_ptr<WeightMatrix>> MakePackedIntWeight(std::span<const uint8_t> packed, PackedIntLayout layout,
                                                                  std::vector<float> scales, std::vector<uint8_t> zeros) {
  const std::string what = StrCat("int", layout.bits, " weight [", layout.rows, ", ", layout.cols, "]");
  if (layout.bits < 1 || layout.bits > 8 || layout.rows < 0 || layout.cols <= 0 || layout.group_size <= 0) {
    return absl::InvalidArgumentError(StrCat(what, " with groups of ", layout.group_size,
                                             ": bits must be 1..8 and the group size positive"));
  }
  const uint64_t groups = static_cast<uint64_t>(layout.rows) *
                        static_cast<uint64_t>((layout.cols + layout.group_size - 1) / layout.group_size);
  const uint64_t need = static_cast<uint64_t>(layout.rows) * int_quant::PackedWords(layout.cols, layout.bits) * 4;
  if (packed.size() != need) {
    return absl::InvalidArgumentError(StrCat(what, ": packed bytes ", packed.size(), ", expected ", need));
  }
  if (scales.size() != groups || (!zeros.empty() && zeros.size() != groups)) {
    return absl::InvalidArgumentError(StrCat(what, ": ", scales.size(), " scales and ", zeros.size(),
                                             " zero points, expected ", groups));
  }
  return std::unique_ptr<WeightMatrix>(new PackedIntWeight(packed, layout, std::move(scales), std::move(zeros)));
}

namespace {

// The tile scheme both paths share: tiles of kTileRows output rows, one tile per iteration of a
// static loop; matrices too small to pay for waking threads stay on one.
constexpr int64_t kTileRows = 16;

int64_t MatMulThreads(int64_t rows, int64_t cols, int64_t n) {
  const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
  const int64_t min_tiles = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, kTileRows * cols * n));
  return std::max<int64_t>(1, std::min<int64_t>(NumThreads(), tiles / min_tiles));
}

// llama.cpp's path for block types: quantize each input row once, then integer dot products.
void MatMulQuantized(const WeightMatrix& w, const WeightMatrix::QuantizedRows& q, const float* x, int64_t n,
                     float* y, const float* bias) {
  const int64_t rows = w.rows(), cols = w.cols();
  const uint64_t act_bytes = ggml_quants::ActivationRowBytes(q.kernels->activations, cols);
  std::vector<uint8_t> acts(act_bytes * static_cast<uint64_t>(n));
#pragma omp parallel for num_threads(std::min<int64_t>(NumThreads(), n)) if (n > 1)
  for (int64_t i = 0; i < n; ++i) q.kernels->quantize(x + i * cols, acts.data() + i * act_bytes, cols);
  const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
#pragma omp parallel for schedule(static) num_threads(MatMulThreads(rows, cols, n))
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t r0 = t * kTileRows, r1 = std::min(rows, r0 + kTileRows);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = q.base + static_cast<uint64_t>(r) * q.row_bytes;
      const float b = bias != nullptr ? bias[r] : 0.0f;
      for (int64_t i = 0; i < n; i += ggml_quants::kMaxDotRows) {  // each weight block decoded once per group
        const int count = static_cast<int>(std::min<int64_t>(ggml_quants::kMaxDotRows, n - i));
        float dots[ggml_quants::kMaxDotRows];
        q.kernels->dot(row, acts.data() + i * act_bytes, act_bytes, count, cols, dots);
        for (int j = 0; j < count; ++j) y[(i + j) * rows + r] = dots[j] + b;
      }
    }
  }
}

}  // namespace

void MatMul(const WeightMatrix& w, const float* x, int64_t n, float* y, const float* bias) {
  const int64_t rows = w.rows(), cols = w.cols();
  if (w.input_observer()) w.input_observer()(x, n);
  if (const WeightMatrix::QuantizedRows q = w.quantized_rows();
      q.kernels != nullptr && w.input_rounding() != ggml_quants::ActivationRounding::kNone) {
    return MatMulQuantized(w, q, x, n, y, bias);
  }
  std::vector<float> rounded;
  if (w.input_rounding() != ggml_quants::ActivationRounding::kNone) {
    rounded.assign(x, x + n * cols);
    for (int64_t i = 0; i < n; ++i) ggml_quants::RoundActivations(w.input_rounding(), rounded.data() + i * cols, cols);
    x = rounded.data();
  }
  const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
  const float* f32 = w.f32_rows();
#pragma omp parallel num_threads(MatMulThreads(rows, cols, n))
  {
    std::vector<float> tile(f32 != nullptr ? 0 : static_cast<size_t>(kTileRows * cols));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t r0 = t * kTileRows, r1 = std::min(rows, r0 + kTileRows);
      const float* rows_r0 = f32 != nullptr ? f32 + r0 * cols : tile.data();
      if (f32 == nullptr) w.DequantRows(r0, r1, tile.data());
      for (int64_t i = 0; i < n; ++i) {
        const float* xi = x + i * cols;
        float* yi = y + i * rows;
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) Dot4(xi, rows_r0 + (r - r0) * cols, cols, yi + r);
        for (; r < r1; ++r) yi[r] = Dot(xi, rows_r0 + (r - r0) * cols, cols);
        if (bias != nullptr) {
          for (int64_t b = r0; b < r1; ++b) yi[b] += bias[b];
        }
      }
    }
  }
}

absl::StatusOr<std::unique_ptr<WeightMatrix>> MakeFp4Weight(fp4::Fp4Format format, std::span<const uint8_t> codes,
                                                            std::vector<uint8_t> scales, float global, int64_t rows,
                                                            int64_t cols) {
  const int64_t group = fp4::GroupSize(format);
  if (cols % group != 0 || codes.size() != static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols / 2) ||
      scales.size() != static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols / group)) {
    return absl::InvalidArgumentError(StrCat(fp4::Name(format), " weight [", rows, ", ", cols, "] does not match ",
                                             codes.size(), " code bytes and ", scales.size(), " scales"));
  }
  return std::unique_ptr<WeightMatrix>(new Fp4Weight(format, codes, std::move(scales), global, rows, cols));
}

}  // namespace quantc::kernels
