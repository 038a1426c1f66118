#include "lib/arch/mp_layout.h"

#include <map>
#include <vector>

#include "lib/support/strings.h"

namespace quantc::arch {
namespace {

struct DemoKey {
  const char* demo;
  int split_dim;
};

// convert.py's `mapping`: HF key -> (demo name, split dim).
const std::map<std::string, DemoKey, std::less<>>& Mapping() {
  static const auto* m = new std::map<std::string, DemoKey, std::less<>>{
      {"embed_tokens", {"embed", 0}},         {"input_layernorm", {"attn_norm", -1}},
      {"post_attention_layernorm", {"ffn_norm", -1}},
      {"q_proj", {"wq", 0}},                  {"q_a_proj", {"wq_a", -1}},
      {"q_a_layernorm", {"q_norm", -1}},      {"q_b_proj", {"wq_b", 0}},
      {"kv_a_proj_with_mqa", {"wkv_a", -1}},  {"kv_a_layernorm", {"kv_norm", -1}},
      {"kv_b_proj", {"wkv_b", 0}},            {"o_proj", {"wo", 1}},
      {"gate", {"gate", -1}},                 {"gate_proj", {"w1", 0}},
      {"down_proj", {"w2", 1}},               {"up_proj", {"w3", 0}},
      {"norm", {"norm", -1}},                 {"lm_head", {"head", 0}},
      {"scale", {"scale", -1}},
  };
  return *m;
}

// Python's str.replace: every occurrence, left to right, without rescanning the replacement.
void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

class MpAdapter final : public ArchAdapter {
 public:
  explicit MpAdapter(const ArchAdapter& base) : base_(base) {}
  std::string_view model_type() const override { return base_.model_type(); }
  std::string TensorName(const TensorRole& role) const override {
    const std::string hf = HfTensorName(role);
    absl::StatusOr<InferName> n = DeepSeekInferName(hf);
    return n.ok() ? n->name : hf;
  }
  std::optional<TensorRole> RoleOf(std::string_view) const override { return std::nullopt; }
  absl::Status Validate(ModelSpec& spec) const override { return base_.Validate(spec); }

 private:
  const ArchAdapter& base_;
};

}  // namespace

absl::StatusOr<InferName> DeepSeekInferName(std::string_view hf_name) {
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
  InferName r;
  r.split_dim = it->second.split_dim;
  ReplaceAll(name, key, it->second.demo);
  r.name = std::move(name);
  if (r.name.find("experts") != std::string::npos && r.name.find("shared_experts") == std::string::npos) {
    const std::vector<std::string_view> renamed = SplitOn(r.name, '.');
    std::optional<int64_t> id =
        renamed.size() >= 3 ? ParseNumber<int64_t>(renamed[renamed.size() - 3]) : std::nullopt;
    if (!id) return absl::InvalidArgumentError(StrCat("tensor '", hf_name, "': routed expert without an index"));
    r.expert = *id;
  }
  return r;
}

const ArchAdapter& DeepSeekInferAdapter() {
  static const MpAdapter kAdapter(DeepseekV3Adapter());
  return kAdapter;
}

}  // namespace quantc::arch
