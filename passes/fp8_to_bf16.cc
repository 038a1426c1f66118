// Contract: every F8_E4M3 tensor must have a block-scale companion, found by name anywhere in
// the checkpoint (DeepSeek-V3 PR #2: a scale may live in another shard):
//   V3/R1/V3.1:  "<name>_scale_inv"  F32 (or BF16)
//   V4:          "<base>.scale"      F8_E8M0 (for "<base>.weight")
// with shape [ceil(rows/br), ceil(cols/bc)], where [br, bc] is quantization_config's
// weight_block_size (default [128, 128]). The weight becomes BF16, the scale is dropped, every
// other tensor is kept unchanged, and quantization_config leaves config.json. An FP8 tensor
// without a scale is an error (fp8_cast_bf16.py warns and passes it through as FP8).
#include "passes/fp8_to_bf16.h"

#include <cstring>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "lib/support/strings.h"
#include "lib/ir/block_scale.h"
#include "lib/ir/fp4_weight.h"
#include "lib/kernels/fp8/block_dequant.h"
#include "lib/support/status_macros.h"

namespace quantc::passes {
namespace {

namespace fp8 = kernels::fp8;

// Streams the BF16 rows of one dequantized weight, a group of whole row-blocks at a time.
class Fp8DequantSource final : public TensorSource {
 public:
  Fp8DequantSource(std::string name, std::shared_ptr<const TensorSource> weight,
                   std::shared_ptr<const TensorSource> scale, TensorInfo scale_info, fp8::BlockLayout layout)
      : name_(std::move(name)),
        weight_(std::move(weight)),
        scale_(std::move(scale)),
        scale_info_(std::move(scale_info)),
        layout_(layout) {}

  absl::Status Stream(ByteSink sink) const override {
    QC_ASSIGN_OR_RETURN(std::vector<float> scales, ReadAllAsF32(*scale_, scale_info_));
    const int64_t cols = layout_.cols;
    // Rows per output chunk: about 1 MiB of BF16, so the chunk is still in cache when the writer
    // copies it out (a 16 MiB chunk would round-trip through DRAM first). At this size the kernel
    // runs on this thread alone: one core of table lookups (~3 GB/s of BF16) already outpaces the
    // writer thread's copy into the page cache, and idle OpenMP workers spinning beside the writer
    // thread slowed a 2-core cast by a third (docs/results.md).
    constexpr int64_t kChunkBytes = 1 << 20;
    const int64_t chunk_rows = std::max<int64_t>(1, kChunkBytes / (2 * cols));
    std::vector<uint16_t> out;
    std::vector<uint8_t> pending;  // input rows not yet converted (when chunks end mid-group)
    int64_t next_row = 0;
    auto emit = [&](const uint8_t* q, int64_t nrows) -> absl::Status {
      out.resize(static_cast<size_t>(nrows * cols));
      fp8::fast::DequantRowsToBF16(q, scales.data(), layout_, next_row, next_row + nrows, out.data());
      next_row += nrows;
      return sink({reinterpret_cast<const uint8_t*>(out.data()), out.size() * 2});
    };
    QC_RETURN_IF_ERROR(weight_->Stream([&](std::span<const uint8_t> chunk) -> absl::Status {
      // Fast path: convert whole row groups straight from the input chunk; buffer only the tail.
      size_t pos = 0;
      if (!pending.empty()) {
        size_t want = static_cast<size_t>(chunk_rows * cols) - pending.size();
        size_t take = std::min(want, chunk.size());
        pending.insert(pending.end(), chunk.begin(), chunk.begin() + take);
        pos = take;
        if (pending.size() == static_cast<size_t>(chunk_rows * cols)) {
          QC_RETURN_IF_ERROR(emit(pending.data(), chunk_rows));
          pending.clear();
        }
      }
      while (chunk.size() - pos >= static_cast<size_t>(chunk_rows * cols)) {
        QC_RETURN_IF_ERROR(emit(chunk.data() + pos, chunk_rows));
        pos += chunk_rows * cols;
      }
      pending.insert(pending.end(), chunk.begin() + pos, chunk.end());
      return absl::OkStatus();
    }));
    if (pending.size() % cols != 0) return absl::InternalError(StrCat(name_, ": FP8 stream ended mid-row"));
    if (!pending.empty()) QC_RETURN_IF_ERROR(emit(pending.data(), static_cast<int64_t>(pending.size() / cols)));
    if (next_row != layout_.rows) {
      return absl::InternalError(StrCat(name_, ": FP8 stream gave ", next_row, " rows, expected ", layout_.rows));
    }
    return absl::OkStatus();
  }

  std::string Describe() const override { return StrCat("fp8-to-bf16(", weight_->Describe(), ")"); }

 private:
  std::string name_;
  std::shared_ptr<const TensorSource> weight_, scale_;
  TensorInfo scale_info_;
  fp8::BlockLayout layout_;
};

class Fp8ToBf16Pass final : public Pass {
 public:
  explicit Fp8ToBf16Pass(Fp8ToBf16Options options) : options_(options) {}
  std::string_view Name() const override { return "fp8-to-bf16"; }
  void BindOptions(OptionBinder& b) override { Fp8ToBf16Options::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    QC_ASSIGN_OR_RETURN(auto block, BlockScaleSize(model));
    std::vector<std::string> used_scales;
    int64_t converted = 0;
    for (TensorEntry& e : model.tensors.mutable_entries()) {
      if (e.info.dtype != DType::kF8E4M3 || IsFp4Scale(model.tensors, e)) continue;
      const TensorEntry* scale = FindBlockScale(model.tensors, e.name);
      if (scale == nullptr) {
        return absl::InvalidArgumentError(StrCat("tensor '", e.name, "' (", e.origin, ") is F8_E4M3 but has no scale tensor '",
                                                 e.name, "_scale_inv' (or '.scale')"));
      }
      QC_RETURN_IF_ERROR(CheckBlockScale(e, *scale, block));
      fp8::BlockLayout layout{e.info.shape[0], e.info.shape[1], block.first, block.second};
      e.source = std::make_shared<Fp8DequantSource>(e.name, e.source, scale->source, scale->info, layout);
      e.info.dtype = DType::kBF16;
      used_scales.push_back(scale->name);
      ++converted;
    }
    if (converted == 0) return absl::OkStatus();
    absl::flat_hash_set<std::string> drop(used_scales.begin(), used_scales.end());
    size_t dropped = model.tensors.RemoveIf([&](const TensorEntry& t) { return drop.contains(t.name); });
    model.config.erase("quantization_config");
    for (const char* key : {"torch_dtype", "dtype"}) {
      if (model.config.contains(key)) model.config[key] = "bfloat16";
    }
    if (!model.config.contains("torch_dtype") && !model.config.contains("dtype")) {
      model.config["torch_dtype"] = "bfloat16";
    }
    ctx.stats->Add("tensors-converted", converted);
    ctx.stats->Add("scales-dropped", static_cast<int64_t>(dropped));
    return absl::OkStatus();
  }

 private:
  Fp8ToBf16Options options_;
};

}  // namespace

std::unique_ptr<Pass> CreateFp8ToBf16Pass(Fp8ToBf16Options options) {
  return std::make_unique<Fp8ToBf16Pass>(options);
}

bool HasFp8Weights(const Model& model) {
  for (const TensorEntry& e : model.tensors.entries()) {
    if (e.info.dtype == DType::kF8E4M3 && !IsFp4Scale(model.tensors, e)) return true;
  }
  return false;
}

}  // namespace quantc::passes
