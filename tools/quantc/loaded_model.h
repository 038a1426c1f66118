// A model ready to run: the checkpoint, its reference runner and its tokenizer, loaded together
// for `run`, `eval` and `compare`.
#pragma once

#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/runner/npu_pipeline.h"
#include "lib/runner/runner.h"
#include "lib/tokenizer/tokenizer.h"
#include "tools/common/model_io.h"

namespace quantc::tools {

struct LoadedModel {
  std::unique_ptr<Model> model;  // owned here: the runner's weights point into it
  std::unique_ptr<runner::Runner> runner;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;  // null unless requested
};

// `path`: a Hugging Face checkpoint folder, or a GGUF file (a .gguf, or the first shard of a split
// set), whose config is rebuilt from its keys (arch::HfConfigFromGguf) and which runs in GGUF layout.
// The tokenizer (when `with_tokenizer`) is read from `tokenizer` if given (a tokenizer.json, or a
// folder holding one: the `--tokenizer` option), else from the folder's tokenizer.json, or for a
// GGUF file from its tokenizer.ggml.* keys (passes/util/gguf_vocab.h), else a tokenizer.json next to it.
absl::StatusOr<LoadedModel> LoadModel(const std::filesystem::path& path, bool with_tokenizer,
                                      const std::filesystem::path& tokenizer = {},
                                      runner::RunnerOptions options = {});


// An onnx-qdq folder (`quantc convert --format onnx-qdq`) run by the NPU target: its four models
// read back from the files (formats/onnx/reader.h) and the folder's tokenizer.json.
struct LoadedNpuPipeline {
  std::unique_ptr<Model> model;  // the graphs and their tensors; the pipeline points into it
  std::unique_ptr<runner::NpuPipeline> pipeline;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
};
absl::StatusOr<LoadedNpuPipeline> LoadNpuPipeline(const std::filesystem::path& folder, const std::filesystem::path& tokenizer = {});

// The tokenizer of `path`: `tokenizer` when given (a tokenizer.json or its folder); a folder's
// tokenizer.json; for a GGUF file its own tokenizer.* keys, else a tokenizer.json beside it.
absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> LoadTokenizer(const std::filesystem::path& path, const Model& model,
                                                                    bool gguf, const std::filesystem::path& tokenizer = {});

// Reads a text file and tokenizes it (no special tokens added: evaluation text is raw text).
absl::StatusOr<std::vector<int32_t>> TokenizeFile(const tokenizer::Tokenizer& tok, const std::filesystem::path& file);

}  // namespace quantc::tools
