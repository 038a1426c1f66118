// Qwen2 (Qwen2ForCausalLM), incl. DeepSeek-R1-Distill-Qwen: HF names; q/k/v always carry a bias
// (the config has no attention_bias key for it).
#include "lib/arch/adapter.h"

namespace quantc::arch {
namespace {

class Qwen2AdapterImpl final : public HfLayoutAdapter {
 public:
  std::string_view model_type() const override { return "qwen2"; }
  absl::Status Validate(ModelSpec& spec) const override {
    spec.attention_bias = true;
    if (spec.mla.enabled() || spec.moe.enabled()) {
      return absl::InvalidArgumentError("config.json: qwen2 with MLA or MoE keys is not a qwen2 model");
    }
    return absl::OkStatus();
  }
};

}  // namespace

const ArchAdapter& Qwen2Adapter() {
  static const Qwen2AdapterImpl kAdapter;
  return kAdapter;
}

}  // namespace quantc::arch
