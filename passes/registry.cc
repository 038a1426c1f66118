#include "passes/registry.h"

#include "lib/ir/fp4_weight.h"
#include "passes/allocate.h"
#include "passes/fp4_pack.h"
#include "passes/fp4_to_bf16.h"
#include "passes/fp8_to_bf16.h"
#include "passes/fuse_norms.h"
#include "passes/gguf_layout.h"
#include "passes/gptq.h"
#include "passes/inject_outliers.h"
#include "passes/int_quant.h"
#include "passes/onnx_decoder.h"
#include "passes/onnx_npu.h"
#include "passes/quantize.h"
#include "passes/rotate.h"
#include "passes/shard.h"

namespace quantc::passes {

std::span<const PassInfo> Registry() {
  static constexpr PassInfo kPasses[] = {
      {"allocate", "re-place a mix's layer-varying types (Q4_K_M's Q6_K attn_v/ffn_down) on the layers where they measure most useful; same size",
       [] { return CreateAllocatePass(); }},
      {"fp8-to-bf16", "dequantize block-scaled F8_E4M3 weights to BF16 (DeepSeek fp8_cast_bf16.py, byte-exact)",
       [] { return CreateFp8ToBf16Pass(); }},
      {"fp4-pack", "round weights to MXFP4/NVFP4 (ceil = DeepSeek QAT rule, reference, mse) as compressed-tensors, DeepSeek-V4 tensors or GGUF MXFP4",
       [] { return CreateFp4PackPass(); }},
      {"fp4-to-bf16", "dequantize FP4 weights to BF16 (DeepSeek-V4 experts, compressed-tensors mxfp4/nvfp4, ModelOpt NVFP4, gpt-oss)",
       [] { return CreateFp4ToBf16Pass(); }},
      {"fuse-norms", "fold every RMSNorm scale into the linears that read it (norms become ones; unties a tied head)",
       [] { return CreateFuseNormsPass(); }},
      {"gguf-layout", "rename and reshape tensors to llama.cpp's GGUF layout and set its metadata (convert_hf_to_gguf.py)",
       [] { return CreateGgufLayoutPass(); }},
      {"gptq", "GPTQ: quantize weights column by column, compensating each rounding error through the calibration Hessian",
       [] { return CreateGptqPass(); }},
      {"inject-outliers", "test/demo: make residual channels outliers (norm entries ×factor, reading columns ÷factor; same function)",
       [] { return CreateInjectOutliersPass(); }},
      {"int-quant", "round weights to int4/int8 per channel or group (GPTQ's quantizer, RTN) as compressed-tensors pack-quantized (vLLM)",
       [] { return CreateIntQuantPass(); }},
      {"onnx-decoder", "lower a qwen2/llama/deepseek_v3 decoder to the ONNX graph transformers.js and onnxruntime run (GQA or MLA ops, MatMulNBits for int4)",
       [] { return CreateOnnxDecoderPass(); }},
      {"onnx-npu", "lower qwen2/llama to the QNN-style NPU pipeline: embeddings, context/iterator (uint16 QDQ, int4 per-channel, "
       "static KV cache), lm_head; activation ranges calibrated on --calib",
       [] { return CreateOnnxNpuPass(); }},
      {"quantize", "give weights ggml block types by a llama-quantize mix (Q4_K_M, ...) and quantize them, imatrix-weighted",
       [] { return CreateQuantizePass(); }},
      {"rotate", "QuaRot rotations folded into weights: R1 on the residual stream (block=B for I ⊗ H_B), r2 per "
       "attention head, r4 before down_proj (recorded as an online Hadamard); run fuse-norms first",
       [] { return CreateRotatePass(); }},
      {"shard", "lay DeepSeek-V2/V3 out for N-way model parallelism as DeepSeek-Infer's convert.py does (n=N)",
       [] { return CreateShardPass(); }},
  };
  return kPasses;
}

std::vector<std::unique_ptr<Pass>> DequantPassesFor(const Model& model) {
  std::vector<std::unique_ptr<Pass>> passes;
  if (HasFp8Weights(model)) passes.push_back(CreateFp8ToBf16Pass());
  if (HasFp4Weights(model.tensors)) passes.push_back(CreateFp4ToBf16Pass());
  return passes;
}

}  // namespace quantc::passes
