// gptq: GPTQ weight quantization (lib/kernels/gptq) calibrated by running the model on the
// calibration text (PassContext::calibration, from --calib) through the reference runner, layer by
// layer in true-sequential order: within layer l, [q, k, v | MLA q_a, kv_a] -> [q_b] -> [o] ->
// [gate, up, experts' gate/up, shared gate/up] -> [down, experts' and shared down]; each step's
// Hessians come from inputs that the already quantized steps (and layers) produced, as in
// IST-DASLab/gptq's llama.py --true-sequential. With `fp-target` (default) the original model
// runs beside it and each matrix is fitted to the original's outputs (W X0) on those inputs X,
// not to its own (W X): GPTQ on the least-squares target (kernels::gptq::RetargetToOriginal).
// Quantizers: on a GGUF-layout model, `scheme` is a llama-quantize mix or type (Q4_K_M, Q4_0, ...):
// every matrix that mix quantizes and the runner multiplies by its own input gets GPTQ on the
// mix's block type for it (ggml_quants grids), so the quantize pass that follows keeps it; so does
// output.weight (calibrated on the final norm's output); token_embd (a lookup) and MLA's
// attn_k_b/attn_v_b (absorbed) are left to quantize. On a Hugging Face layout model, `scheme` is
// an integer scheme (int4, int4-g128, int8; lib/kernels/int_quant) stored as compressed-tensors
// pack-quantized, lm_head left out as int-quant leaves it; or mxfp4 / nvfp4 (lib/kernels/fp4, each
// group's scale by `rule` when GPTQ reaches it) on the weights `tensors` selects, stored as
// fp4-pack stores them (`layout`: compressed-tensors or deepseek-v4).
// Contract: layout "gguf" or "hf"; weights to quantize F32/F16/BF16; calibration tokens present.
#pragma once

#include <memory>
#include <string>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct GptqOptions {
  std::string scheme = "Q4_K_M";
  std::string overrides;  // GGUF: quantize's 'regex=TYPE;...' (must equal quantize's)
  bool pure = false;      // GGUF: quantize's --pure (must equal quantize's)
  std::string calib;      // the calibration text the caller tokenized into PassContext (provenance)
  int64_t samples = 128;  // calibration windows ...
  int64_t ctx = 512;      // ... of ctx tokens, consecutive from the start of the text
  double damp = 0.01;
  int64_t block = 128;
  bool act_order = true;
  bool static_groups = false;
  bool head = true;       // GGUF: GPTQ on the output projection too (calibrated on the final norm)
  bool embed = false;     // GGUF: GPTQ on token_embd rows, H from layer 0's readers (see gptq.cc)
  bool refit = false;     // int per-channel schemes: least-squares scales for the chosen codes
  bool fp_target = true;  // fit the original model's outputs, not the quantized stream's (GPTAQ)
  std::string rule = "ceil";                  // mxfp4/nvfp4: the scale rule (fp4-pack's)
  std::string tensors;                        // HF: experts, linear or a regex ("": mxfp4/nvfp4 experts, int linear)
  std::string layout = "compressed-tensors";  // mxfp4/nvfp4: fp4-pack's Hugging Face layouts
  static void Bind(OptionBinder& b, GptqOptions& o) {
    b.String("scheme", &o.scheme, "GGUF: llama-quantize mix or type (Q4_K_M, Q4_0, ...); HF: int4[-g128], int8, mxfp4, nvfp4");
    b.String("override", &o.overrides, "GGUF: per-tensor types, 'regex=type;...' as given to quantize");
    b.Bool("pure", &o.pure, "GGUF: every quantizable tensor gets the scheme's type (as quantize's pure)");
    b.String("calib", &o.calib, "calibration text file (tokenized by the caller)");
    b.Int("samples", &o.samples, "calibration windows");
    b.Int("ctx", &o.ctx, "tokens per calibration window");
    b.Double("damp", &o.damp, "dampening: fraction of the mean Hessian diagonal added to it");
    b.Int("block", &o.block, "lazy-update block (columns)");
    b.Bool("act-order", &o.act_order, "quantize columns by descending Hessian diagonal (static groups)");
    b.Bool("static-groups", &o.static_groups, "fit every group's scales from the original weights up front");
    b.Bool("head", &o.head, "GGUF: GPTQ on output.weight too, calibrated on the final norm's output");
    b.Bool("embed", &o.embed, "GGUF: GPTQ on token_embd rows, weighted by layer 0's readers (experimental)");
    b.Bool("fp-target", &o.fp_target, "fit each matrix to the unquantized model's outputs on its quantized inputs (GPTAQ's asymmetric calibration)");
    b.Bool("refit", &o.refit, "int per-channel: refit each row's scale to the codes by least squares under the layer loss");
    b.String("rule", &o.rule, "mxfp4/nvfp4: scale rule, ceil (DeepSeek QAT), reference or mse (Hessian-weighted)");
    b.String("tensors", &o.tensors, "HF: experts, linear (all Linear but lm_head) or a regex on names (default: experts for mxfp4/nvfp4, linear for int)");
    b.String("layout", &o.layout, "mxfp4/nvfp4: compressed-tensors (vLLM) or deepseek-v4");
  }
};

std::unique_ptr<Pass> CreateGptqPass(GptqOptions options = {});

}  // namespace quantc::passes
