#include "tools/common/model_io.h"

#include <system_error>

#include "formats/gguf/reader.h"
#include "formats/hf/hf_folder.h"
#include "lib/arch/gguf_layout.h"
#include "lib/support/status_macros.h"

namespace quantc::tools {
namespace fs = std::filesystem;

bool IsGgufPath(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return false;
  return path.extension() == ".gguf" || (fs::is_regular_file(path, ec) && path.extension() != ".safetensors");
}

absl::StatusOr<Model> ReadModel(const fs::path& path) {
  if (!IsGgufPath(path)) return formats::ReadHfFolder(path);
  QC_ASSIGN_OR_RETURN(Model model, formats::gguf::ReadGguf(path));
  QC_ASSIGN_OR_RETURN(model.config, arch::HfConfigFromGguf(model));
  return model;
}

}  // namespace quantc::tools
