// The NPU target: runs the four graphs of an onnx-npu pipeline (embeddings, context, iterator,
// lm_head; passes/onnx_npu.h) with lib/runner's graph evaluator — the integer pipeline exactly as
// written, its QDQ points, rounding, saturation and static shapes included. The protocol is the one
// tools/validators/npu_pipeline.mjs follows with onnxruntime:
//   - a text runs through the context model `chunk` tokens at a time; a last partial chunk is
//     right-padded with token 0 (causal attention keeps the padding out of the real rows, and the
//     cache rows it writes lie past the valid length: the next call overwrites them);
//   - past_seq_len = tokens in the cache after the call − 1 (padding included), total_seq_len =
//     past_seq_len + 1; the uint16 present.* outputs are the next call's past_key_values.*;
//   - position_ids are the tokens' absolute positions (padding continues the count);
//   - generation continues one token at a time through the iterator model;
//   - when a call would pass the `cache`-row buffer, the cache slides first: its oldest rows are
//     dropped (the rest move to the front) so the call fits, and past_seq_len counts rows in the
//     buffer while position_ids keep counting — attention over the last `cache` tokens, each key
//     rotated at its true position.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/runner/graph_eval.h"

namespace quantc::runner {

// The protocol's integer inputs of one context or iterator call: `s` rows written after the
// `past` rows already in the cache buffer, the first at absolute position `position`.
void SetNpuStepInputs(std::map<std::string, GraphTensor>& feeds, int64_t past, int64_t s, int64_t position);
// Moves a call's present.* outputs into the next call's past_key_values.* (the keys of `cache`).
void CarryPresents(std::map<std::string, GraphTensor>& outputs, std::map<std::string, GraphTensor>& cache);

class NpuPipeline {
 public:
  // `model` holds the four graphs (by name) and their tensors; it must outlive the pipeline.
  static absl::StatusOr<std::unique_ptr<NpuPipeline>> Create(const Model& model);

  int64_t vocab() const { return vocab_; }
  int64_t chunk() const { return chunk_; }
  int64_t cache() const { return cache_; }
  // Logits [tokens, vocab] of a text, every position, from an empty cache (sliding past `cache`).
  absl::Status Forward(std::span<const int32_t> tokens, std::span<float> logits);
  // Greedy continuation of `prompt` by `n` tokens (context for the prompt, then the iterator).
  absl::StatusOr<std::vector<int32_t>> Generate(std::span<const int32_t> prompt, int64_t n);

 private:
  NpuPipeline(const Model& model, const Graph* graphs[4]);
  // Runs `tokens` (at most one chunk for the context model, one for the iterator) after `past`
  // cached tokens; returns the logits of the first `valid` rows.
  // `past` rows are in the buffer, `position` is the first token's absolute position.
  absl::StatusOr<std::vector<float>> Step(GraphEvaluator& body, int64_t s, std::span<const int32_t> tokens, int64_t& past,
                                          int64_t position, std::map<std::string, GraphTensor>& cache);
  std::map<std::string, GraphTensor> EmptyCache() const;

  const Model& model_;
  GraphEvaluator embeddings_, context_, iterator_, lm_head_;
  const Graph& context_graph_;
  int64_t vocab_ = 0, chunk_ = 0, cache_ = 0;
};

}  // namespace quantc::runner
