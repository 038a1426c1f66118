// What `quantc validate` compares with the reference: every candidate path opened as the rows it
// runs as. A path's kind is told by what it holds:
//   X.gguf (or a split set's first shard)      gguf      cpu: quantc's runner (hidden states too)
//   folder with config.json + safetensors      hf        cpu: quantc's runner (hidden states too)
//   folder of model{r}-mp{N}.safetensors       mp        cpu: the tensor-parallel simulator (the
//                                                        reference folder's config.json)
//   --format onnx folder (onnx/model*.onnx)    onnx      cpu: onnxruntime-node, one row per model file
//   X.onnx (one such decoder)                  onnx      cpu: onnxruntime-node
//   --format onnx-qdq folder (context.onnx)    onnx-qdq  npu: quantc's NPU emulation and onnxruntime-node
// ONNX runs in onnxruntime-node through tools/validators/window_logits.mjs (quantc does not
// execute ONNX decoders itself); each such row is a node process serving windows over a pipe.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/runner/eval.h"
#include "lib/runner/runner.h"
#include "lib/runner/tensor_parallel.h"
#include "tools/common/subprocess.h"
#include "tools/quantc/loaded_model.h"

namespace quantc::tools {

// Maps the reference's hidden state `index` into a candidate's basis, in place, [n, hidden]: a
// rotated residual stream (rotate's R1), and after the final norm a scale folded away
// (fuse-norms). Empty when the bases agree.
using HiddenBasis = std::function<void(int64_t index, std::span<float> states)>;

// One candidate on one target, run one way.
struct ValidationRow {
  std::string path;    // as given
  std::string label;   // short name for tables: "Q4_K_M.gguf", "onnx (q4)"
  std::string kind;    // gguf, hf, mp, onnx, onnx-qdq
  std::string target;  // cpu, gpu, npu
  std::string engine;  // "quantc runner", "onnxruntime-node (CPU EP)", ...
  std::string variant;  // tells apart rows of one candidate on one target: "emulation", "onnxruntime"
  uint64_t bytes = 0;  // the files the row reads
  runner::WindowModel model;
  const runner::Runner* runner = nullptr;  // set when hidden states can be compared
  HiddenBasis basis;
  std::string pipeline;  // quantc.pipeline recorded in the files, when there is one

  // What the row runs on (owned here; `model` and `runner` point into them).
  LoadedModel loaded;
  std::vector<Model> ranks;
  std::unique_ptr<runner::TensorParallelRunner> tp;
  LoadedNpuPipeline npu;
  std::unique_ptr<Subprocess> driver;
  std::shared_ptr<void> gpu;  // the GPU runner of a --targets gpu row
};

struct CandidateContext {
  const Model* ref = nullptr;  // for an mp folder's config
  std::vector<std::string> targets;  // requested; empty: every target a candidate runs on
};

// The rows of one candidate path (none is an error naming the path and what it runs on), labelled
// `label` (default: the file or folder name) plus " [variant]" where a row has one.
absl::StatusOr<std::vector<std::unique_ptr<ValidationRow>>> OpenCandidate(const std::filesystem::path& path,
                                                                          const CandidateContext& ctx,
                                                                          const std::string& label = "");

// The folder holding window_logits.mjs and its node_modules: $QUANTC_VALIDATORS_DIR, else the
// source tree's tools/validators.
std::filesystem::path ValidatorsDir();

}  // namespace quantc::tools
