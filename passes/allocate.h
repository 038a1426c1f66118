// allocate: re-places a llama-quantize mix's extra bits by measured sensitivity. Mixes such as
// Q4_K_M give some layers of a tensor kind a bigger type than others (attn_v and ffn_down: Q6_K
// on layers chosen by position, use_more_bits). allocate keeps every such group's types, and
// so the file size, but hands the bigger types to the layers where the smallest one hurts most:
// each group member is quantized alone to the group's smallest type (the rest of the model as it
// is), and the KL divergence of the next-token distributions from the unquantized model's over
// the calibration windows ranks it. The plan goes into the metadata (quantize.h's
// kAllocateMixKey / kAllocateTypesKey), which quantize and gptq follow and the GGUF keeps.
// A group is every tensor "blk.N.<kind>" of one shape whose type comes from the mix's rules
// (tensors an override pattern chose are left alone).
// Contract: layout "gguf", weights F32/F16/BF16, calibration tokens present; `scheme`,
// `override` and `pure` must equal quantize's (convert passes --type/--override/--pure to both).
#pragma once

#include <memory>
#include <string>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct AllocateOptions {
  std::string scheme = "Q4_K_M";
  std::string overrides;  // quantize's 'regex=TYPE;...'
  bool pure = false;
  std::string calib;      // the calibration text the caller tokenized into PassContext (provenance)
  int64_t samples = 16;   // calibration windows ...
  int64_t ctx = 512;      // ... of ctx tokens, consecutive from the start of the text
  static void Bind(OptionBinder& b, AllocateOptions& o) {
    b.String("scheme", &o.scheme, "llama-quantize mix whose layer-varying types are re-placed (Q4_K_M, Q3_K_M, ...)");
    b.String("override", &o.overrides, "per-tensor types, 'regex=type;...' as given to quantize (those tensors stay)");
    b.Bool("pure", &o.pure, "as quantize's pure (then nothing varies by layer)");
    b.String("calib", &o.calib, "calibration text file (tokenized by the caller)");
    b.Int("samples", &o.samples, "calibration windows the sensitivities are measured on");
    b.Int("ctx", &o.ctx, "tokens per calibration window");
  }
};

std::unique_ptr<Pass> CreateAllocatePass(AllocateOptions options = {});

}  // namespace quantc::passes
