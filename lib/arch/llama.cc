// Llama (LlamaForCausalLM), incl. DeepSeek-R1-Distill-Llama: HF names, no attention bias unless
// attention_bias, llama3 rope scaling read by ParseModelSpec.
#include "lib/arch/adapter.h"

namespace quantc::arch {
namespace {

class LlamaAdapterImpl final : public HfLayoutAdapter {
 public:
  std::string_view model_type() const override { return "llama"; }
  absl::Status Validate(ModelSpec& spec) const override {
    if (spec.mla.enabled() || spec.moe.enabled()) {
      return absl::InvalidArgumentError("config.json: llama with MLA or MoE keys is not a llama model");
    }
    return absl::OkStatus();
  }
};

}  // namespace

const ArchAdapter& LlamaAdapter() {
  static const LlamaAdapterImpl kAdapter;
  return kAdapter;
}

}  // namespace quantc::arch
