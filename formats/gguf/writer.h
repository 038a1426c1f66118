// Writes GGUF v3 files (gguf-llamacpp.md §1, corrections.md items 6, 8 and 11) that llama.cpp's reader
// (ggml/src/gguf.cpp at 81ff7abe) accepts: magic + version 3 + tensor and KV counts, the KVs of
// model.metadata in their order, the tensor infos in table order (name <= 63 bytes, dims reversed to
// ggml order, offsets exactly the running sum of sizes padded to the alignment, as ggml demands),
// zero padding to the alignment, then each tensor's bytes streamed from its TensorSource and padded.
// Nothing holds the model in memory: the header is built in memory (it is KVs and infos only), the
// data goes through OutputFile's background writer one chunk at a time.
//
// Split output (llama-gguf-split's layout): <stem>-00001-of-0000N.gguf ..., each a complete GGUF.
// Shard 1 carries every model KV, later shards none; every shard then gets split.no (u16, 0-based),
// split.tensors.count (i32, all shards) and split.count (u16), in llama-gguf-split's order (its shards
// and ours are byte-identical for the same assignment). Tensors go to shards greedily in order.
//
// Everything is validated before the first byte is written; a file that fails midway is removed.
// Files are created exclusively (never overwritten); atomicity of the whole output is the caller's:
// write a single file at AtomicOutput(kFile).staging(), split files into an AtomicOutput(kDirectory)
// staging folder (lib/support/output_dir.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/support/progress.h"

namespace quantc::formats::gguf {

struct GgufWriteOptions {
  // 0: one file at `path`. Otherwise split output: a new shard starts when the next tensor's padded
  // bytes would take the current shard's data past this (a larger tensor gets a shard of its own).
  uint64_t split_max_bytes = 0;
  // 0: model.metadata's general.alignment when present, else 32. Otherwise this value (a power of
  // two); it is written as general.alignment (u32) unless it is 32 and the metadata lacks the key.
  uint32_t alignment = 0;
  Progress* progress = nullptr;  // Advance(bytes) as tensor data is written, Advance(0, 1) per tensor
};

// Writes `model` (its metadata and tensors; config and aux files are not part of a GGUF) to `path`,
// or to the shards named after it (stem = path without ".gguf"). Errors name the file and the key or
// tensor: a bad name, shape, dtype or KV is INVALID_ARGUMENT; a source yielding the wrong number of
// bytes is INTERNAL; I/O failures carry OutputFile's code.
absl::Status WriteGguf(const Model& model, const std::filesystem::path& path, const GgufWriteOptions& options);

// The files WriteGguf would write for this model and options, in order (validates as WriteGguf does).
absl::StatusOr<std::vector<std::filesystem::path>> GgufOutputFiles(const Model& model,
                                                                   const std::filesystem::path& path,
                                                                   const GgufWriteOptions& options);

}  // namespace quantc::formats::gguf
