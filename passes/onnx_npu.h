// onnx-npu: lowers a qwen2 / llama decoder to the four-model QDQ pipeline of QNN-style NPU
// deployments (onnx-targets.md §4.4, §5.3, §8.3; Microsoft's DeepSeek-R1-Distill NPU release):
//   embeddings  input_ids → GatherBlockQuantized (4-bit, block 32) → QuantizeLinear → uint16;  CPU
//   context     `chunk` tokens at once       } uint16 activations with a Q→DQ pair after every op,
//   iterator    one token                    } int4 per-channel weights DequantizeLinear(INT4 [K, N],
//               scale [N], axis 1) → MatMul, RMSNorm as LpNormalization · (γ·√H), rotate r4's online
//               Hadamard before down_proj as one more such MatMul (±1/√n: exact in int4), GroupQueryAttention
//               over a fixed `cache`-long KV buffer fed back as uint16 inputs, past_seq_len
//               (valid tokens − 1, [1, 1]) and total_seq_len inputs instead of a mask, every dim
//               static; both read the same weights (one shared data file);          NPU
//   lm_head     uint16 hidden → DequantizeLinear → MatMulNBits (4-bit block 32, or 8)  → logits; CPU
// Activation scales are calibrated on the calibration text (PassContext::calibration) by running
// the pipeline's own float twin through lib/runner's graph evaluator: uint16 asymmetric min/max,
// QNN's minimum real range 1e-4; Sigmoid outputs take QNN's fixed 16-bit parameters (1/65536, 0).
// Norm weights and biases are uint8 per tensor, as QNN's QDQ configuration quantizes them.
// Contract: HF layout, qwen2 or llama, body Linear weights int4 per-channel symmetric
// (compressed-tensors, from int-quant or gptq with scheme int4), embeddings and lm_head float,
// calibration tokens given. The result holds model.graphs {embeddings, context, iterator, lm_head}.
#pragma once

#include <cstdint>
#include <memory>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct OnnxNpuOptions {
  int64_t chunk = 64;         // tokens per context call
  int64_t cache = 512;        // KV buffer length
  int64_t lm_head_bits = 4;   // 4 or 8 (MatMulNBits, block 32)
  int64_t samples = 16;       // calibration windows
  int64_t ctx = 256;          // tokens per calibration window
  int64_t accuracy_level = 4; // lm_head MatMulNBits accuracy_level
  static void Bind(OptionBinder& b, OnnxNpuOptions& o) {
    b.Int("chunk", &o.chunk, "tokens per context-model call (static)");
    b.Int("cache", &o.cache, "KV cache length (static)");
    b.Int("lm-head-bits", &o.lm_head_bits, "lm_head MatMulNBits bits: 4 or 8 (block 32)");
    b.Int("samples", &o.samples, "calibration windows for the activation ranges");
    b.Int("ctx", &o.ctx, "tokens per calibration window (at most cache)");
    b.Int("accuracy-level", &o.accuracy_level, "lm_head MatMulNBits accuracy_level (0 exact, 4 int8 activations)");
  }
};

std::unique_ptr<Pass> CreateOnnxNpuPass(OnnxNpuOptions options = {});

}  // namespace quantc::passes
