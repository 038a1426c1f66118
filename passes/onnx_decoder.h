// onnx-decoder: lowers a Hugging Face decoder (qwen2, llama) to the ONNX graph transformers.js and
// onnxruntime run (onnx-targets.md §3, §6.3, §8.2), ready for formats/onnx:
//   inputs  input_ids, attention_mask (int64 [batch_size, sequence_length | total_sequence_length]),
//           past_key_values.{i}.key/value [batch_size, kv_heads, past_sequence_length, head_dim];
//   outputs logits [batch_size, sequence_length, vocab], present.{i}.key/value
//           [batch_size, kv_heads, total_sequence_length, head_dim];
// only the batch and sequence dims symbolic. Per layer: SimplifiedLayerNormalization, then
// SkipSimplifiedLayerNormalization carrying the residual; q/k/v MatMuls (+ bias Add) into
// GroupQueryAttention (do_rotary with cos/sin caches computed from the model's rope, so llama3
// scaling is in the caches; lengths from attention_mask as the genai builder derives them);
// SiLU-gated MLP as Sigmoid·Mul. Float weights become [in, out] MatMul initializers in `dtype`;
// compressed-tensors int4 symmetric weights (int-quant or gptq, group a power of two >= 16 that
// divides the input width) become MatMulNBits (4 bits, block = group, no zero point: the codes'
// signed value + 8, as onnxruntime's default zero point expects), bit for bit the same weights.
// Contract: HF layout, qwen2 or llama, F32/F16/BF16 or such int4 weights, no online transform.
// Afterwards the table holds exactly the graph's initializers (layout "onnx").
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lib/pass/pass.h"

namespace quantc::passes {

struct OnnxDecoderOptions {
  std::string dtype = "fp32";  // fp32 | fp16: activations, KV cache, norms, embeddings, scales
  int64_t accuracy_level = 4;  // MatMulNBits accuracy_level: 4 = int8 activations (fast), 0 = exact
  int64_t max_positions = 0;   // rows of the RoPE caches; 0 = config max_position_embeddings
  static void Bind(OptionBinder& b, OnnxDecoderOptions& o) {
    b.String("dtype", &o.dtype, "fp32 | fp16: the graph's float type (I/O, KV cache, norms, scales)");
    b.Int("accuracy-level", &o.accuracy_level, "MatMulNBits accuracy_level (0 exact, 4 int8 activations)");
    b.Int("max-positions", &o.max_positions, "RoPE cache rows; 0 = max_position_embeddings");
  }
};

std::unique_ptr<Pass> CreateOnnxDecoderPass(OnnxDecoderOptions options = {});

}  // namespace quantc::passes
