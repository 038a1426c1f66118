#include "passes/fp4_to_bf16.h"

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "lib/dtypes/float_convert.h"
#include "lib/ir/fp4_weight.h"
#include "lib/kernels/fp4/fp4.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/util/fp4_storage.h"

namespace quantc::passes {
namespace {

namespace fp4 = kernels::fp4;

// What one dequantized weight is made of: `rows` rows of `cols` codes (cols / 2 bytes each) with
// their scale bytes; with `experts` > 0 the rows are experts × out and each expert's [out, in]
// block is written transposed ([in, out], gpt-oss's Hugging Face layout).
struct Fp4Source {
  std::shared_ptr<const TensorSource> codes;
  TensorInfo codes_info;
  std::vector<uint8_t> scales;
  fp4::Fp4Format format = fp4::Fp4Format::kMx;
  float global = 1.0f;
  int64_t rows = 0, cols = 0, experts = 0;
};

// Streams BF16 rows (about 1 MiB at a time) from the codes, read whole once.
class Fp4DequantSource final : public TensorSource {
 public:
  explicit Fp4DequantSource(Fp4Source s) : s_(std::move(s)) {}

  absl::Status Stream(ByteSink sink) const override {
    QC_ASSIGN_OR_RETURN(std::vector<uint8_t> codes, ReadAll(*s_.codes, s_.codes_info.byte_size()));
    const int64_t cols = s_.cols, groups = cols / fp4::GroupSize(s_.format);
    auto dequant = [&](int64_t r0, int64_t r1, float* out) {
      for (int64_t r = r0; r < r1; ++r) {
        fp4::DequantizeRow(s_.format, codes.data() + r * (cols / 2), s_.scales.data() + r * groups, cols, s_.global,
                           out + (r - r0) * cols);
      }
    };
    std::vector<float> f32;
    std::vector<uint16_t> bf16;
    auto emit = [&](const float* v, size_t n) {
      bf16.resize(n);
      for (size_t i = 0; i < n; ++i) bf16[i] = F32ToBF16(v[i]);
      return sink({reinterpret_cast<const uint8_t*>(bf16.data()), n * 2});
    };
    if (s_.experts > 0) {
      const int64_t out_rows = s_.rows / s_.experts;
      std::vector<float> transposed(static_cast<size_t>(out_rows * cols));
      f32.resize(transposed.size());
      for (int64_t x = 0; x < s_.experts; ++x) {
        dequant(x * out_rows, (x + 1) * out_rows, f32.data());
        for (int64_t o = 0; o < out_rows; ++o) {
          for (int64_t i = 0; i < cols; ++i) transposed[i * out_rows + o] = f32[o * cols + i];
        }
        QC_RETURN_IF_ERROR(emit(transposed.data(), transposed.size()));
      }
      return absl::OkStatus();
    }
    const int64_t chunk_rows = std::max<int64_t>(1, (int64_t{1} << 19) / cols);
    for (int64_t r0 = 0; r0 < s_.rows; r0 += chunk_rows) {
      const int64_t r1 = std::min(s_.rows, r0 + chunk_rows);
      f32.resize(static_cast<size_t>((r1 - r0) * cols));
      dequant(r0, r1, f32.data());
      QC_RETURN_IF_ERROR(emit(f32.data(), f32.size()));
    }
    return absl::OkStatus();
  }

  std::string Describe() const override { return StrCat("fp4-to-bf16(", s_.codes->Describe(), ")"); }

 private:
  Fp4Source s_;
};

class Fp4ToBf16Pass final : public Pass {
 public:
  explicit Fp4ToBf16Pass(Fp4ToBf16Options options) : options_(options) {}
  std::string_view Name() const override { return "fp4-to-bf16"; }
  void BindOptions(OptionBinder& b) override { Fp4ToBf16Options::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    // Plan first (every check before any change), then rewrite the codes' entries in place.
    struct Change {
      std::string entry, new_name;
      Shape shape;
      Fp4Source source;
    };
    std::vector<Change> changes;
    absl::flat_hash_set<std::string> drop;
    bool described_by_config = false;
    for (const TensorEntry& t : model.tensors.entries()) {
      QC_ASSIGN_OR_RETURN(std::optional<Fp4GptOssBlocks> gpt, FindGptOssBlocks(model.tensors, t));
      if (gpt) {
        QC_ASSIGN_OR_RETURN(std::vector<uint8_t> scales, ReadAll(*gpt->scales->source, gpt->scales->info.byte_size()));
        if (auto nan = std::find(scales.begin(), scales.end(), 0xFF); nan != scales.end()) {
          return absl::InvalidArgumentError(StrCat("tensor '", gpt->scales->name, "' holds a NaN scale (0xFF) at index ",
                                                   nan - scales.begin()));
        }
        const Shape& b = t.info.shape;  // [experts, out, groups, 16]
        Fp4Source s{t.source, t.info, std::move(scales), fp4::Fp4Format::kMx, 1.0f, b[0] * b[1], b[2] * 32, b[0]};
        changes.push_back({t.name, gpt->parameter, Shape{b[0], b[2] * 32, b[1]}, std::move(s)});
        drop.insert(gpt->scales->name);
        described_by_config = true;
        continue;
      }
      std::string_view weight = t.name;
      if (weight.ends_with("_packed")) weight.remove_suffix(7);
      else if (!weight.ends_with(".weight")) continue;
      std::optional<Fp4Entries> f = FindFp4Weight(model.tensors, weight);
      if (!f || f->codes != &t) continue;
      QC_ASSIGN_OR_RETURN(auto dims, CheckFp4Weight(weight, *f));
      QC_ASSIGN_OR_RETURN(float global, Fp4GlobalMultiplier(*f));
      QC_ASSIGN_OR_RETURN(std::vector<uint8_t> scales, ReadFp4Scales(*f));
      Fp4Source s{t.source, t.info, std::move(scales), KernelFormat(f->scheme), global, dims.first, dims.second, 0};
      changes.push_back({t.name, std::string(weight), Shape{dims.first, dims.second}, std::move(s)});
      drop.insert(f->scales->name);
      if (f->global) drop.insert(f->global->name);
      // Activation scales belong to the FP4 kernels, not to BF16 weights.
      const std::string_view base = weight.substr(0, weight.size() - 7);
      for (const std::string& extra : {StrCat(base, ".input_scale"), StrCat(weight, "_shape"), StrCat(base, ".input_global_scale")}) {
        if (model.tensors.Find(extra)) drop.insert(extra);
      }
      described_by_config |= f->layout != Fp4Layout::kDeepSeekV4;
    }
    if (changes.empty()) return absl::OkStatus();
    for (Change& c : changes) {
      TensorEntry* e = model.tensors.FindMutable(c.entry);
      e->name = c.new_name;
      e->info.dtype = DType::kBF16;
      e->info.shape = c.shape;
      e->source = std::make_shared<Fp4DequantSource>(std::move(c.source));
    }
    model.tensors.RebuildIndex();
    const size_t dropped = model.tensors.RemoveIf([&](const TensorEntry& t) { return drop.contains(t.name); });
    if (described_by_config) {
      model.config.erase("quantization_config");
      std::erase_if(model.aux_files, [](const std::filesystem::path& p) { return p.filename() == "hf_quant_config.json"; });
    }
    ctx.stats->Add("tensors-converted", static_cast<int64_t>(changes.size()));
    ctx.stats->Add("tensors-dropped", static_cast<int64_t>(dropped));
    return absl::OkStatus();
  }

 private:
  Fp4ToBf16Options options_;
};

}  // namespace

std::unique_ptr<Pass> CreateFp4ToBf16Pass(Fp4ToBf16Options options) { return std::make_unique<Fp4ToBf16Pass>(options); }

}  // namespace quantc::passes
