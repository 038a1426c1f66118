// llama.cpp's importance-matrix GGUF (llama-imatrix's default output; tools/imatrix/imatrix.cpp at
// 81ff7abe, specs/gguf-llamacpp.md §7 and corrections.md #3): general.type = "imatrix", KVs
// imatrix.datasets (string[]), imatrix.chunk_count and imatrix.chunk_size (u32), and per weight two
// F32 tensors "<weight>.in_sum2" (ne {n_per_row, n_mat}) and "<weight>.counts" (ne {1, n_mat}),
// names sorted. llama-quantize rejects the file unless all three KVs are present; so do we.
#pragma once

#include <filesystem>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/ir/importance.h"

namespace quantc::formats::gguf {

absl::StatusOr<ImportanceMatrix> ReadImatrix(const std::filesystem::path& path);
// Writes to `path` (the caller provides atomicity, as for WriteGguf).
absl::Status WriteImatrix(const ImportanceMatrix& im, const std::filesystem::path& path);

}  // namespace quantc::formats::gguf
