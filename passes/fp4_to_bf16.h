// fp4-to-bf16: dequantizes FP4 (E2M1) weights to BF16 in every layout lib/ir/fp4_weight.h reads:
// DeepSeek-V4 experts (X.weight I8 + X.scale E8M0), compressed-tensors mxfp4/nvfp4
// (X.weight_packed + X.weight_scale [+ X.weight_global_scale]), NVIDIA ModelOpt NVFP4 (X.weight U8 +
// X.weight_scale + X.weight_scale_2) and gpt-oss's stacked experts (P_blocks + P_scales ->
// P [experts, in, out], Hugging Face's parameter layout).
//
// Contract: each weight becomes "X.weight" (or "P") BF16 [out, in] holding e2m1 · scale (· global),
// rounded to BF16 once (MXFP4 values are exact in BF16; NVFP4's E4M3 scale times a float global
// scale need not be). The scale tensors, global scales and ModelOpt's activation scales
// (X.input_scale, compressed-tensors' X.input_global_scale) are dropped; a quantization_config that
// describes FP4 (compressed-tensors, modelopt, mxfp4) leaves config.json, as does
// hf_quant_config.json. DeepSeek-V4's config names block FP8 only, so it stays for fp8-to-bf16.
// A NaN scale byte is an error naming the tensor.
#pragma once

#include <memory>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct Fp4ToBf16Options {
  static void Bind(OptionBinder& b, Fp4ToBf16Options& o) { (void)b, (void)o; }
};

std::unique_ptr<Pass> CreateFp4ToBf16Pass(Fp4ToBf16Options options = {});

}  // namespace quantc::passes
