#include "lib/arch/model_spec.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <type_traits>

#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::arch {
namespace {

using Json = nlohmann::ordered_json;

absl::Status KeyError(std::string_view key, std::string_view what) {
  return absl::InvalidArgumentError(StrCat("config.json: '", key, "' ", what));
}

// Reads config[key] as a number when present; `required` makes absence an error.
template <typename T>
absl::Status Read(const Json& config, std::string_view key, T* out, bool required = false) {
  auto it = config.find(std::string(key));
  if (it == config.end() || it->is_null()) return required ? KeyError(key, "is missing") : absl::OkStatus();
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) return KeyError(key, "must be true or false");
    *out = it->get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    // A float (1e30) or an unsigned past int64 would not convert to T defined-ly.
    if (!it->is_number_integer() || (it->is_number_unsigned() && it->template get<uint64_t>() > INT64_MAX)) {
      return KeyError(key, StrCat("must be an integer, got ", it->dump()));
    }
    *out = it->template get<T>();
  } else {
    if (!it->is_number()) return KeyError(key, StrCat("must be a number, got ", it->dump()));
    *out = it->template get<T>();
  }
  return absl::OkStatus();
}

// Sizes past every released model (DeepSeek-V3: hidden 7168, vocab 129280, 256 experts) by a wide
// margin, refused before anything is allocated from them: a hostile config.json could otherwise
// ask for a 2^40-entry vocabulary.
struct SizeLimit {
  const char* key;
  int64_t value, min, max;
};
absl::Status CheckSizes(std::initializer_list<SizeLimit> limits) {
  for (const SizeLimit& l : limits) {
    if (l.value < l.min || l.value > l.max) {
      return KeyError(l.key, StrCat(l.value, " is outside [", l.min, ", ", l.max, "]"));
    }
  }
  return absl::OkStatus();
}

// rope_parameters (transformers 5) or rope_theta + rope_scaling (released checkpoints).
absl::Status ReadRope(const Json& config, RopeSpec& rope) {
  Json params = Json::object();
  if (auto it = config.find("rope_parameters"); it != config.end() && it->is_object()) params = *it;
  if (auto it = config.find("rope_scaling"); it != config.end() && it->is_object()) params.update(*it);
  if (auto it = config.find("rope_theta"); it != config.end() && !params.contains("rope_theta")) {
    params["rope_theta"] = *it;
  }
  QC_RETURN_IF_ERROR(Read(params, "rope_theta", &rope.theta));
  std::string type = "default";
  for (const char* key : {"rope_type", "type"}) {
    if (auto it = params.find(key); it != params.end() && it->is_string()) type = it->get<std::string>();
  }
  if (type == "default") {
    rope.type = RopeType::kDefault;
  } else if (type == "llama3") {
    rope.type = RopeType::kLlama3;
    QC_RETURN_IF_ERROR(Read(params, "factor", &rope.factor, true));
    QC_RETURN_IF_ERROR(Read(params, "low_freq_factor", &rope.low_freq_factor, true));
    QC_RETURN_IF_ERROR(Read(params, "high_freq_factor", &rope.high_freq_factor, true));
    QC_RETURN_IF_ERROR(Read(params, "original_max_position_embeddings", &rope.original_max_position_embeddings, true));
  } else if (type == "yarn") {
    rope.type = RopeType::kYarn;
    QC_RETURN_IF_ERROR(Read(params, "factor", &rope.factor, true));
    QC_RETURN_IF_ERROR(Read(params, "original_max_position_embeddings", &rope.original_max_position_embeddings));
    if (rope.original_max_position_embeddings == 0) {
      QC_RETURN_IF_ERROR(Read(config, "max_position_embeddings", &rope.original_max_position_embeddings, true));
    }
    QC_RETURN_IF_ERROR(Read(params, "beta_fast", &rope.beta_fast));
    QC_RETURN_IF_ERROR(Read(params, "beta_slow", &rope.beta_slow));
    QC_RETURN_IF_ERROR(Read(params, "mscale", &rope.mscale));
    QC_RETURN_IF_ERROR(Read(params, "mscale_all_dim", &rope.mscale_all_dim));
    QC_RETURN_IF_ERROR(Read(params, "attention_factor", &rope.attention_factor));
  } else {
    return KeyError("rope_type", StrCat("'", type, "' is not supported (default, llama3, yarn)"));
  }
  return absl::OkStatus();
}

// "quantc": {"online_hadamard": {"down_proj": {...}}} (model_spec.h). Other keys under "quantc"
// are metadata and ignored; an unknown online transform or field is refused.
absl::Status ReadOnlineHadamard(const Json& config, OnlineHadamardSpec& h) {
  auto q = config.find("quantc");
  if (q == config.end() || q->is_null()) return absl::OkStatus();
  if (!q->is_object()) return KeyError("quantc", "must be an object");
  auto oh = q->find("online_hadamard");
  if (oh == q->end()) return absl::OkStatus();
  if (!oh->is_object()) return KeyError("quantc.online_hadamard", "must be an object");
  for (const auto& [target, fields] : oh->items()) {
    const std::string key = StrCat("quantc.online_hadamard.", target);
    if (target != "down_proj") {
      return absl::UnimplementedError(StrCat("config.json: '", key, "': online Hadamard before ", target,
                                             " is not supported (down_proj only)"));
    }
    if (!fields.is_object()) return KeyError(key, "must be an object");
    const std::pair<const char*, int64_t*> known[] = {
        {"size", &h.down_proj}, {"expert_size", &h.expert_down_proj}, {"shared_expert_size", &h.shared_down_proj}};
    for (const auto& [field, value] : fields.items()) {
      // An init-capture: clang before 16 cannot capture a structured binding (the fuzz build uses clang 14).
      auto it = std::find_if(std::begin(known), std::end(known),
                             [&field = field](const auto& k) { return field == k.first; });
      if (it == std::end(known)) {
        return absl::UnimplementedError(StrCat("config.json: '", key, ".", field,
                                               "' is not supported (size, expert_size, shared_expert_size)"));
      }
      if (!value.is_number_integer() || value.get<int64_t>() <= 0) {
        return KeyError(StrCat(key, ".", field), StrCat("must be a positive integer, got ", value.dump()));
      }
      *it->second = value.get<int64_t>();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelSpec> ParseModelSpec(const Json& config) {
  ModelSpec s;
  if (auto it = config.find("model_type"); it != config.end() && it->is_string()) s.model_type = it->get<std::string>();
  QC_RETURN_IF_ERROR(Read(config, "vocab_size", &s.vocab_size, true));
  QC_RETURN_IF_ERROR(Read(config, "hidden_size", &s.hidden_size, true));
  QC_RETURN_IF_ERROR(Read(config, "intermediate_size", &s.intermediate_size, true));
  QC_RETURN_IF_ERROR(Read(config, "num_hidden_layers", &s.num_layers, true));
  QC_RETURN_IF_ERROR(Read(config, "num_attention_heads", &s.num_heads, true));
  s.num_kv_heads = s.num_heads;
  QC_RETURN_IF_ERROR(Read(config, "num_key_value_heads", &s.num_kv_heads));
  QC_RETURN_IF_ERROR(CheckSizes({{"vocab_size", s.vocab_size, 1, int64_t{1} << 24},
                                  {"hidden_size", s.hidden_size, 1, int64_t{1} << 20},
                                  {"intermediate_size", s.intermediate_size, 1, int64_t{1} << 22},
                                  {"num_hidden_layers", s.num_layers, 1, 4096},
                                  {"num_attention_heads", s.num_heads, 1, 4096}}));
  if (config.contains("head_dim") && !config["head_dim"].is_null()) {
    QC_RETURN_IF_ERROR(Read(config, "head_dim", &s.head_dim));
  } else if (s.hidden_size % s.num_heads != 0) {
    return KeyError("num_attention_heads", StrCat(s.num_heads, " does not divide hidden_size ", s.hidden_size,
                                                  " (and there is no head_dim)"));
  } else {
    s.head_dim = s.hidden_size / s.num_heads;
  }
  QC_RETURN_IF_ERROR(Read(config, "rms_norm_eps", &s.rms_norm_eps));
  QC_RETURN_IF_ERROR(Read(config, "tie_word_embeddings", &s.tie_word_embeddings));
  QC_RETURN_IF_ERROR(Read(config, "attention_bias", &s.attention_bias));
  QC_RETURN_IF_ERROR(Read(config, "num_nextn_predict_layers", &s.num_mtp_layers));
  if (s.num_kv_heads <= 0 || s.num_heads % s.num_kv_heads != 0) {
    return KeyError("num_key_value_heads", StrCat(s.num_kv_heads, " does not divide num_attention_heads ", s.num_heads));
  }
  QC_RETURN_IF_ERROR(Read(config, "max_position_embeddings", &s.max_position_embeddings));
  QC_RETURN_IF_ERROR(CheckSizes({{"head_dim", s.head_dim, 1, 4096},
                                 {"num_nextn_predict_layers", s.num_mtp_layers, 0, 64},
                                 // rope tables are sized by it (ONNX); Llama 4 Scout's 10M fits
                                 {"max_position_embeddings", s.max_position_embeddings, 0, int64_t{1} << 24}}));
  QC_RETURN_IF_ERROR(ReadRope(config, s.rope));
  s.rope.dim = s.head_dim;

  QC_RETURN_IF_ERROR(Read(config, "kv_lora_rank", &s.mla.kv_lora_rank));
  if (s.mla.enabled()) {
    QC_RETURN_IF_ERROR(Read(config, "q_lora_rank", &s.mla.q_lora_rank));
    QC_RETURN_IF_ERROR(Read(config, "qk_nope_head_dim", &s.mla.qk_nope_head_dim, true));
    QC_RETURN_IF_ERROR(Read(config, "qk_rope_head_dim", &s.mla.qk_rope_head_dim, true));
    QC_RETURN_IF_ERROR(Read(config, "v_head_dim", &s.mla.v_head_dim, true));
    QC_RETURN_IF_ERROR(CheckSizes({{"kv_lora_rank", s.mla.kv_lora_rank, 1, 65536},
                                    {"q_lora_rank", s.mla.q_lora_rank, 0, 65536},
                                    {"qk_nope_head_dim", s.mla.qk_nope_head_dim, 1, 4096},
                                    {"qk_rope_head_dim", s.mla.qk_rope_head_dim, 2, 4096},
                                    {"v_head_dim", s.mla.v_head_dim, 1, 4096}}));
    s.rope.dim = s.mla.qk_rope_head_dim;
    s.rope.interleaved = true;  // DeepSeek stores rope dims as adjacent pairs
    if (auto it = config.find("rope_interleave"); it != config.end() && it->is_boolean()) {
      s.rope.interleaved = it->get<bool>();
    }
  }
  QC_RETURN_IF_ERROR(Read(config, "n_routed_experts", &s.moe.n_routed_experts));
  if (s.moe.enabled()) {
    MoeSpec& m = s.moe;
    QC_RETURN_IF_ERROR(Read(config, "n_shared_experts", &m.n_shared_experts));
    QC_RETURN_IF_ERROR(Read(config, "num_experts_per_tok", &m.top_k, true));
    QC_RETURN_IF_ERROR(Read(config, "n_group", &m.n_group));
    QC_RETURN_IF_ERROR(Read(config, "topk_group", &m.topk_group));
    QC_RETURN_IF_ERROR(Read(config, "moe_intermediate_size", &m.moe_intermediate_size, true));
    QC_RETURN_IF_ERROR(Read(config, "first_k_dense_replace", &m.first_k_dense_replace));
    QC_RETURN_IF_ERROR(Read(config, "norm_topk_prob", &m.norm_topk_prob));
    QC_RETURN_IF_ERROR(Read(config, "routed_scaling_factor", &m.routed_scaling_factor));
    // transformers 5 omits scoring_func for deepseek_v3, which always uses sigmoid (noaux_tc).
    m.scoring = s.model_type == "deepseek_v3" ? MoeScoring::kSigmoid : MoeScoring::kSoftmax;
    if (auto it = config.find("scoring_func"); it != config.end() && it->is_string()) {
      std::string f = it->get<std::string>();
      if (f == "sigmoid") m.scoring = MoeScoring::kSigmoid;
      else if (f == "softmax") m.scoring = MoeScoring::kSoftmax;
      else return KeyError("scoring_func", StrCat("'", f, "' is not supported (sigmoid, softmax)"));
    }
    QC_RETURN_IF_ERROR(CheckSizes({{"n_routed_experts", m.n_routed_experts, 1, 65536},
                                    {"n_shared_experts", m.n_shared_experts, 0, 64},
                                    {"num_experts_per_tok", m.top_k, 1, m.n_routed_experts},
                                    {"moe_intermediate_size", m.moe_intermediate_size, 1, int64_t{1} << 22},
                                    {"first_k_dense_replace", m.first_k_dense_replace, 0, s.num_layers}}));
    if (m.n_group <= 0 || m.n_routed_experts % m.n_group != 0 || m.topk_group <= 0 || m.topk_group > m.n_group) {
      return KeyError("n_group", StrCat(m.n_group, " groups / topk_group ", m.topk_group, " do not fit ",
                                        m.n_routed_experts, " experts"));
    }
  }
  QC_RETURN_IF_ERROR(ReadOnlineHadamard(config, s.online_hadamard));
  return s;
}

}  // namespace quantc::arch
