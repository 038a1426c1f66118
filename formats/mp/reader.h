// Reads one rank of DeepSeek-Infer's model-parallel shards (model{r}-mp{N}.safetensors). The files
// carry no config (convert.py writes none; its engine takes a separate one), so the caller passes
// the full model's config.json.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"

namespace quantc::formats::mp {

// Layout "mp", mp_ranks = ranks, mp_rank = rank; tensors mapped from the rank's file.
absl::StatusOr<Model> ReadMpRank(const std::filesystem::path& folder, int64_t rank, int64_t ranks,
                                 nlohmann::ordered_json config);

}  // namespace quantc::formats::mp
