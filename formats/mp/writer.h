// DeepSeek-Infer's model-parallel shards: model{r}-mp{N}.safetensors, one file per rank, as its
// inference/convert.py writes them (safetensors.save_file of each rank's state dict: tensors
// sorted by dtype then name, no __metadata__), plus the tokenizer files (every companion file
// whose name contains "token"). Input: a model after the shard pass (layout "mp"), each tensor
// with its Placement.
//
// Streaming: every rank file's header is known up front, so all N files are open at once and each
// input tensor is read once, its bytes routed to the ranks as they arrive (a split along dim d
// sends each contiguous run of dim-d slices to its rank). Memory stays a few buffers per file.
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "lib/ir/model.h"
#include "lib/support/progress.h"

namespace quantc::formats::mp {

// "model3-mp8.safetensors".
std::string RankFileName(int64_t rank, int64_t ranks);

// Writes the N rank files and the tokenizer files into `folder` (created if missing; files must not
// exist). On error every file this call created is removed.
absl::Status WriteMpShards(const Model& model, const std::filesystem::path& folder, Progress* progress);

}  // namespace quantc::formats::mp
