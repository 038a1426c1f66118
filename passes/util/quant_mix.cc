#include "passes/util/quant_mix.h"

#include <algorithm>
#include <cctype>
#include <numeric>

#include "lib/support/strings.h"

namespace quantc::passes {
namespace {

// llama_ftype ids and default types (llama-quant.cpp llama_ftype_get_default_type).
constexpr QuantMix kMixes[] = {
    {"F32", 0, DType::kF32},        {"F16", 1, DType::kF16},          {"BF16", 32, DType::kBF16},
    {"Q4_0", 2, DType::kQ4_0},      {"Q4_1", 3, DType::kQ4_1},        {"Q5_0", 8, DType::kQ5_0},
    {"Q5_1", 9, DType::kQ5_1},      {"Q8_0", 7, DType::kQ8_0},        {"Q2_K", 10, DType::kQ2_K},
    {"Q2_K_S", 21, DType::kQ2_K, true},
    {"Q3_K_S", 11, DType::kQ3_K},   {"Q3_K_M", 12, DType::kQ3_K},     {"Q3_K_L", 13, DType::kQ3_K},
    {"Q4_K_S", 14, DType::kQ4_K},   {"Q4_K_M", 15, DType::kQ4_K},     {"Q5_K_S", 16, DType::kQ5_K},
    {"Q5_K_M", 17, DType::kQ5_K},   {"Q6_K", 18, DType::kQ6_K},       {"IQ4_NL", 25, DType::kIQ4_NL},
    {"IQ4_XS", 30, DType::kIQ4_XS}, {"MXFP4_MOE", 38, DType::kMXFP4},
};

enum class Category { kOutput, kTokenEmbd, kAttnQkv, kAttnKvB, kAttnV, kAttnK, kAttnQ, kAttnOutput, kFfnUp, kFfnGate, kFfnDown, kOther };

bool Contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// Substring tests in llama.cpp's order (tensor_get_category); "ffn_down" also matches _exps/_shexp.
Category CategoryOf(std::string_view n) {
  if (n == "output.weight") return Category::kOutput;
  if (n == "token_embd.weight") return Category::kTokenEmbd;
  if (Contains(n, "attn_qkv.weight")) return Category::kAttnQkv;
  if (Contains(n, "attn_kv_b.weight")) return Category::kAttnKvB;
  if (Contains(n, "attn_v.weight")) return Category::kAttnV;
  if (Contains(n, "attn_k.weight")) return Category::kAttnK;
  if (Contains(n, "attn_q.weight")) return Category::kAttnQ;
  if (Contains(n, "attn_output.weight")) return Category::kAttnOutput;
  if (Contains(n, "ffn_up")) return Category::kFfnUp;
  if (Contains(n, "ffn_gate")) return Category::kFfnGate;
  if (Contains(n, "ffn_down")) return Category::kFfnDown;
  return Category::kOther;
}

bool IsAttnVLike(Category c) { return c == Category::kAttnV || c == Category::kAttnQkv || c == Category::kAttnKvB; }

// tensor_allows_quantization, for the tensor kinds quantc's architectures have.
bool AllowsQuantization(std::string_view n, const TensorInfo& info, const MixOptions& o) {
  if (info.shape.size() < 2) return false;
  if (!n.ends_with("weight")) return false;
  if (Contains(n, "_norm.weight")) return false;
  if (o.leave_output && n == "output.weight") return false;
  if (Contains(n, "ffn_gate_inp.weight")) return false;
  return true;
}

// "blk.12.attn_v.weight" -> 12; -1 for globals.
int64_t LayerOf(std::string_view n) {
  if (!n.starts_with("blk.")) return -1;
  n.remove_prefix(4);
  return ParseNumber<int64_t>(n.substr(0, n.find('.'))).value_or(-1);
}

bool UseMoreBits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

struct State {
  int64_t n_attention_wv = 0, i_attention_wv = 0;
  int64_t i_ffn_down = 0, i_ffn_gate = 0, i_ffn_up = 0;
  bool has_tied_embeddings = true;
};

// llama_tensor_get_type_impl for the mixes in kMixes (no IQ1/IQ2/IQ3 families).
DType MixType(std::string_view mix, DType t, std::string_view name, const TensorInfo& info, Category cat,
              const MixModel& m, const MixOptions& o, State& s) {
  const bool eight_experts = m.n_expert == 8;
  const int64_t n_gqa = m.n_head_kv > 0 ? m.n_head / m.n_head_kv : 1;
  // ffn counters: the layer from the name when the model has experts, else the running count.
  auto layer_of = [&](int64_t counter) { return m.n_expert > 1 ? LayerOf(name) : counter; };
  const int64_t n_layer = m.n_layer;
  if (cat == Category::kOutput || (s.has_tied_embeddings && cat == Category::kTokenEmbd)) {
    if (o.output_type) return *o.output_type;
    const int64_t nx = info.shape.back();
    if (mix == "MXFP4_MOE") return DType::kQ8_0;
    if (nx % Traits(t).block_elems != 0) return DType::kQ8_0;
    if (t != DType::kQ8_0) return DType::kQ6_K;
    return t;
  }
  if (mix == "MXFP4_MOE") return info.shape.size() >= 3 && info.shape[0] > 1 ? DType::kMXFP4 : DType::kQ8_0;
  if (cat == Category::kTokenEmbd) return o.token_embedding_type.value_or(t);
  if (IsAttnVLike(cat)) {
    if (mix == "Q2_K") t = n_gqa >= 4 ? DType::kQ4_K : DType::kQ3_K;
    else if (mix == "Q2_K_S" && n_gqa >= 4) t = DType::kQ4_K;
    else if (mix == "Q3_K_M") t = s.i_attention_wv < 2 ? DType::kQ5_K : DType::kQ4_K;
    else if (mix == "Q3_K_L") t = DType::kQ5_K;
    else if ((mix == "IQ4_NL" || mix == "IQ4_XS") && n_gqa >= 4) t = DType::kQ5_K;
    else if ((mix == "Q4_K_M" || mix == "Q5_K_M") && UseMoreBits(s.i_attention_wv, s.n_attention_wv)) t = DType::kQ6_K;
    else if (mix == "Q4_K_S" && s.i_attention_wv < 4) t = DType::kQ5_K;
    // (llama.cpp also bumps 70B-class models; quantc's architectures never classify as LLM_TYPE_70B
    // at the sizes it reads... except real 70B llamas: not distinguished here.)
    if (eight_experts) t = DType::kQ8_0;
    ++s.i_attention_wv;
    return t;
  }
  if (cat == Category::kAttnK) return eight_experts ? DType::kQ8_0 : t;
  if (cat == Category::kAttnQ) return t;
  if (cat == Category::kFfnDown) {
    const int64_t i = layer_of(s.i_ffn_down);
    if (mix == "Q2_K") t = DType::kQ3_K;
    else if (mix == "Q2_K_S") { if (i < n_layer / 8) t = DType::kQ4_K; }
    else if (mix == "Q3_K_M") t = i < n_layer / 16 ? DType::kQ5_K : DType::kQ4_K;
    else if (mix == "Q3_K_L") t = DType::kQ5_K;
    else if (mix == "Q4_K_M") { if (UseMoreBits(i, n_layer)) t = DType::kQ6_K; }
    else if (i < n_layer / 8 && (mix == "IQ4_NL" || mix == "IQ4_XS") && !o.has_imatrix) t = DType::kQ5_K;
    else if (mix == "Q5_K_M" && UseMoreBits(i, n_layer)) t = DType::kQ6_K;
    else if (mix == "Q4_K_S" && i < n_layer / 8) t = DType::kQ5_K;
    else if ((mix == "Q4_0" || mix == "Q5_0") && o.has_imatrix && i < n_layer / 8) {
      t = mix == "Q4_0" ? DType::kQ4_1 : DType::kQ5_1;
    }
    ++s.i_ffn_down;
    return t;
  }
  if (cat == Category::kAttnOutput) {
    if (eight_experts) {
      if (mix == "Q2_K" || mix == "Q3_K_S" || mix == "Q3_K_M" || mix == "IQ4_NL" || mix == "Q4_K_S" || mix == "Q4_K_M" ||
          mix == "IQ4_XS") {
        t = DType::kQ5_K;
      }
    } else if (mix == "Q2_K") t = DType::kQ3_K;
    else if (mix == "Q3_K_M") t = DType::kQ4_K;
    else if (mix == "Q3_K_L") t = DType::kQ5_K;
    return t;
  }
  if (cat == Category::kAttnQkv) {
    if (mix == "Q3_K_M" || mix == "Q3_K_L") t = DType::kQ4_K;
    else if (mix == "Q4_K_M") t = DType::kQ5_K;
    else if (mix == "Q5_K_M") t = DType::kQ6_K;
    return t;
  }
  if (cat == Category::kFfnGate) ++s.i_ffn_gate;
  if (cat == Category::kFfnUp) ++s.i_ffn_up;
  return t;
}

// tensor_type_fallback: a type whose block fits the row, or F16.
DType Fallback(DType t, int64_t cols, bool* fell_back) {
  if (cols % Traits(t).block_elems == 0) return t;
  *fell_back = true;
  DType r = t;
  switch (t) {
    case DType::kIQ4_XS: r = DType::kIQ4_NL; break;
    case DType::kQ2_K:
    case DType::kQ3_K: r = DType::kQ4_0; break;
    case DType::kQ4_K: r = DType::kQ5_0; break;
    case DType::kQ5_K: r = DType::kQ5_1; break;
    case DType::kQ6_K: r = DType::kQ8_0; break;
    default: break;
  }
  if (cols % Traits(r).block_elems != 0) r = DType::kF16;
  return r;
}

}  // namespace

std::optional<QuantMix> FindQuantMix(std::string_view name) {
  for (const QuantMix& m : kMixes) {
    if (m.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      same = std::toupper(static_cast<unsigned char>(name[i])) == m.name[i];
    }
    if (same) return m;
  }
  return std::nullopt;
}

std::vector<std::string_view> QuantMixNames() {
  std::vector<std::string_view> names;
  for (const QuantMix& m : kMixes) names.push_back(m.name);
  return names;
}

absl::StatusOr<TypeOverride> ParseTypeOverride(std::string_view text) {
  const size_t eq = text.rfind('=');
  if (eq == std::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(StrCat("override '", text, "': expected PATTERN=TYPE, e.g. 'ffn_down=q6_K'"));
  }
  std::optional<DType> type = GgufTensorTypeFromName(text.substr(eq + 1));
  if (!type) return absl::InvalidArgumentError(StrCat("override '", text, "': unknown tensor type '", text.substr(eq + 1), "'"));
  return TypeOverride{std::string(text.substr(0, eq)), *type};
}

absl::StatusOr<std::vector<TypeChoice>> ChooseTypes(const QuantMix& mix, const MixModel& model, const MixOptions& options,
                                                    const std::vector<TensorToType>& tensors) {
  if (mix.requires_imatrix && !options.has_imatrix) {
    return absl::InvalidArgumentError(StrCat("type ", mix.name, " needs an importance matrix (--imatrix)"));
  }
  std::vector<std::regex> patterns;
  for (const TypeOverride& o : options.overrides) {
    try {  // std::regex reports a bad pattern only by throwing; keep it inside this function
      patterns.emplace_back(o.pattern);
    } catch (const std::regex_error&) {
      return absl::InvalidArgumentError(StrCat("override pattern '", o.pattern, "' is not a valid regular expression"));
    }
  }
  State s;
  for (const TensorToType& t : tensors) {
    const Category c = CategoryOf(t.name);
    if (IsAttnVLike(c)) ++s.n_attention_wv;
    if (c == Category::kOutput) s.has_tied_embeddings = false;
  }
  // llama-quantize visits tensors by layer number (globals first), then name.
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int64_t la = LayerOf(tensors[a].name), lb = LayerOf(tensors[b].name);
    return la != lb ? la < lb : tensors[a].name < tensors[b].name;
  });
  const bool quantized_mix = Traits(mix.default_type).is_block_quant;
  std::vector<TypeChoice> out(tensors.size());
  for (size_t idx : order) {
    const TensorToType& t = tensors[idx];
    TypeChoice& choice = out[idx];
    choice.type = t.info.dtype;
    if (!AllowsQuantization(t.name, t.info, options)) continue;
    choice.quantized = true;
    const Category c = CategoryOf(t.name);
    if (options.token_embedding_type && c == Category::kTokenEmbd) {
      choice.type = *options.token_embedding_type;
      choice.overridden = true;
      continue;
    }
    if (options.output_type && c == Category::kOutput) {
      choice.type = *options.output_type;
      choice.overridden = true;
      continue;
    }
    DType type = mix.default_type;
    const int64_t cols = t.info.shape.back();
    if (!options.pure && quantized_mix) {
      bool manual = false;
      for (size_t p = 0; p < patterns.size(); ++p) {
        if (std::regex_search(t.name, patterns[p])) {
          type = options.overrides[p].type;
          manual = true;
          break;
        }
      }
      choice.overridden = manual;
      if (!manual) type = MixType(mix.name, type, t.name, t.info, c, model, options, s);
      type = Fallback(type, cols, &choice.fallback);
    } else if (cols % Traits(type).block_elems != 0) {
      return absl::InvalidArgumentError(StrCat("tensor '", t.name, "': rows of ", cols, " do not fill ", Name(type), " blocks of ",
                                               Traits(type).block_elems, " (llama-quantize --pure aborts here too)"));
    }
    choice.type = type;
  }
  return out;
}

}  // namespace quantc::passes
