#include "passes/gguf_layout.h"

#include <cmath>
#include <map>
#include <numbers>

#include "lib/arch/adapter.h"
#include "lib/arch/gguf_layout.h"
#include "lib/arch/model_spec.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/util/gguf_vocab.h"
#include "passes/util/tensor_sources.h"

namespace quantc::passes {
namespace {

using arch::Role;


// llama.cpp's converter keeps these in F32 whatever the output type: 1-D tensors (norms, biases),
// and the MoE router (conversion/base.py prepare_tensors).
bool KeepsF32(Role role, const TensorInfo& info) {
  return info.shape.size() == 1 || role == Role::kRouter;
}

// The converter's q/k permutation (conversion/llama.py LlamaModel.permute): within each head,
// view the rows as [2, head_dim / 2] and swap the axes, so that rotating adjacent pairs (llama.cpp's
// rope) equals rotating halves (transformers). Output row h*hd + 2i + j is input row h*hd + j*hd/2 + i.
std::vector<int64_t> LlamaRopeRowOrder(int64_t rows, int64_t heads) {
  const int64_t hd = rows / heads, half = hd / 2;
  std::vector<int64_t> order(static_cast<size_t>(rows));
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t j = 0; j < 2; ++j) order[h * hd + 2 * i + j] = h * hd + j * half + i;
    }
  }
  return order;
}

// llama3 rope scaling as per-frequency factors (conversion/llama.py generate_extra_tensors):
// 1 for short wavelengths, `factor` for long ones, a smooth blend between. The converter's
// arithmetic is float32 torch math on a 0-d tensor, and torch computes `number / tensor` as
// (1 / tensor) * number; doing the same steps in float keeps the factors bit-identical.
std::vector<float> Llama3RopeFactors(const arch::RopeSpec& rope, int64_t head_dim) {
  const float factor = static_cast<float>(rope.factor);
  const float low = static_cast<float>(rope.low_freq_factor), high = static_cast<float>(rope.high_freq_factor);
  const float old_context = static_cast<float>(rope.original_max_position_embeddings);
  const float low_wavelen = old_context / low, high_wavelen = old_context / high;
  std::vector<float> factors;
  for (int64_t i = 0; i < head_dim; i += 2) {
    const float freq = 1.0f / std::pow(static_cast<float>(rope.theta), static_cast<float>(i) / static_cast<float>(head_dim));
    const float wavelen = (1.0f / freq) * static_cast<float>(2 * std::numbers::pi);
    if (wavelen < high_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      factors.push_back(factor);
    } else {
      const float smooth = ((1.0f / wavelen) * old_context - low) / (high - low);
      factors.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
    }
  }
  return factors;
}

// general.file_type for an unquantized file: the dtype most weight bytes have.
uint32_t PlainFileType(const TensorTable& tensors) {
  std::map<DType, uint64_t> bytes;
  for (const TensorEntry& e : tensors.entries()) {
    if (e.info.shape.size() >= 2) bytes[e.info.dtype] += e.info.byte_size();
  }
  DType best = DType::kF32;
  uint64_t most = 0;
  for (auto [t, n] : bytes) {
    if (n > most) best = t, most = n;
  }
  return best == DType::kBF16 ? 32 : best == DType::kF16 ? 1 : 0;  // llama_ftype ids
}

class GgufLayoutPass final : public Pass {
 public:
  explicit GgufLayoutPass(GgufLayoutOptions options) : options_(std::move(options)) {}
  std::string_view Name() const override { return "gguf-layout"; }
  void BindOptions(OptionBinder& b) override { GgufLayoutOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    if (model.layout != "hf") return absl::FailedPreconditionError(StrCat("the model is already in ", model.layout, " layout"));
    QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterFor(model.model_type()));
    QC_ASSIGN_OR_RETURN(arch::ModelSpec spec, arch::ParseModelSpec(model.config));
    QC_RETURN_IF_ERROR(adapter->Validate(spec));
    if (spec.online_hadamard.any()) {  // no GGUF key or llama.cpp op for it
      return absl::FailedPreconditionError("the model has an online Hadamard before down_proj (rotate r4, config.json "
                                           "quantc.online_hadamard), which llama.cpp cannot run; rotate without r4 for GGUF");
    }
    auto arch_name = arch::GgufArchName(spec.model_type);
    if (!arch_name) return absl::UnimplementedError(StrCat("model_type '", spec.model_type, "' has no GGUF layout"));

    TensorTable out;
    auto add = [&](std::string name, TensorInfo info, std::shared_ptr<const TensorSource> source,
                   std::string origin) { return out.Add({std::move(name), std::move(info), std::move(source), std::move(origin)}); };
    if (spec.rope.type == arch::RopeType::kLlama3) {
      std::vector<float> f = Llama3RopeFactors(spec.rope, spec.head_dim);
      std::vector<uint8_t> bytes(f.size() * 4);
      std::memcpy(bytes.data(), f.data(), bytes.size());
      QC_RETURN_IF_ERROR(add("rope_freqs.weight", {DType::kF32, {static_cast<int64_t>(f.size())}},
                             std::make_shared<OwnedTensorSource>(std::move(bytes), "llama3 rope factors"), "generated"));
    }
    // Routed experts, gathered per (layer, kind) until the layer's set is complete.
    std::map<std::pair<int64_t, Role>, std::vector<const TensorEntry*>> experts;
    int64_t dropped = 0, permuted = 0, split = 0, stacked = 0;

    for (const TensorEntry& e : model.tensors.entries()) {
      std::optional<arch::TensorRole> role = adapter->RoleOf(e.name);
      if (!role || role->layer >= spec.num_layers) {  // MTP modules, rotary caches, anything llama.cpp does not load
        ++dropped;
        continue;
      }
      if (!IsDenseFloat(e.info.dtype)) {
        return absl::InvalidArgumentError(StrCat("tensor '", e.name, "' (", e.origin, ") is ", quantc::Name(e.info.dtype),
                                                 "; gguf-layout takes F32/F16/BF16 (run fp8-to-bf16 first)"));
      }
      const std::string name = arch::GgufTensorName(*role);
      if (role->role == Role::kExpertGate || role->role == Role::kExpertUp || role->role == Role::kExpertDown) {
        auto& set = experts[{role->layer, role->role}];
        if (set.empty()) set.resize(static_cast<size_t>(spec.moe.n_routed_experts), nullptr);
        if (role->expert < 0 || role->expert >= spec.moe.n_routed_experts) {
          return absl::InvalidArgumentError(StrCat("tensor '", e.name, "': expert ", role->expert, " is past n_routed_experts ",
                                                   spec.moe.n_routed_experts));
        }
        set[role->expert] = &e;
        if (std::find(set.begin(), set.end(), nullptr) == set.end()) {
          QC_RETURN_IF_ERROR(EmitStacked(name, set, out));
          ++stacked;
        }
        continue;
      }
      if (role->role == Role::kKVB) {
        const int64_t heads = spec.num_heads, nope = spec.mla.qk_nope_head_dim, v = spec.mla.v_head_dim;
        const int64_t r = spec.mla.kv_lora_rank;
        if (e.info.shape != Shape{heads * (nope + v), r}) {
          return absl::InvalidArgumentError(StrCat("tensor '", e.name, "' has shape ", ShapeToString(e.info.shape), ", expected [",
                                                   heads * (nope + v), ", ", r, "]"));
        }
        QC_RETURN_IF_ERROR(add(arch::GgufTensorName({Role::kKB, role->layer}), {e.info.dtype, {heads, r, nope}},
                               MakeHeadSplitSource(e.source, e.info, heads, nope, v, 0, /*transpose=*/true), e.origin));
        QC_RETURN_IF_ERROR(add(arch::GgufTensorName({Role::kVB, role->layer}), {e.info.dtype, {heads, v, r}},
                               MakeHeadSplitSource(e.source, e.info, heads, nope, v, 1, /*transpose=*/false), e.origin));
        ++split;
        continue;
      }
      TensorInfo info = e.info;
      std::shared_ptr<const TensorSource> source = e.source;
      if (spec.model_type == "llama" && (role->role == Role::kQ || role->role == Role::kK || role->role == Role::kQBias ||
                                         role->role == Role::kKBias)) {
        const bool is_q = role->role == Role::kQ || role->role == Role::kQBias;
        const int64_t heads = is_q ? spec.num_heads : spec.num_kv_heads;
        if (info.shape[0] % (2 * heads) != 0) {
          return absl::InvalidArgumentError(StrCat("tensor '", e.name, "': ", info.shape[0], " rows do not split into ", heads,
                                                   " heads of even size"));
        }
        source = MakeRowPermutationSource(source, info, LlamaRopeRowOrder(info.shape[0], heads));
        ++permuted;
      }
      if (KeepsF32(role->role, info) && info.dtype != DType::kF32) {
        source = MakeCastSource(source, info, DType::kF32);
        info.dtype = DType::kF32;
      }
      QC_RETURN_IF_ERROR(add(name, info, source, e.origin));
    }
    for (const auto& [key, set] : experts) {
      if (std::find(set.begin(), set.end(), nullptr) != set.end()) {
        return absl::InvalidArgumentError(StrCat("layer ", key.first, ": the checkpoint lacks some routed experts' ",
                                                 arch::GgufTensorName({key.second, key.first})));
      }
    }
    model.tensors = std::move(out);
    model.tensors.RebuildIndex();

    // Metadata, in the converter's order: general.*, the architecture's keys, file type,
    // quantization version, tokenizer.
    Metadata md;
    md.Set("general.architecture", MetaValue::String(std::string(*arch_name)));
    md.Set("general.type", MetaValue::String("model"));
    std::string name = options_.name.empty() ? model.source_path.filename().string() : options_.name;
    if (name.empty()) name = model.source_path.parent_path().filename().string();
    md.Set("general.name", MetaValue::String(name));
    QC_ASSIGN_OR_RETURN(Metadata arch_keys, arch::GgufArchMetadata(spec, model.config));
    for (auto& [k, v] : arch_keys.entries()) md.Set(k, v);
    md.Set("general.file_type", MetaValue::U32(PlainFileType(model.tensors)));
    md.Set("general.quantization_version", MetaValue::U32(2));  // GGML_QNT_VERSION; the converter always writes it
    const std::filesystem::path folder =
        std::filesystem::is_directory(model.source_path) ? model.source_path : model.source_path.parent_path();
    QC_ASSIGN_OR_RETURN(Metadata vocab, GgufTokenizerMetadata(folder, model.config, spec.vocab_size));
    for (auto& [k, v] : vocab.entries()) md.Set(k, v);
    model.metadata = std::move(md);
    model.layout = "gguf";

    ctx.stats->Add("tensors-dropped", dropped);
    ctx.stats->Add("qk-permuted", permuted);
    ctx.stats->Add("kv-b-split", split);
    ctx.stats->Add("experts-stacked", stacked);
    if (dropped > 0) ctx.notes->push_back(StrCat("gguf-layout: dropped ", dropped, " tensors llama.cpp does not load (MTP layers, caches)"));
    return absl::OkStatus();
  }

 private:
  static absl::Status EmitStacked(const std::string& name, const std::vector<const TensorEntry*>& set, TensorTable& out) {
    const TensorInfo& first = set[0]->info;
    std::vector<std::shared_ptr<const TensorSource>> sources;
    for (const TensorEntry* e : set) {
      if (e->info.dtype != first.dtype || e->info.shape != first.shape) {
        return absl::InvalidArgumentError(StrCat("tensor '", e->name, "' is ", quantc::Name(e->info.dtype), " ", ShapeToString(e->info.shape),
                                                 ", unlike '", set[0]->name, "' (", quantc::Name(first.dtype), " ",
                                                 ShapeToString(first.shape), "): experts must match to be stacked"));
      }
      sources.push_back(e->source);
    }
    Shape shape = first.shape;
    shape.insert(shape.begin(), static_cast<int64_t>(set.size()));
    return out.Add({name, {first.dtype, shape}, MakeConcatSource(std::move(sources), StrCat("stack(", set.size(), " experts)")),
                    set[0]->origin});
  }

  GgufLayoutOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateGgufLayoutPass(GgufLayoutOptions options) {
  return std::make_unique<GgufLayoutPass>(std::move(options));
}

}  // namespace quantc::passes
