// gguf-layout: turns a Hugging Face checkpoint into llama.cpp's GGUF layout, as its converter
// (convert_hf_to_gguf.py at llama.cpp 81ff7abe) does: GGUF tensor names; llama's q/k rows permuted
// for adjacent-pair rope; DeepSeek MLA's kv_b split into attn_k_b (transposed) and attn_v_b; routed
// experts stacked per layer; MTP layers dropped; norms, routers and biases in F32; llama3 rope
// factors as rope_freqs.weight; and the general.*, <arch>.* and tokenizer.* metadata llama.cpp
// loads. Weights keep their dtype (F32/F16/BF16): the quantize pass chooses block types after it.
// Contract: model.layout == "hf", no FP8 weights left (run fp8-to-bf16 first); afterwards
// model.layout == "gguf".
#pragma once

#include <memory>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct GgufLayoutOptions {
  std::string name;  // general.name (default: the input folder's name)
  static void Bind(OptionBinder& b, GgufLayoutOptions& o) {
    b.String("name", &o.name, "general.name written into the file (default: the input folder's name)");
  }
};

std::unique_ptr<Pass> CreateGgufLayoutPass(GgufLayoutOptions options = {});

}  // namespace quantc::passes
