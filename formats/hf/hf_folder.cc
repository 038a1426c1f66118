#include "formats/hf/hf_folder.h"

#include <algorithm>
#include <system_error>

#include "lib/support/strings.h"
#include "formats/safetensors/reader.h"
#include "formats/safetensors/writer.h"
#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/version.h"

namespace quantc::formats {
namespace fs = std::filesystem;

bool IsCompanionFile(const fs::path& file) {
  std::string name = file.filename().string();
  std::string ext = file.extension().string();
  if (name.empty() || name[0] == '.') return false;
  if (name == "config.json" || name == "model.safetensors.index.json") return false;  // rewritten
  // Weights in any format are not companions: they are either the model or not ours to carry
  // (e.g. a golden.safetensors of test outputs, or pytorch_model.bin beside the safetensors).
  for (const char* weights : {".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx", ".h5", ".msgpack"}) {
    if (ext == weights) return false;
  }
  if (name.ends_with(".index.json")) return false;
  return true;
}

absl::StatusOr<Model> ReadHfFolder(const fs::path& path) {
  Model model;
  model.source_path = path;
  std::error_code ec;
  bool is_dir = fs::is_directory(path, ec);
  if (!is_dir && !fs::exists(path, ec)) return absl::NotFoundError(StrCat(path.string(), ": no such file or folder"));
  fs::path config_path = (is_dir ? path : path.parent_path()) / "config.json";
  if (fs::exists(config_path, ec)) {
    QC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(config_path));
    QC_RETURN_IF_ERROR(CheckJsonNesting(text, config_path.string()));
    model.config = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (model.config.is_discarded()) {
      return absl::InvalidArgumentError(StrCat(config_path.string(), ": not valid JSON"));
    }
    if (!model.config.is_object()) {
      return absl::InvalidArgumentError(StrCat(config_path.string(), ": not a JSON object"));
    }
  } else if (is_dir) {
    return absl::NotFoundError(StrCat(path.string(), ": no config.json in the checkpoint folder"));
  }
  QC_ASSIGN_OR_RETURN(auto checkpoint, safetensors::ReadSafetensorsCheckpoint(path));
  for (TensorEntry& e : checkpoint.tensors) QC_RETURN_IF_ERROR(model.tensors.Add(std::move(e)));
  if (is_dir) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (!entry.is_regular_file() || !IsCompanionFile(entry.path())) continue;
      // Companions are copied into the output: a symlink out of the folder would copy any file.
      QC_RETURN_IF_ERROR(ResolveInsideFolder(path, entry.path().filename().string(), path.string()).status());
      model.aux_files.push_back(entry.path());
    }
    std::sort(model.aux_files.begin(), model.aux_files.end());
  }
  return model;
}

absl::Status WriteHfFolder(const Model& model, const fs::path& folder, const HfWriteOptions& options) {
  safetensors::SafetensorsWriteOptions st;
  st.max_shard_bytes = options.max_shard_bytes;
  st.progress = options.progress;
  // Every output records what made it: the canonical pipeline ("" when no pass ran) and version.
  st.metadata["quantc.pipeline"] = model.PipelineText();
  st.metadata["quantc.version"] = std::string(kVersion);
  QC_RETURN_IF_ERROR(safetensors::WriteSafetensorsShards(model.tensors, folder, st));
  QC_RETURN_IF_ERROR(WriteStringToFile(folder / "config.json", model.config.dump(2) + "\n"));
  for (const fs::path& aux : model.aux_files) {
    QC_RETURN_IF_ERROR(CopyFile(aux, folder / aux.filename()));
  }
  return absl::OkStatus();
}

}  // namespace quantc::formats
