// Hugging Face checkpoint folders: config.json + safetensors weights (+ index) + companion files
// (tokenizer, generation config, custom code). Reading builds a Model whose tensors view the
// mapped shards; writing streams the tensors into new shards and carries the companions over.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/support/progress.h"

namespace quantc::formats {

// `path`: a checkpoint folder, or a single .safetensors file (then config.json is optional).
absl::StatusOr<Model> ReadHfFolder(const std::filesystem::path& path);

struct HfWriteOptions {
  uint64_t max_shard_bytes = 5'000'000'000;
  Progress* progress = nullptr;
};
// Writes into `folder` (which must exist and be empty — the staging folder of an AtomicOutput):
// shards + model.safetensors.index.json (__metadata__: format=pt, quantc.pipeline, quantc.version),
// config.json from model.config, and every aux file copied.
absl::Status WriteHfFolder(const Model& model, const std::filesystem::path& folder, const HfWriteOptions& options);

// Whether a file in a checkpoint folder is a companion that conversions carry along.
bool IsCompanionFile(const std::filesystem::path& file);

}  // namespace quantc::formats
