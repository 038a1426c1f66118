#include "lib/arch/adapter.h"

#include <array>

#include "lib/support/strings.h"

namespace quantc::arch {
namespace {

struct Suffix {
  Role role;
  std::string_view text;  // after "model.layers.N." (or the full name for globals)
};

constexpr Suffix kGlobal[] = {
    {Role::kEmbedding, "model.embed_tokens.weight"},
    {Role::kFinalNorm, "model.norm.weight"},
    {Role::kLmHead, "lm_head.weight"},
};
constexpr Suffix kLayer[] = {
    {Role::kAttnNorm, "input_layernorm.weight"},
    {Role::kFfnNorm, "post_attention_layernorm.weight"},
    {Role::kQ, "self_attn.q_proj.weight"},
    {Role::kK, "self_attn.k_proj.weight"},
    {Role::kV, "self_attn.v_proj.weight"},
    {Role::kO, "self_attn.o_proj.weight"},
    {Role::kQBias, "self_attn.q_proj.bias"},
    {Role::kKBias, "self_attn.k_proj.bias"},
    {Role::kVBias, "self_attn.v_proj.bias"},
    {Role::kQA, "self_attn.q_a_proj.weight"},
    {Role::kQANorm, "self_attn.q_a_layernorm.weight"},
    {Role::kQB, "self_attn.q_b_proj.weight"},
    {Role::kKVA, "self_attn.kv_a_proj_with_mqa.weight"},
    {Role::kKVANorm, "self_attn.kv_a_layernorm.weight"},
    {Role::kKVB, "self_attn.kv_b_proj.weight"},
    {Role::kGate, "mlp.gate_proj.weight"},
    {Role::kUp, "mlp.up_proj.weight"},
    {Role::kDown, "mlp.down_proj.weight"},
    {Role::kRouter, "mlp.gate.weight"},
    {Role::kRouterBias, "mlp.gate.e_score_correction_bias"},
    {Role::kSharedGate, "mlp.shared_experts.gate_proj.weight"},
    {Role::kSharedUp, "mlp.shared_experts.up_proj.weight"},
    {Role::kSharedDown, "mlp.shared_experts.down_proj.weight"},
};
constexpr Suffix kExpert[] = {  // after "model.layers.N.mlp.experts.E."
    {Role::kExpertGate, "gate_proj.weight"},
    {Role::kExpertUp, "up_proj.weight"},
    {Role::kExpertDown, "down_proj.weight"},
};

// Parses a leading decimal number and the '.' after it: "12.rest" -> 12, rest.
std::optional<int64_t> TakeIndex(std::string_view& s) {
  size_t dot = s.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto n = ParseNumber<int64_t>(s.substr(0, dot));
  if (n) s.remove_prefix(dot + 1);
  return n;
}

}  // namespace

std::string HfTensorName(const TensorRole& r) {
  for (const Suffix& g : kGlobal) {
    if (g.role == r.role) return std::string(g.text);
  }
  for (const Suffix& e : kExpert) {
    if (e.role == r.role) return StrCat("model.layers.", r.layer, ".mlp.experts.", r.expert, ".", e.text);
  }
  for (const Suffix& l : kLayer) {
    if (l.role == r.role) return StrCat("model.layers.", r.layer, ".", l.text);
  }
  return "";
}

std::optional<TensorRole> HfRoleOf(std::string_view name) {
  // compressed-tensors pack-quantized: "X.weight_packed" holds X.weight's codes (lib/ir/packed_int.h).
  constexpr std::string_view kPacked = ".weight_packed";
  if (name.ends_with(kPacked)) {
    return HfRoleOf(StrCat(name.substr(0, name.size() - kPacked.size()), ".weight"));
  }
  for (const Suffix& g : kGlobal) {
    if (g.text == name) return TensorRole{g.role};
  }
  constexpr std::string_view kPrefix = "model.layers.";
  if (!name.starts_with(kPrefix)) return std::nullopt;
  std::string_view rest = name.substr(kPrefix.size());
  auto layer = TakeIndex(rest);
  if (!layer) return std::nullopt;
  constexpr std::string_view kExperts = "mlp.experts.";
  if (rest.starts_with(kExperts)) {
    rest.remove_prefix(kExperts.size());
    auto expert = TakeIndex(rest);
    if (!expert) return std::nullopt;
    for (const Suffix& e : kExpert) {
      if (e.text == rest) return TensorRole{e.role, *layer, *expert};
    }
    return std::nullopt;
  }
  for (const Suffix& l : kLayer) {
    if (l.text == rest) return TensorRole{l.role, *layer};
  }
  return std::nullopt;
}

std::span<const ArchAdapter* const> AllAdapters() {
  static const std::array<const ArchAdapter*, 3> kAdapters = {&Qwen2Adapter(), &LlamaAdapter(),
                                                              &DeepseekV3Adapter()};
  return kAdapters;
}

bool IsLinearRole(Role r) {
  switch (r) {
    case Role::kQ: case Role::kK: case Role::kV: case Role::kO:
    case Role::kQA: case Role::kQB: case Role::kKVA: case Role::kKVB: case Role::kKB: case Role::kVB:
    case Role::kGate: case Role::kUp: case Role::kDown:
    case Role::kExpertGate: case Role::kExpertUp: case Role::kExpertDown:
    case Role::kSharedGate: case Role::kSharedUp: case Role::kSharedDown:
    case Role::kLmHead:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<const ArchAdapter*> AdapterFor(std::string_view model_type) {
  std::string known;
  for (const ArchAdapter* a : AllAdapters()) {
    if (a->model_type() == model_type) return a;
    known += StrCat(known.empty() ? "" : ", ", a->model_type());
  }
  return absl::NotFoundError(
      StrCat("config.json: model_type '", model_type, "' is not supported (supported: ", known, ")"));
}

}  // namespace quantc::arch
