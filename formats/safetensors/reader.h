// Reads safetensors checkpoints: one file, or a Hugging Face folder (sharded through
// model.safetensors.index.json, or a single model.safetensors). Every offset, length, dtype and
// element count is validated against the file before use (format facts:
// /work/shared/specs/deepseek-checkpoints.md §8); tensors come back as lazy views into a shared
// read-only mapping of each file, so nothing is read until a writer or pass streams it.
//
// Errors are one line naming the file and, where there is one, the tensor: corrupt bytes or an
// inconsistent index -> DATA_LOSS, unknown dtype -> UNIMPLEMENTED, a missing file or folder without a
// checkpoint -> NOT_FOUND, a path that is neither a .safetensors file nor a folder -> INVALID_ARGUMENT.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"

namespace quantc::formats::safetensors {

inline constexpr char kIndexFileName[] = "model.safetensors.index.json";
inline constexpr char kSingleFileName[] = "model.safetensors";

struct SafetensorsFile {
  std::filesystem::path path;
  std::map<std::string, std::string> metadata;  // __metadata__
  // In data-offset order; sources are MappedTensorSource into the file; origin = file name.
  std::vector<TensorEntry> tensors;
};

absl::StatusOr<SafetensorsFile> ReadSafetensorsFile(const std::filesystem::path& path);

struct SafetensorsCheckpoint {
  std::vector<std::filesystem::path> shard_files;  // every weight file, in order
  std::vector<TensorEntry> tensors;                // shard order (sorted file names), then offset order
  std::map<std::string, std::string> metadata;     // of the first shard
};

// `path` is a .safetensors file or a folder: with model.safetensors.index.json -> its shards (any
// shard naming), checked against the index both ways; without -> model.safetensors; otherwise
// NOT_FOUND. Other .safetensors files in the folder (e.g. goldens) are not part of the checkpoint.
absl::StatusOr<SafetensorsCheckpoint> ReadSafetensorsCheckpoint(const std::filesystem::path& path);

}  // namespace quantc::formats::safetensors
