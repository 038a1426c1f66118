#include "passes/util/tensor_sources.h"

#include <cstring>

#include "lib/dtypes/float_convert.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::passes {
namespace {

// The whole input, mapped when possible, else read into `owned`.
absl::StatusOr<std::span<const uint8_t>> WholeTensor(const TensorSource& src, const TensorInfo& info,
                                                     std::vector<uint8_t>& owned) {
  if (auto mapped = src.MappedBytes()) return *mapped;
  QC_ASSIGN_OR_RETURN(owned, ReadAll(src, info.byte_size()));
  return std::span<const uint8_t>(owned);
}

// One FP32 value in a float dtype, round-to-nearest-even.
void StoreFloat(DType to, float v, uint8_t* p) {
  uint16_t h;
  switch (to) {
    case DType::kF32: std::memcpy(p, &v, 4); return;
    case DType::kF16: h = F32ToF16(v); std::memcpy(p, &h, 2); return;
    case DType::kBF16: h = F32ToBF16(v); std::memcpy(p, &h, 2); return;
    default: return;
  }
}

// Element-wise cast, optionally multiplying element (r, c) by column_scale[c] first.
class CastSource final : public TensorSource {
 public:
  CastSource(std::shared_ptr<const TensorSource> input, TensorInfo info, DType to, std::vector<float> column_scale)
      : input_(std::move(input)), info_(std::move(info)), to_(to), column_scale_(std::move(column_scale)) {}

  absl::Status Stream(ByteSink sink) const override {
    const size_t in_size = Traits(info_.dtype).block_bytes, out_size = Traits(to_).block_bytes;
    const uint64_t cols = column_scale_.empty() ? 1 : column_scale_.size();
    std::vector<uint8_t> pending, out;
    std::vector<float> f32;
    uint64_t index = 0;  // elements produced so far
    return input_->Stream([&](std::span<const uint8_t> chunk) -> absl::Status {
      pending.insert(pending.end(), chunk.begin(), chunk.end());
      const size_t n = pending.size() / in_size;
      f32.resize(n);
      QC_RETURN_IF_ERROR(DecodeToF32(info_.dtype, pending.data(), n, f32.data()));
      out.resize(n * out_size);
      for (size_t i = 0; i < n; ++i, ++index) {
        const float v = column_scale_.empty() ? f32[i] : f32[i] * column_scale_[index % cols];
        StoreFloat(to_, v, out.data() + i * out_size);
      }
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n * in_size));
      return sink(out);
    });
  }
  std::string Describe() const override {
    return StrCat(column_scale_.empty() ? "cast-" : "column-scale-", Name(to_), "(", input_->Describe(), ")");
  }

 private:
  std::shared_ptr<const TensorSource> input_;
  TensorInfo info_;
  DType to_;
  std::vector<float> column_scale_;
};

class FillSource final : public TensorSource {
 public:
  FillSource(TensorInfo info, float value) : info_(std::move(info)), value_(value) {}
  absl::Status Stream(ByteSink sink) const override {
    const size_t es = Traits(info_.dtype).block_bytes;
    std::vector<uint8_t> out(static_cast<size_t>(info_.num_elements()) * es);
    for (size_t i = 0; i * es < out.size(); ++i) StoreFloat(info_.dtype, value_, out.data() + i * es);
    return sink(out);
  }
  std::string Describe() const override { return StrCat("fill(", value_, ")"); }

 private:
  TensorInfo info_;
  float value_;
};

class RowPermutationSource final : public TensorSource {
 public:
  RowPermutationSource(std::shared_ptr<const TensorSource> input, TensorInfo info, std::vector<int64_t> order)
      : input_(std::move(input)), info_(std::move(info)), order_(std::move(order)) {}

  absl::Status Stream(ByteSink sink) const override {
    std::vector<uint8_t> owned;
    QC_ASSIGN_OR_RETURN(std::span<const uint8_t> in, WholeTensor(*input_, info_, owned));
    const size_t row_bytes = in.size() / order_.size();
    std::vector<uint8_t> out;
    for (size_t r = 0; r < order_.size(); ++r) {
      const uint8_t* row = in.data() + order_[r] * row_bytes;
      out.insert(out.end(), row, row + row_bytes);
      if (out.size() >= kStreamChunkBytes / 4 || r + 1 == order_.size()) {
        QC_RETURN_IF_ERROR(sink(out));
        out.clear();
      }
    }
    return absl::OkStatus();
  }
  std::string Describe() const override { return StrCat("permute-rows(", input_->Describe(), ")"); }

 private:
  std::shared_ptr<const TensorSource> input_;
  TensorInfo info_;
  std::vector<int64_t> order_;
};

class HeadSplitSource final : public TensorSource {
 public:
  HeadSplitSource(std::shared_ptr<const TensorSource> input, TensorInfo info, int64_t heads, int64_t a, int64_t b,
                  int part, bool transpose)
      : input_(std::move(input)), info_(std::move(info)), heads_(heads), a_(a), b_(b), part_(part), transpose_(transpose) {}

  absl::Status Stream(ByteSink sink) const override {
    std::vector<uint8_t> owned;
    QC_ASSIGN_OR_RETURN(std::span<const uint8_t> in, WholeTensor(*input_, info_, owned));
    const int64_t cols = info_.shape.back();
    const size_t es = Traits(info_.dtype).block_bytes;
    const int64_t rows = part_ == 0 ? a_ : b_, first = part_ == 0 ? 0 : a_;
    std::vector<uint8_t> out(static_cast<size_t>(rows * cols) * es);
    for (int64_t h = 0; h < heads_; ++h) {
      const uint8_t* block = in.data() + static_cast<size_t>((h * (a_ + b_) + first) * cols) * es;
      if (!transpose_) {
        std::memcpy(out.data(), block, out.size());
      } else {
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t c = 0; c < cols; ++c) {
            std::memcpy(out.data() + static_cast<size_t>(c * rows + r) * es, block + static_cast<size_t>(r * cols + c) * es, es);
          }
        }
      }
      QC_RETURN_IF_ERROR(sink(out));
    }
    return absl::OkStatus();
  }
  std::string Describe() const override {
    return StrCat("split-heads(part ", part_, transpose_ ? ", transposed" : "", ", ", input_->Describe(), ")");
  }

 private:
  std::shared_ptr<const TensorSource> input_;
  TensorInfo info_;
  int64_t heads_, a_, b_;
  int part_;
  bool transpose_;
};

class Int4TransposeSource final : public TensorSource {
 public:
  Int4TransposeSource(std::shared_ptr<const TensorSource> packed, int64_t n, int64_t k) : packed_(std::move(packed)), n_(n), k_(k) {}
  absl::Status Stream(ByteSink sink) const override {
    const int64_t row_bytes = (k_ * 4 + 31) / 32 * 4;  // each row is whole int32 words
    QC_ASSIGN_OR_RETURN(std::vector<uint8_t> in, ReadAll(*packed_, static_cast<uint64_t>(n_ * row_bytes)));
    std::vector<uint8_t> out(static_cast<size_t>((n_ * k_ + 1) / 2), 0);
    for (int64_t r = 0; r < n_; ++r) {
      for (int64_t c = 0; c < k_; ++c) {
        const uint8_t u = (in[r * row_bytes + c / 2] >> (4 * (c % 2))) & 15;
        const int64_t at = c * n_ + r;  // element (c, r) of [k, n]
        out[at / 2] |= static_cast<uint8_t>((u ^ 8) << (4 * (at % 2)));  // signed = u - 8, as a nibble
      }
    }
    return sink(out);
  }
  std::string Describe() const override { return StrCat("int4-transpose(", packed_->Describe(), ")"); }

 private:
  std::shared_ptr<const TensorSource> packed_;
  int64_t n_, k_;
};

class ConcatSource final : public TensorSource {
 public:
  ConcatSource(std::vector<std::shared_ptr<const TensorSource>> inputs, std::string description)
      : inputs_(std::move(inputs)), description_(std::move(description)) {}
  absl::Status Stream(ByteSink sink) const override {
    for (const auto& in : inputs_) QC_RETURN_IF_ERROR(in->Stream(sink));
    return absl::OkStatus();
  }
  std::string Describe() const override { return description_; }

 private:
  std::vector<std::shared_ptr<const TensorSource>> inputs_;
  std::string description_;
};

class VectorTransformSource final : public TensorSource {
 public:
  VectorTransformSource(std::shared_ptr<const TensorSource> input, TensorInfo info, DType to, VectorTransform f,
                        bool columns, std::string description)
      : input_(std::move(input)), info_(std::move(info)), to_(to), f_(std::move(f)), columns_(columns),
        description_(std::move(description)) {}

  absl::Status Stream(ByteSink sink) const override {
    const int64_t rows = info_.shape[0], cols = info_.shape[1];
    const size_t out_es = Traits(to_).block_bytes;
    auto emit = [&](const float* v, int64_t n) -> absl::Status {
      std::vector<uint8_t> out(static_cast<size_t>(n) * out_es);
      for (int64_t i = 0; i < n; ++i) StoreFloat(to_, v[i], out.data() + i * out_es);
      return sink(out);
    };
    if (columns_) {
      QC_ASSIGN_OR_RETURN(std::vector<float> w, ReadAllAsF32(*input_, info_));
      std::vector<float> t(w.size());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = w[r * cols + c];
      }
      f_(t.data(), cols, rows);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) w[r * cols + c] = t[c * rows + r];
      }
      return emit(w.data(), rows * cols);
    }
    const size_t in_row = static_cast<size_t>(cols) * Traits(info_.dtype).block_bytes;
    std::vector<uint8_t> pending;
    std::vector<float> f32;
    QC_RETURN_IF_ERROR(input_->Stream([&](std::span<const uint8_t> chunk) -> absl::Status {
      pending.insert(pending.end(), chunk.begin(), chunk.end());
      const int64_t whole = static_cast<int64_t>(pending.size() / in_row);
      if (whole == 0) return absl::OkStatus();
      f32.resize(static_cast<size_t>(whole * cols));
      QC_RETURN_IF_ERROR(DecodeToF32(info_.dtype, pending.data(), f32.size(), f32.data()));
      f_(f32.data(), whole, cols);
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(whole * in_row));
      return emit(f32.data(), whole * cols);
    }));
    if (!pending.empty()) return absl::DataLossError(StrCat(input_->Describe(), ": ends inside a row"));
    return absl::OkStatus();
  }
  std::string Describe() const override { return StrCat(description_, "(", input_->Describe(), ")"); }

 private:
  std::shared_ptr<const TensorSource> input_;
  TensorInfo info_;
  DType to_;
  VectorTransform f_;
  bool columns_;
  std::string description_;
};

}  // namespace

std::shared_ptr<const TensorSource> MakeVectorTransformSource(std::shared_ptr<const TensorSource> input,
                                                              TensorInfo input_info, DType to,
                                                              VectorTransform transform, bool columns,
                                                              std::string description) {
  return std::make_shared<VectorTransformSource>(std::move(input), std::move(input_info), to, std::move(transform),
                                                 columns, std::move(description));
}

std::shared_ptr<const TensorSource> MakeCastSource(std::shared_ptr<const TensorSource> input, TensorInfo input_info,
                                                   DType to) {
  return std::make_shared<CastSource>(std::move(input), std::move(input_info), to, std::vector<float>());
}

std::shared_ptr<const TensorSource> MakeColumnScaleSource(std::shared_ptr<const TensorSource> input,
                                                          TensorInfo input_info, DType to,
                                                          std::vector<float> column_scale) {
  return std::make_shared<CastSource>(std::move(input), std::move(input_info), to, std::move(column_scale));
}

std::shared_ptr<const TensorSource> MakeFillSource(TensorInfo info, float value) {
  return std::make_shared<FillSource>(std::move(info), value);
}

std::shared_ptr<const TensorSource> MakeRowPermutationSource(std::shared_ptr<const TensorSource> input,
                                                             TensorInfo input_info, std::vector<int64_t> order) {
  return std::make_shared<RowPermutationSource>(std::move(input), std::move(input_info), std::move(order));
}

std::shared_ptr<const TensorSource> MakeHeadSplitSource(std::shared_ptr<const TensorSource> input,
                                                        TensorInfo input_info, int64_t heads, int64_t a, int64_t b,
                                                        int part, bool transpose) {
  return std::make_shared<HeadSplitSource>(std::move(input), std::move(input_info), heads, a, b, part, transpose);
}

std::shared_ptr<const TensorSource> MakeInt4TransposeSource(std::shared_ptr<const TensorSource> packed, int64_t n, int64_t k) {
  return std::make_shared<Int4TransposeSource>(std::move(packed), n, k);
}

std::shared_ptr<const TensorSource> MakeConcatSource(std::vector<std::shared_ptr<const TensorSource>> inputs,
                                                     std::string description) {
  return std::make_shared<ConcatSource>(std::move(inputs), std::move(description));
}

}  // namespace quantc::passes
