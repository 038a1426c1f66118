// fp8-to-bf16: dequantizes block-scaled F8_E4M3 weights to BF16, as DeepSeek's
// inference/fp8_cast_bf16.py does, byte for byte (see lib/kernels/fp8/block_dequant.h).
#pragma once

#include <memory>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct Fp8ToBf16Options {
  static void Bind(OptionBinder& b, Fp8ToBf16Options& o) { (void)b, (void)o; }  // no options yet
};

std::unique_ptr<Pass> CreateFp8ToBf16Pass(Fp8ToBf16Options options = {});

// True when the model holds F8_E4M3 tensors (what `convert` checks to run this pass by default).
bool HasFp8Weights(const Model& model);

}  // namespace quantc::passes
