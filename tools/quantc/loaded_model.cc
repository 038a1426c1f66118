#include "tools/quantc/loaded_model.h"

#include <system_error>

#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::tools {
namespace fs = std::filesystem;
namespace {

// Where the tokenizer.json of `path` is, or why there is none.
absl::StatusOr<fs::path> TokenizerPath(const fs::path& path, bool gguf, const fs::path& tokenizer) {
  std::error_code ec;
  if (!tokenizer.empty()) return fs::is_directory(tokenizer, ec) ? tokenizer / "tokenizer.json" : tokenizer;
  if (!gguf) return path / "tokenizer.json";
  fs::path beside = path.parent_path() / "tokenizer.json";
  if (fs::is_regular_file(beside, ec)) return beside;
  return absl::NotFoundError(StrCat(path.string(), ": a GGUF file's tokenizer is not read yet; pass --tokenizer with a "
                                    "Hugging Face tokenizer.json (or its folder), or put tokenizer.json next to the file"));
}

}  // namespace

absl::StatusOr<LoadedModel> LoadModel(const fs::path& path, bool with_tokenizer, const fs::path& tokenizer,
                                      runner::RunnerOptions options) {
  LoadedModel m;
  const bool gguf = IsGgufPath(path);
  QC_ASSIGN_OR_RETURN(Model model, ReadModel(path));
  m.model = std::make_unique<Model>(std::move(model));
  auto runner = runner::Runner::Create(*m.model, std::move(options));
  if (!runner.ok()) return absl::Status(runner.status().code(), StrCat(path.string(), ": ", runner.status().message()));
  m.runner = std::move(*runner);
  if (with_tokenizer) {
    QC_ASSIGN_OR_RETURN(fs::path tokenizer_json, TokenizerPath(path, gguf, tokenizer));
    QC_ASSIGN_OR_RETURN(m.tokenizer, tokenizer::Tokenizer::FromFile(tokenizer_json));
  }
  return m;
}

absl::StatusOr<std::vector<int32_t>> TokenizeFile(const tokenizer::Tokenizer& tok, const fs::path& file) {
  QC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(file));
  return tok.Encode(text, /*add_special_tokens=*/false);
}

}  // namespace quantc::tools
