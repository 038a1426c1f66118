// fp4-pack: rounds weights to FP4 (E2M1) with a shared scale per block, MXFP4 (32 weights, E8M0
// power-of-two scale, 4.25 bits/weight) or NVFP4 (16 weights, E4M3 scale times an FP32 per-tensor
// scale, 4.5 bits/weight), round-to-nearest under a scale rule (lib/kernels/fp4/fp4.h):
//   ceil       DeepSeek-V4's QAT rule: the scale rounded up (MX: to a power of two), nothing clips
//   reference  the format's reference rule: OCP MX floor(log2 amax) - 2 / ModelOpt's nearest E4M3
//   mse        the candidate scale with the least squared error (never worse than either)
// Which weights: `tensors` = "experts" (routed experts, as DeepSeek-V4 ships them; the default),
// "linear" (every Linear weight but lm_head) or a regex searched in tensor names.
// Storage, by the model's layout:
//   hf    compressed-tensors mxfp4/nvfp4-pack-quantized (X.weight_packed, X.weight_scale,
//         [X.weight_global_scale]) with its quantization_config — what vLLM loads — or, with
//         layout=deepseek-v4, DeepSeek-V4's tensors (X.weight I8 + X.scale E8M0; MXFP4 only;
//         config.json untouched, as V4's own config does not describe FP4).
//   gguf  ggml MXFP4 tensors (run gguf-layout first; quantize then keeps them: use --type
//         MXFP4_MOE, or an override giving the packed tensors MXFP4). NVFP4 has no GGUF form here.
// Contract: weights F32/F16/BF16 with inputs a multiple of the block; each is read whole when its
// tensors are written (one weight at a time).
#pragma once

#include <memory>
#include <string>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct Fp4PackOptions {
  std::string format = "mxfp4";
  std::string rule = "ceil";
  std::string tensors = "experts";
  std::string layout = "compressed-tensors";
  static void Bind(OptionBinder& b, Fp4PackOptions& o) {
    b.String("format", &o.format, "mxfp4 (32 per E8M0 scale) or nvfp4 (16 per E4M3 scale + FP32 tensor scale)");
    b.String("rule", &o.rule, "scale rule: ceil (DeepSeek QAT, no clipping), reference (OCP floor / ModelOpt nearest), mse");
    b.String("tensors", &o.tensors, "experts (routed experts), linear (all Linear weights but lm_head) or a regex on tensor names");
    b.String("layout", &o.layout, "Hugging Face output: compressed-tensors (vLLM) or deepseek-v4 (mxfp4 only)");
  }
};

std::unique_ptr<Pass> CreateFp4PackPass(Fp4PackOptions options = {});

}  // namespace quantc::passes
