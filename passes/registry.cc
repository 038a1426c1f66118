#include "passes/registry.h"

#include "passes/fp8_to_bf16.h"

namespace quantc::passes {

std::span<const PassInfo> Registry() {
  static constexpr PassInfo kPasses[] = {
      {"fp8-to-bf16", "dequantize block-scaled F8_E4M3 weights to BF16 (DeepSeek fp8_cast_bf16.py, byte-exact)",
       [] { return CreateFp8ToBf16Pass(); }},
  };
  return kPasses;
}

}  // namespace quantc::passes
