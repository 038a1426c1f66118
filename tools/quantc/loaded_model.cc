#include "tools/quantc/loaded_model.h"

#include "formats/hf/hf_folder.h"
#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::tools {

absl::StatusOr<LoadedModel> LoadModel(const std::filesystem::path& path, bool with_tokenizer) {
  LoadedModel m;
  QC_ASSIGN_OR_RETURN(Model model, formats::ReadHfFolder(path));
  m.model = std::make_unique<Model>(std::move(model));
  auto runner = runner::Runner::Create(*m.model);
  if (!runner.ok()) return absl::Status(runner.status().code(), StrCat(path.string(), ": ", runner.status().message()));
  m.runner = std::move(*runner);
  if (with_tokenizer) {
    QC_ASSIGN_OR_RETURN(m.tokenizer, tokenizer::Tokenizer::FromFile(path / "tokenizer.json"));
  }
  return m;
}

absl::StatusOr<std::vector<int32_t>> TokenizeFile(const tokenizer::Tokenizer& tok, const std::filesystem::path& file) {
  QC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(file));
  return tok.Encode(text, /*add_special_tokens=*/false);
}

}  // namespace quantc::tools
