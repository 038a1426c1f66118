// DeepSeek-V3 / R1 (DeepseekV3ForCausalLM): MLA attention, sigmoid-scored group-limited MoE with a
// shared expert after the first_k_dense_replace dense layers. Layers numbered num_hidden_layers
// and up are MTP modules: conversions carry them like any tensor, and the runner loads only
// layers below num_hidden_layers, so they are never run.
#include "lib/arch/adapter.h"

namespace quantc::arch {
namespace {

class DeepseekV3AdapterImpl final : public HfLayoutAdapter {
 public:
  std::string_view model_type() const override { return "deepseek_v3"; }
  absl::Status Validate(ModelSpec& spec) const override {
    if (!spec.mla.enabled()) return absl::InvalidArgumentError("config.json: deepseek_v3 needs kv_lora_rank");
    return absl::OkStatus();
  }
};

}  // namespace

const ArchAdapter& DeepseekV3Adapter() {
  static const DeepseekV3AdapterImpl kAdapter;
  return kAdapter;
}

}  // namespace quantc::arch
