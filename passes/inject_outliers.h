// inject-outliers (test/demo): gives a model the outlier channels of large LLMs without changing
// its function, so rotation and GPTQ can be measured where they matter (trained tiny models lack
// such channels). For channels C and factor F it picks the residual-stream channels
//   c_k = floor((2k+1)·hidden / (2C)),  k = 0..C-1   (evenly spread; distinct for C <= hidden),
// multiplies those entries of every RMSNorm weight (input_layernorm, post_attention_layernorm,
// model.norm) by F and divides the same input columns of the linears reading each norm's output
// (q/k/v; gate/up; lm_head) by F. RMSNorm normalises before its weight, so the norms' outputs gain
// F on those channels and the linears take it out again. A tied lm_head is untied first (with a
// note). Changed tensors are stored in F32, so logits are unchanged up to FP32 rounding.
// The same rule is reproduced in Python by tools/reference_gptq/run_reference.py.
// Contract: layout "hf", model_type qwen2 or llama, F32/F16/BF16 weights (FP8: run fp8-to-bf16).
#pragma once

#include <memory>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct InjectOutliersOptions {
  int64_t channels = 8;
  double factor = 20;
  static void Bind(OptionBinder& b, InjectOutliersOptions& o) {
    b.Int("channels", &o.channels, "residual channels made outliers: floor((2k+1)·hidden/(2·channels)), k < channels");
    b.Double("factor", &o.factor, "norm entries ×factor, the reading linears' columns ÷factor");
  }
};

std::unique_ptr<Pass> CreateInjectOutliersPass(InjectOutliersOptions options = {});

}  // namespace quantc::passes
