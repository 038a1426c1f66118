#include "passes/shard.h"

#include <optional>
#include <string>
#include <vector>

#include "lib/arch/mp_layout.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::passes {
namespace {

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
    if (auto q = model.config.find("quantc"); q != model.config.end() && q->is_object() && q->contains("online_hadamard")) {
      return absl::FailedPreconditionError("shard: the model has an online Hadamard before down_proj (rotate r4, "
                                           "config.json quantc.online_hadamard), which DeepSeek-Infer cannot run");
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
      QC_ASSIGN_OR_RETURN(arch::InferName r, arch::DeepSeekInferName(e.name));
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
