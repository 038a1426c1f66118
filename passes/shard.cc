#include "passes/shard.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::passes {
namespace {

// convert.py's mapping: HF key (second-to-last name component) -> demo name and split dim
// (-1: replicated).
struct DemoName {
  const char* demo;
  int split_dim;
};
const std::map<std::string, DemoName, std::less<>>& Mapping() {
  static const auto* m = new std::map<std::string, DemoName, std::less<>>{
      {"embed_tokens", {"embed", 0}},
      {"input_layernorm", {"attn_norm", -1}},
      {"post_attention_layernorm", {"ffn_norm", -1}},
      {"q_proj", {"wq", 0}},
      {"q_a_proj", {"wq_a", -1}},
      {"q_a_layernorm", {"q_norm", -1}},
      {"q_b_proj", {"wq_b", 0}},
      {"kv_a_proj_with_mqa", {"wkv_a", -1}},
      {"kv_a_layernorm", {"kv_norm", -1}},
      {"kv_b_proj", {"wkv_b", 0}},
      {"o_proj", {"wo", 1}},
      {"gate", {"gate", -1}},
      {"gate_proj", {"w1", 0}},
      {"down_proj", {"w2", 1}},
      {"up_proj", {"w3", 0}},
      {"norm", {"norm", -1}},
      {"lm_head", {"head", 0}},
      {"scale", {"scale", -1}},
  };
  return *m;
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

struct Renamed {
  std::string name;
  int split_dim = -1;
  std::optional<int64_t> expert;  // routed expert id
};

// convert.py's rewrite of one HF name (§3.1), or an error naming the tensor.
absl::StatusOr<Renamed> Rename(std::string_view hf_name) {
  std::string name(hf_name);
  if (name.rfind("model.", 0) == 0) name.erase(0, 6);
  ReplaceAll(name, "self_attn", "attn");
  ReplaceAll(name, "mlp", "ffn");
  ReplaceAll(name, "weight_scale_inv", "scale");
  ReplaceAll(name, "e_score_correction_bias", "bias");
  const std::vector<std::string_view> parts = SplitOn(name, '.');
  if (parts.size() < 2) return absl::InvalidArgumentError(StrCat("tensor '", hf_name, "': not a DeepSeek tensor name"));
  const std::string key(parts[parts.size() - 2]);
  auto it = Mapping().find(key);
  if (it == Mapping().end()) {
    return absl::InvalidArgumentError(
        StrCat("tensor '", hf_name, "': '", key, "' has no DeepSeek-Infer name (convert.py's mapping)"));
  }
  Renamed r;
  r.split_dim = it->second.split_dim;
  ReplaceAll(name, key, it->second.demo);
  r.name = std::move(name);
  if (r.name.find("experts") != std::string::npos && r.name.find("shared_experts") == std::string::npos) {
    const std::vector<std::string_view> renamed = SplitOn(r.name, '.');
    std::optional<int64_t> id = renamed.size() >= 3 ? ParseNumber<int64_t>(renamed[renamed.size() - 3]) : std::nullopt;
    if (!id) return absl::InvalidArgumentError(StrCat("tensor '", hf_name, "': routed expert without an index"));
    r.expert = *id;
  }
  return r;
}

// The layer index of "model.layers.<i>.…", if any.
std::optional<int64_t> LayerIndex(std::string_view name) {
  const std::vector<std::string_view> parts = SplitOn(name, '.');
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] == "layers") return ParseNumber<int64_t>(parts[i + 1]);
  }
  return std::nullopt;
}

absl::StatusOr<int64_t> ConfigInt(const Model& model, const char* key) {
  auto it = model.config.find(key);
  if (it == model.config.end() || !it->is_number_integer()) {
    return absl::InvalidArgumentError(StrCat("config.json: '", key, "' missing or not an integer"));
  }
  return it->get<int64_t>();
}

class ShardPass final : public Pass {
 public:
  explicit ShardPass(ShardOptions options) : options_(options) {}
  std::string_view Name() const override { return "shard"; }
  void BindOptions(OptionBinder& b) override { ShardOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    (void)ctx;
    const int64_t n = options_.n;
    if (n < 1) return absl::InvalidArgumentError(StrCat("shard: n must be at least 1, is ", n));
    if (model.layout != "hf") return absl::FailedPreconditionError("shard needs Hugging Face tensor names (layout hf)");
    const std::string type = model.model_type();
    if (type != "deepseek_v3" && type != "deepseek_v2") {
      return absl::InvalidArgumentError(StrCat("shard: model_type '", type,
                                               "' has no model-parallel layout (DeepSeek-V2/V3 only; engines shard "
                                               "Qwen2/Llama folders themselves)"));
    }
    QC_ASSIGN_OR_RETURN(const int64_t layers, ConfigInt(model, "num_hidden_layers"));
    QC_ASSIGN_OR_RETURN(const int64_t heads, ConfigInt(model, "num_attention_heads"));
    QC_ASSIGN_OR_RETURN(const int64_t experts, ConfigInt(model, "n_routed_experts"));
    if (heads % n != 0) {
      return absl::InvalidArgumentError(StrCat("shard: n=", n, " does not divide num_attention_heads=", heads));
    }
    if (experts % n != 0) {
      return absl::InvalidArgumentError(StrCat("shard: n=", n, " does not divide n_routed_experts=", experts));
    }
    const int64_t experts_per_rank = experts / n;

    // MTP layers (index >= num_hidden_layers) are not part of the demo model.
    model.tensors.RemoveIf([&](const TensorEntry& e) {
      const std::optional<int64_t> layer = LayerIndex(e.name);
      return layer && *layer >= layers;
    });
    for (TensorEntry& e : model.tensors.mutable_entries()) {
      QC_ASSIGN_OR_RETURN(Renamed r, Rename(e.name));
      Placement p;
      if (r.expert) {
        if (*r.expert < 0 || *r.expert >= experts) {
          return absl::InvalidArgumentError(StrCat("tensor '", e.name, "': expert ", *r.expert,
                                                   " is outside n_routed_experts=", experts));
        }
        p.kind = Placement::Kind::kOneRank;
        p.rank = *r.expert / experts_per_rank;
      } else if (r.split_dim >= 0) {
        const Shape& shape = e.info.shape;
        if (static_cast<int64_t>(shape.size()) <= r.split_dim) {
          return absl::InvalidArgumentError(StrCat("tensor '", e.name, "' ", ShapeToString(shape), " has no dim ",
                                                   r.split_dim, " to split"));
        }
        if (shape[r.split_dim] % n != 0) {
          return absl::InvalidArgumentError(StrCat("tensor '", e.name, "' ", ShapeToString(shape), ": dim ",
                                                   r.split_dim, " (", shape[r.split_dim], ") is not divisible by n=", n));
        }
        p.kind = Placement::Kind::kSplit;
        p.dim = r.split_dim;
      }
      if (Traits(e.info.dtype).is_block_quant) {
        return absl::InvalidArgumentError(StrCat("tensor '", e.name, "' is ", quantc::Name(e.info.dtype),
                                                 "; model-parallel shards hold F8_E4M3/BF16/F32 tensors"));
      }
      e.name = std::move(r.name);
      e.placement = p;
    }
    model.tensors.RebuildIndex();
    model.layout = "mp";
    model.mp_ranks = n;
    return absl::OkStatus();
  }

 private:
  ShardOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateShardPass(ShardOptions options) { return std::make_unique<ShardPass>(options); }

}  // namespace quantc::passes
