// `quantc convert --format onnx`: the folder transformers.js loads (onnx-targets.md §6):
//   config.json (+ transformers.js_config.use_external_data_format), generation_config.json,
//   tokenizer.json, tokenizer_config.json (the checkpoint's companions), genai_config.json
//   (onnxruntime-genai; untested here), and onnx/model{,_fp16,_q4,_q4f16}.onnx with their
//   external data (model_q4.onnx_data ...).
// fp32 and fp16 lower the float model as it is; q4 and q4f16 lower it after the quantizing
// pipeline (int-quant int4-g32 by default, or the user's gptq), which runs once for both.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/pass/pass_manager.h"
#include "lib/support/progress.h"

namespace quantc::tools {

struct OnnxOutputOptions {
  std::vector<std::string> dtypes = {"fp32", "fp16", "q4", "q4f16"};
  int64_t accuracy_level = 4;  // MatMulNBits accuracy_level of the q4 models
  Progress* progress = nullptr;
};

// Checks a --dtypes list: each of fp32, fp16, q4, q4f16, at most once.
absl::Status CheckOnnxDtypes(const std::vector<std::string>& dtypes);

// Writes the folder into `folder` (an empty staging folder) and returns the bytes of tensor data
// written over all models. `quantize` holds the passes that make the q4 weights and runs on a copy
// of `model`; its notes and statistics stay in it for the caller.
absl::StatusOr<uint64_t> WriteOnnxFolder(const Model& model, PassManager& quantize, const std::filesystem::path& folder,
                             const OnnxOutputOptions& options);

// `--format onnx-qdq`: the NPU pipeline (passes/onnx_npu.h) as written by WriteOnnxQdqFolder into
// `folder`: embeddings.onnx, context.onnx and iterator.onnx (sharing model.onnx.data),
// lm_head.onnx, genai_config.json (type decoder-pipeline; untested here), config.json and the
// tokenizer files. `model` holds the four graphs. Returns the bytes of tensor data written.
absl::StatusOr<uint64_t> WriteOnnxQdqFolder(const Model& model, const std::filesystem::path& folder, Progress* progress);

}  // namespace quantc::tools
