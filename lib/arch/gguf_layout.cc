#include "lib/arch/gguf_layout.h"

#include <array>
#include <cmath>

#include "lib/arch/mp_layout.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::arch {
namespace {

struct Name {
  Role role;
  std::string_view text;  // after "blk.N." (or the whole name for globals)
};

constexpr Name kGlobal[] = {
    {Role::kEmbedding, "token_embd.weight"},
    {Role::kFinalNorm, "output_norm.weight"},
    {Role::kLmHead, "output.weight"},
    {Role::kRopeFreqs, "rope_freqs.weight"},
};
constexpr Name kLayer[] = {
    {Role::kAttnNorm, "attn_norm.weight"},
    {Role::kFfnNorm, "ffn_norm.weight"},
    {Role::kQ, "attn_q.weight"},
    {Role::kK, "attn_k.weight"},
    {Role::kV, "attn_v.weight"},
    {Role::kO, "attn_output.weight"},
    {Role::kQBias, "attn_q.bias"},
    {Role::kKBias, "attn_k.bias"},
    {Role::kVBias, "attn_v.bias"},
    {Role::kQA, "attn_q_a.weight"},
    {Role::kQANorm, "attn_q_a_norm.weight"},
    {Role::kQB, "attn_q_b.weight"},
    {Role::kKVA, "attn_kv_a_mqa.weight"},
    {Role::kKVANorm, "attn_kv_a_norm.weight"},
    {Role::kKVB, "attn_kv_b.weight"},
    {Role::kKB, "attn_k_b.weight"},
    {Role::kVB, "attn_v_b.weight"},
    {Role::kGate, "ffn_gate.weight"},
    {Role::kUp, "ffn_up.weight"},
    {Role::kDown, "ffn_down.weight"},
    {Role::kRouter, "ffn_gate_inp.weight"},
    {Role::kRouterBias, "exp_probs_b.bias"},
    {Role::kExpertGate, "ffn_gate_exps.weight"},
    {Role::kExpertUp, "ffn_up_exps.weight"},
    {Role::kExpertDown, "ffn_down_exps.weight"},
    {Role::kSharedGate, "ffn_gate_shexp.weight"},
    {Role::kSharedUp, "ffn_up_shexp.weight"},
    {Role::kSharedDown, "ffn_down_shexp.weight"},
};

bool IsRoutedExpert(Role r) { return r == Role::kExpertGate || r == Role::kExpertUp || r == Role::kExpertDown; }

class GgufLayoutAdapterImpl final : public ArchAdapter {
 public:
  explicit GgufLayoutAdapterImpl(const ArchAdapter& base) : base_(base) {}
  std::string_view model_type() const override { return base_.model_type(); }
  std::string TensorName(const TensorRole& role) const override { return GgufTensorName(role); }
  std::optional<TensorRole> RoleOf(std::string_view name) const override { return GgufRoleOf(name); }
  absl::Status Validate(ModelSpec& spec) const override {
    QC_RETURN_IF_ERROR(base_.Validate(spec));
    // The converter permutes llama's q/k rows so that llama.cpp's adjacent-pair rotation (rope
    // type NORM) computes Hugging Face's half-split rotation; read back, the rope is interleaved.
    if (spec.model_type == "llama") spec.rope.interleaved = true;
    return absl::OkStatus();
  }
  std::optional<int64_t> StackedIndex(const TensorRole& role) const override {
    if (IsRoutedExpert(role.role)) return role.expert;
    return std::nullopt;
  }

 private:
  const ArchAdapter& base_;
};

// ---- metadata helpers ----------------------------------------------------------------------------

const nlohmann::ordered_json* Find(const nlohmann::ordered_json& j, std::string_view key) {
  auto it = j.find(std::string(key));
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

uint32_t U32(int64_t v) { return static_cast<uint32_t>(v); }

}  // namespace

std::optional<std::string_view> GgufArchName(std::string_view model_type) {
  if (model_type == "qwen2") return "qwen2";
  if (model_type == "llama") return "llama";
  if (model_type == "deepseek_v3" || model_type == "deepseek_v2") return "deepseek2";
  return std::nullopt;
}

std::string GgufTensorName(const TensorRole& r) {
  for (const Name& g : kGlobal) {
    if (g.role == r.role) return std::string(g.text);
  }
  for (const Name& l : kLayer) {
    if (l.role == r.role) return StrCat("blk.", r.layer, ".", l.text);
  }
  return "";
}

std::optional<TensorRole> GgufRoleOf(std::string_view name) {
  for (const Name& g : kGlobal) {
    if (g.text == name) return TensorRole{g.role};
  }
  constexpr std::string_view kPrefix = "blk.";
  if (!name.starts_with(kPrefix)) return std::nullopt;
  std::string_view rest = name.substr(kPrefix.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto layer = ParseNumber<int64_t>(rest.substr(0, dot));
  if (!layer) return std::nullopt;
  rest.remove_prefix(dot + 1);
  for (const Name& l : kLayer) {
    if (l.text == rest) return TensorRole{l.role, *layer};
  }
  return std::nullopt;
}

const ArchAdapter& GgufLayoutAdapter(const ArchAdapter& base) {
  static const std::array<GgufLayoutAdapterImpl, 3> kAdapters = {
      GgufLayoutAdapterImpl(Qwen2Adapter()), GgufLayoutAdapterImpl(LlamaAdapter()),
      GgufLayoutAdapterImpl(DeepseekV3Adapter())};
  for (const auto& a : kAdapters) {
    if (a.model_type() == base.model_type()) return a;
  }
  return kAdapters[0];  // unreachable for the adapters of AllAdapters()
}

absl::StatusOr<const ArchAdapter*> AdapterForModel(const Model& model) {
  QC_ASSIGN_OR_RETURN(const ArchAdapter* base, AdapterFor(model.model_type()));
  if (model.layout == "gguf") return &GgufLayoutAdapter(*base);
  if (model.layout == "mp") {
    if (base->model_type() != "deepseek_v3") {
      return absl::UnimplementedError(StrCat("model_type '", base->model_type(), "' has no model-parallel layout"));
    }
    return &DeepSeekInferAdapter();
  }
  return base;
}

absl::StatusOr<Metadata> GgufArchMetadata(const ModelSpec& spec, const nlohmann::ordered_json& config) {
  auto arch = GgufArchName(spec.model_type);
  if (!arch) return absl::UnimplementedError(StrCat("config.json: model_type '", spec.model_type, "' has no GGUF mapping"));
  const std::string a(*arch);
  auto key = [&](std::string_view k) { return StrCat(a, ".", k); };
  Metadata m;
  const bool mla = spec.mla.enabled();
  // Generic keys, in the order of the converter's TextModel.set_gguf_parameters.
  m.Set(key("block_count"), MetaValue::U32(U32(spec.num_layers)));
  m.Set(key("context_length"), MetaValue::U32(U32(spec.max_position_embeddings)));
  m.Set(key("embedding_length"), MetaValue::U32(U32(spec.hidden_size)));
  m.Set(key("feed_forward_length"), MetaValue::U32(U32(spec.intermediate_size)));
  m.Set(key("attention.head_count"), MetaValue::U32(U32(spec.num_heads)));
  // MLA is exposed to llama.cpp as MQA over the latent (one KV head).
  m.Set(key("attention.head_count_kv"), MetaValue::U32(U32(mla ? 1 : spec.num_kv_heads)));
  const RopeSpec& rope = spec.rope;
  if (rope.type == RopeType::kYarn) {
    m.Set(key("rope.scaling.type"), MetaValue::String("yarn"));
    m.Set(key("rope.scaling.factor"), MetaValue::F32(static_cast<float>(rope.factor)));
    m.Set(key("rope.scaling.original_context_length"), MetaValue::U32(U32(rope.original_max_position_embeddings)));
    if (rope.attention_factor > 0) {
      m.Set(key("rope.scaling.yarn_attn_factor"), MetaValue::F32(static_cast<float>(rope.attention_factor)));
    }
    m.Set(key("rope.scaling.yarn_beta_fast"), MetaValue::F32(static_cast<float>(rope.beta_fast)));
    m.Set(key("rope.scaling.yarn_beta_slow"), MetaValue::F32(static_cast<float>(rope.beta_slow)));
  }
  m.Set(key("rope.freq_base"), MetaValue::F32(static_cast<float>(rope.theta)));
  m.Set(key("attention.layer_norm_rms_epsilon"), MetaValue::F32(static_cast<float>(spec.rms_norm_eps)));
  const MoeSpec& moe = spec.moe;
  if (moe.enabled()) {
    m.Set(key("expert_count"), MetaValue::U32(U32(moe.n_routed_experts)));
    m.Set(key("expert_used_count"), MetaValue::U32(U32(moe.top_k)));
    m.Set(key("expert_group_count"), MetaValue::U32(U32(moe.n_group)));
    m.Set(key("expert_group_used_count"), MetaValue::U32(U32(moe.topk_group)));
    // llama_expert_gating_func_type: 1 softmax, 2 sigmoid. Always written: llama.cpp defaults
    // deepseek2 to softmax when it is missing (specs/corrections.md #12).
    m.Set(key("expert_gating_func"), MetaValue::U32(moe.scoring == MoeScoring::kSigmoid ? 2 : 1));
  }
  if (!mla && Find(config, "head_dim") != nullptr) {
    m.Set(key("attention.key_length"), MetaValue::U32(U32(spec.head_dim)));
    m.Set(key("attention.value_length"), MetaValue::U32(U32(spec.head_dim)));
  }
  // Architecture extras (conversion/llama.py, conversion/deepseek.py).
  if (a == "llama") {
    m.Set(key("vocab_size"), MetaValue::U32(U32(spec.vocab_size)));
    m.Set(key("rope.dimension_count"), MetaValue::U32(U32(spec.head_dim)));
  } else if (a == "deepseek2") {
    m.Set(key("leading_dense_block_count"), MetaValue::U32(U32(moe.enabled() ? moe.first_k_dense_replace : spec.num_layers)));
    m.Set(key("vocab_size"), MetaValue::U32(U32(spec.vocab_size)));
    if (spec.mla.q_lora_rank > 0) m.Set(key("attention.q_lora_rank"), MetaValue::U32(U32(spec.mla.q_lora_rank)));
    m.Set(key("attention.kv_lora_rank"), MetaValue::U32(U32(spec.mla.kv_lora_rank)));
    m.Set(key("attention.key_length"), MetaValue::U32(U32(spec.mla.kv_lora_rank + spec.mla.qk_rope_head_dim)));
    m.Set(key("attention.value_length"), MetaValue::U32(U32(spec.mla.kv_lora_rank)));
    m.Set(key("attention.key_length_mla"), MetaValue::U32(U32(spec.mla.qk_nope_head_dim + spec.mla.qk_rope_head_dim)));
    m.Set(key("attention.value_length_mla"), MetaValue::U32(U32(spec.mla.v_head_dim)));
    m.Set(key("expert_feed_forward_length"), MetaValue::U32(U32(moe.enabled() ? moe.moe_intermediate_size : spec.intermediate_size)));
    m.Set(key("expert_shared_count"), MetaValue::U32(U32(moe.n_shared_experts)));
    if (moe.enabled()) {
      m.Set(key("expert_weights_scale"), MetaValue::F32(static_cast<float>(moe.routed_scaling_factor)));
      if (moe.norm_topk_prob) m.Set(key("expert_weights_norm"), MetaValue::Bool(true));
    }
    m.Set(key("rope.dimension_count"), MetaValue::U32(U32(spec.mla.qk_rope_head_dim)));
    if (rope.type == RopeType::kYarn && rope.mscale_all_dim > 0) {
      // llama.cpp divides by 0.1 again when loading deepseek2 (a documented legacy quirk).
      m.Set(key("rope.scaling.yarn_log_multiplier"), MetaValue::F32(static_cast<float>(0.1 * rope.mscale_all_dim)));
    }
  }
  return m;
}

absl::StatusOr<nlohmann::ordered_json> HfConfigFromGguf(const Model& model) {
  const Metadata& md = model.metadata;
  const std::string where = model.source_path.string();
  const MetaValue* arch_value = md.Find("general.architecture");
  std::optional<std::string> arch = arch_value ? arch_value->Get<std::string>() : std::nullopt;
  if (!arch) return absl::InvalidArgumentError(StrCat(where, ": key 'general.architecture' is missing"));
  std::string model_type;
  if (*arch == "qwen2" || *arch == "llama") model_type = *arch;
  else if (*arch == "deepseek2") model_type = "deepseek_v3";
  else return absl::UnimplementedError(StrCat(where, ": architecture '", *arch, "' is not supported (qwen2, llama, deepseek2)"));

  auto missing = [&](std::string_view k) {
    return absl::InvalidArgumentError(StrCat(where, ": key '", *arch, ".", k, "' is missing or not a number"));
  };
  // Integer keys: u32 as the converter writes them; other integer types are accepted.
  auto get_int = [&](std::string_view k) -> std::optional<int64_t> {
    const MetaValue* v = md.Find(StrCat(*arch, ".", k));
    if (v == nullptr || v->is_array) return std::nullopt;
    if (auto x = v->Get<uint32_t>()) return *x;
    if (auto x = v->Get<int32_t>()) return *x;
    if (auto x = v->Get<uint64_t>()) return static_cast<int64_t>(*x);
    if (auto x = v->Get<int64_t>()) return *x;
    return std::nullopt;
  };
  auto get_float = [&](std::string_view k) -> std::optional<double> {
    const MetaValue* v = md.Find(StrCat(*arch, ".", k));
    if (v == nullptr || v->is_array) return std::nullopt;
    if (auto x = v->Get<float>()) return *x;
    if (auto x = v->Get<double>()) return *x;
    return std::nullopt;
  };
  auto require = [&](std::string_view k) -> absl::StatusOr<int64_t> {
    auto v = get_int(k);
    if (!v) return missing(k);
    return *v;
  };

  nlohmann::ordered_json c = nlohmann::ordered_json::object();
  c["model_type"] = model_type;
  QC_ASSIGN_OR_RETURN(int64_t layers, require("block_count"));
  QC_ASSIGN_OR_RETURN(int64_t hidden, require("embedding_length"));
  QC_ASSIGN_OR_RETURN(int64_t heads, require("attention.head_count"));
  c["hidden_size"] = hidden;
  c["num_hidden_layers"] = layers;
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = get_int("attention.head_count_kv").value_or(heads);
  c["intermediate_size"] = get_int("feed_forward_length").value_or(0);
  c["max_position_embeddings"] = get_int("context_length").value_or(0);
  c["rms_norm_eps"] = get_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  // Vocabulary: token_embd's rows.
  const TensorEntry* embd = model.tensors.Find("token_embd.weight");
  if (embd == nullptr || embd->info.shape.size() != 2) {
    return absl::InvalidArgumentError(StrCat(where, ": tensor 'token_embd.weight' is missing or not 2-D"));
  }
  c["vocab_size"] = embd->info.shape[0];
  c["tie_word_embeddings"] = model.tensors.Find("output.weight") == nullptr;
  c["attention_bias"] = model.tensors.Find("blk.0.attn_q.bias") != nullptr;
  if (model_type != "deepseek_v3") {
    if (auto kl = get_int("attention.key_length")) c["head_dim"] = *kl;
  }

  nlohmann::ordered_json rope = nlohmann::ordered_json::object();
  rope["rope_theta"] = get_float("rope.freq_base").value_or(10000.0);
  rope["rope_type"] = "default";
  const MetaValue* scaling = md.Find(StrCat(*arch, ".rope.scaling.type"));
  std::optional<std::string> scaling_type = scaling ? scaling->Get<std::string>() : std::nullopt;
  if (scaling_type && *scaling_type == "yarn") {
    rope["rope_type"] = "yarn";
    rope["factor"] = get_float("rope.scaling.factor").value_or(1.0);
    rope["original_max_position_embeddings"] = get_int("rope.scaling.original_context_length").value_or(0);
    if (auto b = get_float("rope.scaling.yarn_beta_fast")) rope["beta_fast"] = *b;
    if (auto b = get_float("rope.scaling.yarn_beta_slow")) rope["beta_slow"] = *b;
    if (auto f = get_float("rope.scaling.yarn_attn_factor")) rope["attention_factor"] = *f;
    if (auto lm = get_float("rope.scaling.yarn_log_multiplier")) {
      const double mscale_all_dim = *lm / 0.1;  // deepseek2's legacy convention (see GgufArchMetadata)
      rope["mscale"] = mscale_all_dim;
      rope["mscale_all_dim"] = mscale_all_dim;
    }
  } else if (scaling_type && *scaling_type != "none") {
    return absl::UnimplementedError(StrCat(where, ": rope scaling type '", *scaling_type, "' is not supported"));
  }
  // llama3 scaling travels as the rope_freqs tensor, which the runner applies directly.
  c["rope_parameters"] = rope;

  if (model_type == "deepseek_v3") {
    QC_ASSIGN_OR_RETURN(int64_t kv_lora, require("attention.kv_lora_rank"));
    QC_ASSIGN_OR_RETURN(int64_t rope_dim, require("rope.dimension_count"));
    QC_ASSIGN_OR_RETURN(int64_t k_mla, require("attention.key_length_mla"));
    QC_ASSIGN_OR_RETURN(int64_t v_mla, require("attention.value_length_mla"));
    c["num_key_value_heads"] = heads;  // MLA: one latent "KV head" in GGUF, per-head keys in HF
    c["kv_lora_rank"] = kv_lora;
    c["q_lora_rank"] = get_int("attention.q_lora_rank").value_or(0);
    if (c["q_lora_rank"].get<int64_t>() == 0) c["q_lora_rank"] = nullptr;
    c["qk_rope_head_dim"] = rope_dim;
    c["qk_nope_head_dim"] = k_mla - rope_dim;
    c["v_head_dim"] = v_mla;
    c["rope_interleave"] = true;
    if (auto experts = get_int("expert_count"); experts && *experts > 0) {
      c["n_routed_experts"] = *experts;
      QC_ASSIGN_OR_RETURN(int64_t used, require("expert_used_count"));
      QC_ASSIGN_OR_RETURN(int64_t moe_ff, require("expert_feed_forward_length"));
      c["num_experts_per_tok"] = used;
      c["moe_intermediate_size"] = moe_ff;
      c["n_shared_experts"] = get_int("expert_shared_count").value_or(0);
      c["n_group"] = get_int("expert_group_count").value_or(1);
      c["topk_group"] = get_int("expert_group_used_count").value_or(1);
      c["first_k_dense_replace"] = get_int("leading_dense_block_count").value_or(0);
      c["routed_scaling_factor"] = get_float("expert_weights_scale").value_or(1.0);
      const MetaValue* norm = md.Find(StrCat(*arch, ".expert_weights_norm"));
      c["norm_topk_prob"] = norm != nullptr && norm->Get<bool>().value_or(false);
      const int64_t gating = get_int("expert_gating_func").value_or(1);
      c["scoring_func"] = gating == 2 ? "sigmoid" : "softmax";
    }
  }
  return c;
}

}  // namespace quantc::arch
