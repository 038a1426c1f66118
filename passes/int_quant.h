// int-quant: round-to-nearest integer weight quantization (GPTQ's quant.py quantizer without the
// GPTQ solve: lib/kernels/int_quant), stored as compressed-tensors `pack-quantized`, the format
// vLLM's WNA16 kernels load (passes/util/pack_quantized.h). Every Linear weight of qwen2 / llama /
// deepseek_v3 (attention incl. the MLA projections, dense MLPs, routed and shared experts, MTP
// layers too) becomes X.weight_packed / X.weight_scale / [X.weight_zero_point] / X.weight_shape,
// computed lazily when written, one batch of rows at a time; config.json gets quantization_config.
// Embeddings, norms, routers and biases are never quantized; lm_head is left out by default.
// Contract: Hugging Face layout, F32/F16/BF16 weights (FP8 needs fp8-to-bf16 first), not already
// quantized. A group size that does not divide a weight's input width leaves a ragged last group
// (kept, with a note: vLLM needs whole groups).
#pragma once

#include <memory>
#include <string>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct IntQuantOptions {
  std::string scheme = "int4-g128";
  std::string ignore = "lm_head";
  static void Bind(OptionBinder& b, IntQuantOptions& o) {
    b.String("scheme", &o.scheme, "int<bits>[-g<group>][-asym][-mse]: int4, int4-g128, int8, int4-g128-asym, int4-g128-mse");
    b.String("ignore", &o.ignore,
             "regex searched in each Linear weight's name; matches stay unquantized (empty: quantize lm_head too)");
  }
};

std::unique_ptr<Pass> CreateIntQuantPass(IntQuantOptions options = {});

}  // namespace quantc::passes
