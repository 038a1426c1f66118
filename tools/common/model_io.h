// Reading any model quantc runs or converts, for the tools: a Hugging Face checkpoint folder (or one
// .safetensors file), or a GGUF file (or the first shard of a split set), whose config.json is
// rebuilt from its keys (arch::HfConfigFromGguf) and which stays in GGUF layout.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"

namespace quantc::tools {

// A regular file is read as GGUF (so a non-GGUF file gets the GGUF reader's message); a folder as
// a Hugging Face checkpoint.
bool IsGgufPath(const std::filesystem::path& path);
absl::StatusOr<Model> ReadModel(const std::filesystem::path& path);

}  // namespace quantc::tools
