#include "passes/quantize.h"

#include <algorithm>
#include <cstring>

#include "lib/kernels/ggml_quants/quants.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/util/quant_mix.h"
#include "passes/util/tensor_sources.h"

namespace quantc::passes {
namespace {

namespace gq = kernels::ggml_quants;

// Streams a dense F32/F16/BF16 matrix (or stack of matrices) quantized to a block type, a batch of
// whole rows at a time; the rows of one batch are quantized in parallel. Each expert of a stack has
// its own importance vector.
class QuantizeSource final : public TensorSource {
 public:
  QuantizeSource(std::string name, std::shared_ptr<const TensorSource> input, TensorInfo info, DType to,
                 std::vector<std::vector<float>> importance)
      : name_(std::move(name)), input_(std::move(input)), info_(std::move(info)), to_(to), importance_(std::move(importance)) {}

  absl::Status Stream(ByteSink sink) const override {
    const int64_t cols = info_.cols(), rows = info_.rows();
    const int64_t rows_per_mat = info_.shape.size() >= 3 ? info_.shape[info_.shape.size() - 2] : rows;
    const size_t in_es = Traits(info_.dtype).block_bytes;
    const size_t in_row = static_cast<size_t>(cols) * in_es, out_row = gq::RowBytes(to_, cols);
    // About 8 MiB of FP32 per batch: enough rows for every thread, small enough to stay in cache.
    const int64_t batch_rows = std::max<int64_t>(1, (8 << 20) / (4 * cols));
    std::vector<uint8_t> pending;
    std::vector<float> f32;
    std::vector<uint8_t> out;
    int64_t next_row = 0;
    auto flush = [&](const uint8_t* bytes, int64_t n) -> absl::Status {
      f32.resize(static_cast<size_t>(n * cols));
      QC_RETURN_IF_ERROR(DecodeToF32(info_.dtype, bytes, f32.size(), f32.data()));
      out.resize(static_cast<size_t>(n) * out_row);
      // Split at expert boundaries: each expert's rows use that expert's importance vector.
      for (int64_t r = 0; r < n;) {
        const int64_t row = next_row + r, mat = row / rows_per_mat;
        const int64_t take = std::min(n - r, (mat + 1) * rows_per_mat - row);
        const float* imp = importance_.empty() ? nullptr
                                               : importance_[std::min<size_t>(mat, importance_.size() - 1)].data();
        gq::QuantizeRows(to_, f32.data() + r * cols, out.data() + r * out_row, take, cols, imp);
        r += take;
      }
      next_row += n;
      return sink(out);
    };
    QC_RETURN_IF_ERROR(input_->Stream([&](std::span<const uint8_t> chunk) -> absl::Status {
      pending.insert(pending.end(), chunk.begin(), chunk.end());
      const int64_t whole = static_cast<int64_t>(pending.size() / in_row);
      int64_t done = 0;
      while (whole - done >= batch_rows) {
        QC_RETURN_IF_ERROR(flush(pending.data() + done * in_row, batch_rows));
        done += batch_rows;
      }
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(done * in_row));
      return absl::OkStatus();
    }));
    if (pending.size() % in_row != 0) return absl::InternalError(StrCat(name_, ": input stream ended mid-row"));
    if (!pending.empty()) QC_RETURN_IF_ERROR(flush(pending.data(), static_cast<int64_t>(pending.size() / in_row)));
    if (next_row != rows) return absl::InternalError(StrCat(name_, ": input gave ", next_row, " rows, expected ", rows));
    return absl::OkStatus();
  }

  std::string Describe() const override { return StrCat("quantize-", Name(to_), "(", input_->Describe(), ")"); }

 private:
  std::string name_;
  std::shared_ptr<const TensorSource> input_;
  TensorInfo info_;
  DType to_;
  std::vector<std::vector<float>> importance_;
};

std::optional<int64_t> MetaInt(const Metadata& md, const std::string& key) {
  const MetaValue* v = md.Find(key);
  if (v == nullptr) return std::nullopt;
  if (auto x = v->Get<uint32_t>()) return *x;
  if (auto x = v->Get<int32_t>()) return *x;
  return std::nullopt;
}

absl::StatusOr<std::optional<DType>> OptionalType(const std::string& text, std::string_view option) {
  if (text.empty()) return std::optional<DType>();
  std::optional<DType> t = GgufTensorTypeFromName(text);
  if (!t) return absl::InvalidArgumentError(StrCat("option '", option, "': unknown tensor type '", text, "'"));
  return t;
}

absl::StatusOr<QuantMix> MixFor(const QuantizeOptions& options) {
  std::optional<QuantMix> mix = FindQuantMix(options.type);
  if (!mix) {
    return absl::InvalidArgumentError(StrCat("unknown type '", options.type, "' (one of: ", StrJoin(QuantMixNames(), ", "), ")"));
  }
  return *mix;
}

// The allocate pass's plan (kAllocateTypesKey), applied after the mix's rules so that their
// counters run as llama-quantize's do. Only for the mix it was made for; each entry must name a
// tensor the mix quantizes with a type whose blocks fit its rows.
absl::Status ApplyAllocation(const Model& model, const QuantizeOptions& options, std::vector<TypeChoice>& choices) {
  const MetaValue* types = model.metadata.Find(kAllocateTypesKey);
  if (types == nullptr) return absl::OkStatus();
  const MetaValue* mix = model.metadata.Find(kAllocateMixKey);
  const std::string mix_name = mix ? mix->Get<std::string>().value_or("") : "";
  if (mix_name != options.type) {
    return absl::FailedPreconditionError(StrCat("metadata '", kAllocateTypesKey, "' holds types allocated for '", mix_name,
                                                "', not for --type ", options.type));
  }
  const std::vector<std::string>* items = types->GetArray<std::string>();
  if (items == nullptr) return absl::InvalidArgumentError(StrCat("metadata '", kAllocateTypesKey, "' is not a string array"));
  const auto& entries = model.tensors.entries();
  for (const std::string& item : *items) {
    const size_t eq = item.rfind('=');
    const TensorEntry* it = eq == std::string::npos ? nullptr : model.tensors.Find(item.substr(0, eq));
    const std::optional<DType> parsed = it == nullptr ? std::nullopt : GgufTensorTypeFromName(item.substr(eq + 1));
    if (!parsed) {
      return absl::InvalidArgumentError(StrCat("metadata '", kAllocateTypesKey, "': '", item, "' is not TENSOR=TYPE of this model"));
    }
    const DType type = parsed.value_or(DType::kF32);
    TypeChoice& c = choices[static_cast<size_t>(it - entries.data())];
    if (!c.quantized || !Traits(type).is_block_quant || it->info.cols() % Traits(type).block_elems != 0) {
      return absl::InvalidArgumentError(StrCat("metadata '", kAllocateTypesKey, "': tensor '", it->name, "' cannot be ", item.substr(eq + 1)));
    }
    c.type = type;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<TypeChoice>> PlanQuantChoices(const Model& model, const QuantizeOptions& options,
                                                         bool has_importance) {
  QC_ASSIGN_OR_RETURN(const QuantMix mix, MixFor(options));
  const MetaValue* arch_value = model.metadata.Find("general.architecture");
  const std::string arch = arch_value ? arch_value->Get<std::string>().value_or("") : "";
  MixModel mm;
  mm.n_layer = MetaInt(model.metadata, arch + ".block_count").value_or(0);
  mm.n_expert = MetaInt(model.metadata, arch + ".expert_count").value_or(0);
  mm.n_head = MetaInt(model.metadata, arch + ".attention.head_count").value_or(1);
  mm.n_head_kv = MetaInt(model.metadata, arch + ".attention.head_count_kv").value_or(mm.n_head);

  MixOptions mo;
  mo.has_imatrix = has_importance;
  mo.pure = options.pure;
  mo.leave_output = options.leave_output;
  for (std::string_view item : SplitOn(options.overrides, ';')) {
    if (StripWhitespace(item).empty()) continue;
    QC_ASSIGN_OR_RETURN(TypeOverride o, ParseTypeOverride(StripWhitespace(item)));
    mo.overrides.push_back(std::move(o));
  }
  QC_ASSIGN_OR_RETURN(mo.output_type, OptionalType(options.output_type, "output-type"));
  QC_ASSIGN_OR_RETURN(mo.token_embedding_type, OptionalType(options.token_embedding_type, "token-embedding-type"));

  std::vector<TensorToType> tensors;
  for (const TensorEntry& e : model.tensors.entries()) tensors.push_back({e.name, e.info});
  QC_ASSIGN_OR_RETURN(std::vector<TypeChoice> choices, ChooseTypes(mix, mm, mo, tensors));
  QC_RETURN_IF_ERROR(ApplyAllocation(model, options, choices));
  return choices;
}

namespace {

class QuantizePass final : public Pass {
 public:
  explicit QuantizePass(QuantizeOptions options) : options_(std::move(options)) {}
  std::string_view Name() const override { return "quantize"; }
  void BindOptions(OptionBinder& b) override { QuantizeOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    if (model.layout != "gguf") return absl::FailedPreconditionError("quantize needs the GGUF layout (run gguf-layout first)");
    if (!options_.imatrix.empty() && ctx.importance == nullptr) {
      return absl::FailedPreconditionError(StrCat("importance matrix '", options_.imatrix, "' was named but not loaded"));
    }
    QC_ASSIGN_OR_RETURN(const QuantMix mix, MixFor(options_));
    QC_ASSIGN_OR_RETURN(std::vector<TypeChoice> choices, PlanQuantChoices(model, options_, ctx.importance != nullptr));

    int64_t quantized = 0, fallbacks = 0, without_importance = 0, with_importance = 0;
    auto& entries = model.tensors.mutable_entries();
    for (size_t i = 0; i < entries.size(); ++i) {
      TensorEntry& e = entries[i];
      const TypeChoice& c = choices[i];
      if (c.fallback) ++fallbacks;
      if (c.type == e.info.dtype) continue;
      if (Traits(e.info.dtype).is_block_quant) {
        return absl::UnimplementedError(StrCat("tensor '", e.name, "' is already ", quantc::Name(e.info.dtype),
                                               "; requantizing is not supported (start from F32/F16/BF16)"));
      }
      if (!Traits(c.type).is_block_quant) {
        e.source = MakeCastSource(e.source, e.info, c.type);
        e.info.dtype = c.type;
        continue;
      }
      std::vector<std::vector<float>> importance;
      if (ctx.importance != nullptr) {
        QC_ASSIGN_OR_RETURN(importance, ImportanceRows(*ctx.importance, e));
        (importance.empty() ? without_importance : with_importance) += 1;
      }
      e.source = MakeQuantizeSource(e.name, e.source, e.info, c.type, std::move(importance));
      e.info.dtype = c.type;
      ++quantized;
    }
    model.metadata.Set("general.file_type", MetaValue::U32(mix.file_type));
    model.metadata.Set("general.quantization_version", MetaValue::U32(2));
    if (ctx.importance != nullptr) {
      const ImportanceMatrix& im = *ctx.importance;
      model.metadata.Set("quantize.imatrix.file", MetaValue::String(options_.imatrix.empty() ? im.source : options_.imatrix));
      if (!im.datasets.empty()) model.metadata.Set("quantize.imatrix.dataset", MetaValue::String(im.datasets.front()));
      model.metadata.Set("quantize.imatrix.entries_count", MetaValue::I32(static_cast<int32_t>(im.entries.size())));
      model.metadata.Set("quantize.imatrix.chunks_count", MetaValue::I32(static_cast<int32_t>(im.chunk_count)));
    }
    ctx.stats->Add("tensors-quantized", quantized);
    ctx.stats->Add("shape-fallbacks", fallbacks);
    if (ctx.importance != nullptr) ctx.stats->Add("tensors-with-imatrix", with_importance);
    if (without_importance > 0) {
      ctx.notes->push_back(StrCat("quantize: ", without_importance, " tensors have no importance data; quantized without it"));
    }
    return absl::OkStatus();
  }

 private:
  QuantizeOptions options_;
};

}  // namespace

absl::StatusOr<std::vector<std::vector<float>>> ImportanceRows(const ImportanceMatrix& im, const TensorEntry& e) {
  const ImportanceEntry* entry = im.Find(e.name);
  if (entry == nullptr) return std::vector<std::vector<float>>();
  const int64_t mats = e.info.shape.size() >= 3 ? e.info.shape[0] : 1, cols = e.info.cols();
  std::vector<std::vector<float>> out;
  if (entry->n_per_row == cols && (entry->n_mat == mats || entry->n_mat == 1)) {
    for (int64_t m = 0; m < entry->n_mat; ++m) out.push_back(entry->MeanSquares(m));
    return out;
  }
  // A 3-D weight that is not a stack of experts (DeepSeek's attn_k_b / attn_v_b): llama-imatrix
  // keeps one count and concatenates the slices' columns; llama-quantize hands slice i the
  // values [i * cols, (i + 1) * cols).
  if (entry->n_mat == 1 && entry->n_per_row == cols * mats) {
    const std::vector<float> all = entry->MeanSquares(0);
    for (int64_t m = 0; m < mats; ++m) out.emplace_back(all.begin() + m * cols, all.begin() + (m + 1) * cols);
    return out;
  }
  return absl::InvalidArgumentError(StrCat("importance matrix entry '", e.name, "' is ", entry->n_mat, " x ", entry->n_per_row,
                                           ", the tensor needs ", mats, " x ", cols));
}

std::shared_ptr<const TensorSource> MakeQuantizeSource(std::string name, std::shared_ptr<const TensorSource> input,
                                                       TensorInfo info, DType to,
                                                       std::vector<std::vector<float>> importance) {
  return std::make_shared<QuantizeSource>(std::move(name), std::move(input), std::move(info), to, std::move(importance));
}

std::unique_ptr<Pass> CreateQuantizePass(QuantizeOptions options) { return std::make_unique<QuantizePass>(std::move(options)); }

absl::StatusOr<std::vector<DType>> PlanQuantTypes(const Model& model, const QuantizeOptions& options, bool has_importance) {
  QC_ASSIGN_OR_RETURN(std::vector<TypeChoice> choices, PlanQuantChoices(model, options, has_importance));
  std::vector<DType> types;
  types.reserve(choices.size());
  for (const TypeChoice& c : choices) types.push_back(c.type);
  return types;
}

}  // namespace quantc::passes
