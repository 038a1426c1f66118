// Writes safetensors files byte-identical to Python's safetensors.save_file (the Rust writer): the
// header is compact serde_json, "__metadata__" first, tensors sorted by dtype descending in
// safetensors' Dtype order (= our DType enum order) then by name, padded with spaces to a multiple of
// 8 bytes; then the data, back to back. Tensor bytes are streamed from each TensorSource straight
// into the file, so a model is never held in memory. Folders follow transformers' sharded layout
// (model-00001-of-0000N.safetensors + model.safetensors.index.json).
//
// Files are created exclusively (an existing file is an error, never overwritten) and fsynced on
// close; a file that fails midway is removed. Atomicity of a whole output folder is the caller's
// job (lib/support/output_dir.h writes into a staging folder and renames it at the end).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "lib/ir/model.h"
#include "lib/support/progress.h"

namespace quantc::formats::safetensors {

struct SafetensorsWriteOptions {
  uint64_t max_shard_bytes = 5'000'000'000;     // per shard, tensor data bytes (transformers' default 5GB)
  std::map<std::string, std::string> metadata;  // written into __metadata__ in addition to {"format":"pt"}
  Progress* progress = nullptr;                 // Advance(bytes) as data is written, Advance(0,1) per tensor
};

// One file: header then each tensor streamed from its source. A source that yields more or fewer
// than its byte size is INTERNAL naming the tensor; a bad name/shape/dtype is INVALID_ARGUMENT. An
// empty `metadata` writes no "__metadata__" key (as Python does for metadata=None).
absl::Status WriteSafetensorsFile(std::span<const TensorEntry* const> tensors, const std::filesystem::path& path,
                                  const std::map<std::string, std::string>& metadata, Progress* progress);

// Folder output: model-00001-of-0000N.safetensors ... (always with model.safetensors.index.json, even
// for one shard). Tensors go to shards greedily in table order; a new shard starts when the next
// tensor would push the current one past max_shard_bytes (so a larger tensor gets a shard of its own).
// The index is {"metadata": {"total_size": <sum of tensor data bytes>}, "weight_map": {name: file}},
// written like transformers (json.dumps(indent=2, sort_keys=True) + "\n"). Every shard's
// __metadata__ is options.metadata with "format" set to "pt". The folder is created if missing.
absl::Status WriteSafetensorsShards(const TensorTable& tensors, const std::filesystem::path& folder,
                                    const SafetensorsWriteOptions& options);

// "model-00003-of-00012.safetensors" (transformers' naming: 5 digits, wider when needed).
std::string ShardFileName(size_t index_from_1, size_t count);

}  // namespace quantc::formats::safetensors
