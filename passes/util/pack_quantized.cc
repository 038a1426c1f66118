#include "passes/util/pack_quantized.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <unordered_set>

#include "absl/container/flat_hash_map.h"
#include "lib/arch/model_spec.h"
#include "lib/dtypes/float_convert.h"
#include "lib/ir/packed_int.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::passes {

absl::Status CheckPackableModel(const Model& model, std::string_view where) {
  const auto& entries = model.tensors.entries();
  if (std::none_of(entries.begin(), entries.end(), [](const TensorEntry& e) { return e.name.ends_with(kPackedSuffix); })) {
    return absl::OkStatus();  // no integer codes: nothing compressed-tensors would misdescribe
  }
  QC_ASSIGN_OR_RETURN(const arch::ModelSpec spec, arch::ParseModelSpec(model.config));
  if (spec.online_hadamard.any()) {
    return absl::FailedPreconditionError(StrCat(where, ": the model has an online Hadamard before down_proj (rotate r4, "
                                                "config.json quantc.online_hadamard), which compressed-tensors cannot carry "
                                                "and vLLM would not apply; rotate without r4 for safetensors output"));
  }
  return absl::OkStatus();
}
namespace {

namespace iq = kernels::int_quant;

// Packed words are written as the host stores them; the format is little-endian.
static_assert(std::endian::native == std::endian::little, "pack-quantized output assumes a little-endian host");

// What the encoders need to know about one weight.
struct Layout {
  std::string name;  // "X.weight", for messages
  iq::IntScheme scheme;
  DType scale_dtype;
  int64_t rows, cols, groups;
};

absl::Status CheckParams(const Layout& l, int64_t r0, const iq::IntParams* params, int64_t n) {
  const int maxq = iq::MaxQ(l.scheme);
  for (int64_t i = 0; i < n; ++i) {
    const iq::IntParams& p = params[i];
    const bool zero_ok = l.scheme.symmetric ? p.zero == (maxq + 1) / 2 : p.zero >= 0 && p.zero <= maxq;
    if (!zero_ok || !(p.scale > 0) || !std::isfinite(p.scale) || iq::RoundScale(p.scale, l.scale_dtype) != p.scale) {
      return absl::InvalidArgumentError(StrCat("tensor '", l.name, "' row ", r0 + i / l.groups, " group ", i % l.groups,
                                               ": parameters scale ", p.scale, " zero ", p.zero, " do not fit ",
                                               iq::Name(l.scheme), " with ", quantc::Name(l.scale_dtype),
                                               " scales (fit them with FitParams(..., scale_dtype))"));
    }
  }
  return absl::OkStatus();
}

// Scales of n row-groups in the scale dtype.
std::vector<uint8_t> EncodeScales(const Layout& l, const iq::IntParams* params, int64_t n) {
  const size_t es = Traits(l.scale_dtype).block_bytes;
  std::vector<uint8_t> out(static_cast<size_t>(n) * es);
  for (int64_t i = 0; i < n; ++i) {
    const float s = params[i].scale;
    if (l.scale_dtype == DType::kF32) {
      std::memcpy(out.data() + i * 4, &s, 4);
    } else {
      const uint16_t h = l.scale_dtype == DType::kBF16 ? F32ToBF16(s) : F32ToF16(s);
      std::memcpy(out.data() + i * 2, &h, 2);
    }
  }
  return out;
}

// Streams the producer, checking that its batches cover exactly [0, rows) and its parameters fit.
absl::Status ForEachCheckedRows(const Layout& l, const IntRowsProducer& producer, bool want_codes,
                                IntRowsProducer::RowsFn f) {
  int64_t next = 0;
  const int maxq = iq::MaxQ(l.scheme);
  QC_RETURN_IF_ERROR(producer.ForEachRows(want_codes, [&](int64_t r0, int64_t r1, const iq::IntParams* params,
                                                          const uint8_t* codes) -> absl::Status {
    if (r0 != next || r1 <= r0 || r1 > l.rows || (want_codes && codes == nullptr)) {
      return absl::InternalError(StrCat("tensor '", l.name, "': ", producer.Describe(), " gave rows [", r0, ", ", r1,
                                        "), expected a batch from row ", next, " of ", l.rows));
    }
    QC_RETURN_IF_ERROR(CheckParams(l, r0, params, (r1 - r0) * l.groups));
    if (want_codes) {
      for (int64_t i = 0; i < (r1 - r0) * l.cols; ++i) {
        if (codes[i] > maxq) {
          return absl::InvalidArgumentError(StrCat("tensor '", l.name, "' row ", r0 + i / l.cols, " column ", i % l.cols,
                                                   ": code ", int{codes[i]}, " is past maxq ", maxq));
        }
      }
    }
    next = r1;
    return f(r0, r1, params, codes);
  }));
  if (next != l.rows) {
    return absl::InternalError(StrCat("tensor '", l.name, "': ", producer.Describe(), " gave ", next, " rows, expected ", l.rows));
  }
  return absl::OkStatus();
}

// X.weight_packed: I32 [rows, PackedWords(cols)], one batch of rows per chunk.
class PackedSource final : public TensorSource {
 public:
  PackedSource(Layout l, std::shared_ptr<const IntRowsProducer> p) : l_(std::move(l)), p_(std::move(p)) {}
  absl::Status Stream(ByteSink sink) const override {
    const int64_t words = iq::PackedWords(l_.cols, l_.scheme.bits);
    std::vector<int32_t> out;
    return ForEachCheckedRows(l_, *p_, true, [&](int64_t r0, int64_t r1, const iq::IntParams*, const uint8_t* codes) {
      out.resize(static_cast<size_t>((r1 - r0) * words));
      for (int64_t r = 0; r < r1 - r0; ++r) iq::PackBits(codes + r * l_.cols, l_.cols, l_.scheme.bits, out.data() + r * words);
      return sink({reinterpret_cast<const uint8_t*>(out.data()), out.size() * 4});
    });
  }
  std::string Describe() const override { return StrCat("pack-", iq::Name(l_.scheme), "(", p_->Describe(), ")"); }

 private:
  Layout l_;
  std::shared_ptr<const IntRowsProducer> p_;
};

// X.weight_scale: [rows, groups] in the scale dtype.
class ScaleSource final : public TensorSource {
 public:
  ScaleSource(Layout l, std::shared_ptr<const IntRowsProducer> p) : l_(std::move(l)), p_(std::move(p)) {}
  absl::Status Stream(ByteSink sink) const override {
    return ForEachCheckedRows(l_, *p_, false, [&](int64_t r0, int64_t r1, const iq::IntParams* params, const uint8_t*) {
      return sink(EncodeScales(l_, params, (r1 - r0) * l_.groups));
    });
  }
  std::string Describe() const override { return StrCat("scales-", iq::Name(l_.scheme), "(", p_->Describe(), ")"); }

 private:
  Layout l_;
  std::shared_ptr<const IntRowsProducer> p_;
};

// X.weight_zero_point: I32 [PackedWords(rows), groups], packed along dim 0, so it needs every
// row's zero points (one byte per row-group) before the first word.
class ZeroPointSource final : public TensorSource {
 public:
  ZeroPointSource(Layout l, std::shared_ptr<const IntRowsProducer> p) : l_(std::move(l)), p_(std::move(p)) {}
  absl::Status Stream(ByteSink sink) const override {
    std::vector<uint8_t> zeros(static_cast<size_t>(l_.rows * l_.groups));
    QC_RETURN_IF_ERROR(ForEachCheckedRows(l_, *p_, false, [&](int64_t r0, int64_t r1, const iq::IntParams* params, const uint8_t*) {
      for (int64_t i = 0; i < (r1 - r0) * l_.groups; ++i) zeros[r0 * l_.groups + i] = static_cast<uint8_t>(params[i].zero);
      return absl::OkStatus();
    }));
    std::vector<int32_t> words(static_cast<size_t>(iq::PackedWords(l_.rows, l_.scheme.bits) * l_.groups));
    iq::PackBitsDim0(zeros.data(), l_.rows, l_.groups, l_.scheme.bits, words.data());
    return sink({reinterpret_cast<const uint8_t*>(words.data()), words.size() * 4});
  }
  std::string Describe() const override { return StrCat("zero-points-", iq::Name(l_.scheme), "(", p_->Describe(), ")"); }

 private:
  Layout l_;
  std::shared_ptr<const IntRowsProducer> p_;
};

// Codes and parameters already in memory, as one batch.
class SpanProducer final : public IntRowsProducer {
 public:
  SpanProducer(int64_t rows, std::span<const uint8_t> codes, std::span<const iq::IntParams> params)
      : rows_(rows), codes_(codes), params_(params) {}
  absl::Status ForEachRows(bool want_codes, RowsFn f) const override {
    return f(0, rows_, params_.data(), want_codes ? codes_.data() : nullptr);
  }
  std::string Describe() const override { return "memory"; }

 private:
  int64_t rows_;
  std::span<const uint8_t> codes_;
  std::span<const iq::IntParams> params_;
};

absl::StatusOr<Layout> LayoutFor(const TensorEntry& weight, const iq::IntScheme& scheme, DType scale_dtype) {
  QC_RETURN_IF_ERROR(CheckPackable(weight, scheme));
  if (scale_dtype != DType::kF32 && scale_dtype != DType::kBF16 && scale_dtype != DType::kF16) {
    return absl::InvalidArgumentError(StrCat("tensor '", weight.name, "': scales must be F32, BF16 or F16, not ",
                                             quantc::Name(scale_dtype)));
  }
  const int64_t rows = weight.info.shape[0], cols = weight.info.shape[1];
  return Layout{weight.name, scheme, scale_dtype, rows, cols, iq::GroupCount(scheme, cols)};
}

PackedIntTensors Entries(const TensorEntry& weight, const Layout& l, std::shared_ptr<const IntRowsProducer> producer) {
  PackedIntTensors t;
  t.weight_name = weight.name;
  auto add = [&](std::string_view suffix, TensorInfo info, std::shared_ptr<const TensorSource> source) {
    t.entries.push_back({StrCat(weight.name, suffix), std::move(info), std::move(source), weight.origin, weight.placement});
  };
  const int bits = l.scheme.bits;
  add(kPackedSuffix, {DType::kI32, {l.rows, iq::PackedWords(l.cols, bits)}}, std::make_shared<PackedSource>(l, producer));
  add(kScaleSuffix, {l.scale_dtype, {l.rows, l.groups}}, std::make_shared<ScaleSource>(l, producer));
  if (!l.scheme.symmetric) {
    add(kZeroPointSuffix, {DType::kI32, {iq::PackedWords(l.rows, bits), l.groups}},
        std::make_shared<ZeroPointSource>(l, producer));
  }
  std::vector<uint8_t> shape(16);
  std::memcpy(shape.data(), weight.info.shape.data(), 16);
  add(kShapeSuffix, {DType::kI64, {2}}, std::make_shared<OwnedTensorSource>(std::move(shape), "weight shape"));
  return t;
}

}  // namespace

DType PackedIntScaleDType(const Model& model) {
  for (const char* key : {"torch_dtype", "dtype"}) {
    auto it = model.config.find(key);
    if (it == model.config.end() || !it->is_string()) continue;
    if (*it == "bfloat16") return DType::kBF16;
    if (*it == "float16") return DType::kF16;
    if (*it == "float32") return DType::kF32;
  }
  return DType::kBF16;
}

absl::Status CheckPackable(const TensorEntry& weight, const iq::IntScheme& scheme) {
  const DType d = weight.info.dtype;
  const Shape& s = weight.info.shape;
  if (d == DType::kF8E4M3) {
    return absl::InvalidArgumentError(
        StrCat("tensor '", weight.name, "' is F8_E4M3; integer quantization starts from F32/F16/BF16 (run fp8-to-bf16 first)"));
  }
  if (d != DType::kF32 && d != DType::kF16 && d != DType::kBF16) {
    return absl::InvalidArgumentError(StrCat("tensor '", weight.name, "' is ", quantc::Name(d),
                                             "; integer quantization takes F32/F16/BF16 weights"));
  }
  if (s.size() != 2 || s[0] <= 0 || s[1] <= 0) {
    return absl::InvalidArgumentError(StrCat("tensor '", weight.name, "' is ", ShapeToString(s),
                                             "; pack-quantized stores 2-D [out, in] weights (stacked experts are not HF layout)"));
  }
  if (scheme.bits < 2 || scheme.bits > 8 || scheme.group < 0) {
    return absl::InvalidArgumentError(StrCat("scheme ", iq::Name(scheme), ": bits must be 2..8 and the group non-negative"));
  }
  return absl::OkStatus();
}

bool HasRaggedLastGroup(const TensorEntry& weight, const iq::IntScheme& scheme) {
  return scheme.group > 0 && !weight.info.shape.empty() && weight.info.shape.back() % scheme.group != 0;
}

std::string RaggedGroupsNote(std::string_view pass, int64_t count, const iq::IntScheme& scheme) {
  return StrCat(pass, ": ", count, " weights have a ragged last group (input width not a multiple of ", scheme.group,
                "): stored with ceil(in/", scheme.group, ") scales as compressed-tensors writes them; quantc runs them, "
                "vLLM's kernels need whole groups and will refuse those layers (use a group that divides every width, "
                "per-channel, or ignore=)");
}

absl::StatusOr<PackedIntTensors> PackInt(const TensorEntry& weight, const iq::IntScheme& scheme, DType scale_dtype,
                                         std::span<const uint8_t> codes, std::span<const iq::IntParams> params) {
  QC_ASSIGN_OR_RETURN(Layout l, LayoutFor(weight, scheme, scale_dtype));
  if (codes.size() != static_cast<size_t>(l.rows * l.cols) || params.size() != static_cast<size_t>(l.rows * l.groups)) {
    return absl::InvalidArgumentError(StrCat("tensor '", weight.name, "': ", codes.size(), " codes and ", params.size(),
                                             " parameters, expected ", l.rows * l.cols, " and ", l.rows * l.groups));
  }
  PackedIntTensors t = Entries(weight, l, std::make_shared<SpanProducer>(l.rows, codes, params));
  // Materialize now: the spans belong to the caller.
  for (TensorEntry& e : t.entries) {
    QC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadAll(*e.source, e.info.byte_size()));
    e.source = std::make_shared<OwnedTensorSource>(std::move(bytes), e.source->Describe());
  }
  return t;
}

absl::StatusOr<PackedIntTensors> PackIntLazy(const TensorEntry& weight, const iq::IntScheme& scheme, DType scale_dtype,
                                             std::shared_ptr<const IntRowsProducer> producer) {
  QC_ASSIGN_OR_RETURN(Layout l, LayoutFor(weight, scheme, scale_dtype));
  return Entries(weight, l, std::move(producer));
}

absl::Status ReplaceWithPacked(Model& model, std::vector<PackedIntTensors> packed) {
  // Check everything before moving anything, so an error leaves the model as it was.
  absl::flat_hash_map<std::string, size_t> by_name;
  for (size_t i = 0; i < packed.size(); ++i) {
    const std::string& name = packed[i].weight_name;
    if (model.tensors.Find(name) == nullptr) return absl::NotFoundError(StrCat("no tensor '", name, "' to replace with its packed form"));
    if (!by_name.emplace(name, i).second) return absl::InvalidArgumentError(StrCat("tensor '", name, "' is replaced twice"));
    for (const TensorEntry& e : packed[i].entries) {
      if (e.name != name && model.tensors.Find(e.name) != nullptr) {
        return absl::AlreadyExistsError(StrCat("tensor '", e.name, "' already exists"));
      }
    }
  }
  std::vector<TensorEntry>& entries = model.tensors.mutable_entries();
  std::vector<TensorEntry> out;
  out.reserve(entries.size() + 3 * packed.size());
  for (TensorEntry& e : entries) {
    auto it = by_name.find(e.name);
    if (it == by_name.end()) {
      out.push_back(std::move(e));
    } else {
      for (TensorEntry& p : packed[it->second].entries) out.push_back(std::move(p));
    }
  }
  entries = std::move(out);
  model.tensors.RebuildIndex();
  return absl::OkStatus();
}

std::string ModuleOf(std::string_view weight_name) {
  return std::string(weight_name.ends_with(".weight") ? weight_name.substr(0, weight_name.size() - 7) : weight_name);
}

std::vector<std::string> LinearModulesLeftOut(const Model& model, const arch::ArchAdapter& adapter,
                                              std::span<const std::string> quantized) {
  const std::unordered_set<std::string_view> done(quantized.begin(), quantized.end());
  std::vector<std::string> out;
  for (const TensorEntry& e : model.tensors.entries()) {
    const std::optional<arch::TensorRole> role = adapter.RoleOf(e.name);
    if (role && arch::IsLinearRole(role->role) && e.name.ends_with(".weight") && !done.contains(e.name)) {
      out.push_back(ModuleOf(e.name));
    }
  }
  return out;
}

void SetPackedIntQuantizationConfig(Model& model, const iq::IntScheme& scheme, std::span<const std::string> ignore,
                                    std::string_view actorder) {
  PackedIntConfig c;
  c.bits = scheme.bits;
  c.group_size = scheme.group > 0 ? scheme.group : -1;
  c.symmetric = scheme.symmetric;
  c.actorder = std::string(actorder);
  c.observer = scheme.mse ? "mse" : "minmax";
  SetPackedIntConfig(model, c, ignore);
}

}  // namespace quantc::passes
