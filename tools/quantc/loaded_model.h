// A model ready to run: the checkpoint, its reference runner and its tokenizer, loaded together
// for `run`, `eval` and `compare`.
#pragma once

#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/runner/runner.h"
#include "lib/tokenizer/tokenizer.h"

namespace quantc::tools {

struct LoadedModel {
  std::unique_ptr<Model> model;  // owned here: the runner's weights point into it
  std::unique_ptr<runner::Runner> runner;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;  // null unless requested
};

// `path`: a Hugging Face checkpoint folder. The tokenizer is read from its tokenizer.json.
absl::StatusOr<LoadedModel> LoadModel(const std::filesystem::path& path, bool with_tokenizer);

// Reads a text file and tokenizes it (no special tokens added: evaluation text is raw text).
absl::StatusOr<std::vector<int32_t>> TokenizeFile(const tokenizer::Tokenizer& tok, const std::filesystem::path& file);

}  // namespace quantc::tools
