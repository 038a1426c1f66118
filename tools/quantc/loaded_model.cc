#include "tools/quantc/loaded_model.h"

#include <system_error>

#include "formats/onnx/reader.h"
#include "lib/support/file_util.h"
#include "passes/util/gguf_vocab.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::tools {
namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> LoadTokenizer(const fs::path& path, const Model& model, bool gguf,
                                                                    const fs::path& tokenizer) {
  std::error_code ec;
  if (!tokenizer.empty()) {
    return tokenizer::Tokenizer::FromFile(fs::is_directory(tokenizer, ec) ? tokenizer / "tokenizer.json" : tokenizer);
  }
  if (!gguf) return tokenizer::Tokenizer::FromFile(path / "tokenizer.json");
  if (model.metadata.Find("tokenizer.ggml.tokens") != nullptr) {
    QC_ASSIGN_OR_RETURN(passes::TokenizerFiles files, passes::TokenizerFilesFromGguf(model.metadata, path.string()));
    return tokenizer::Tokenizer::FromJson(files.tokenizer_json, files.tokenizer_config_json, path.string(), path.string());
  }
  fs::path beside = path.parent_path() / "tokenizer.json";
  if (fs::is_regular_file(beside, ec)) return tokenizer::Tokenizer::FromFile(beside);
  return absl::NotFoundError(StrCat(path.string(), ": no tokenizer.ggml.* keys; pass --tokenizer with a Hugging Face "
                                    "tokenizer.json (or its folder)"));
}


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
    QC_ASSIGN_OR_RETURN(m.tokenizer, LoadTokenizer(path, *m.model, gguf, tokenizer));
  }
  return m;
}

absl::StatusOr<std::vector<int32_t>> TokenizeFile(const tokenizer::Tokenizer& tok, const fs::path& file) {
  QC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(file));
  return tok.Encode(text, /*add_special_tokens=*/false);
}

absl::StatusOr<LoadedNpuPipeline> LoadNpuPipeline(const fs::path& folder, const fs::path& tokenizer) {
  LoadedNpuPipeline p;
  p.model = std::make_unique<Model>();
  p.model->source_path = folder;
  for (const char* name : {"embeddings", "context", "iterator", "lm_head"}) {
    const fs::path file = folder / StrCat(name, ".onnx");
    if (!fs::exists(file)) return absl::NotFoundError(StrCat(file.string(), ": missing (--target npu reads a --format onnx-qdq folder)"));
    QC_ASSIGN_OR_RETURN(Graph g, formats::onnx::ReadOnnx(file, *p.model));
    p.model->graphs.push_back(std::move(g));
  }
  QC_ASSIGN_OR_RETURN(p.pipeline, runner::NpuPipeline::Create(*p.model));
  QC_ASSIGN_OR_RETURN(p.tokenizer, LoadTokenizer(folder, *p.model, /*gguf=*/false, tokenizer));
  return p;
}

}  // namespace quantc::tools
