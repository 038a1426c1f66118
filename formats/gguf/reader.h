// Reads GGUF files (versions 2 and 3, little-endian; layout: gguf-llamacpp.md §1, type ids §4) into
// the model IR. The file is memory-mapped and every count, length, dim, type and offset is checked
// against the file before use, at least as strictly as llama.cpp's reader (ggml/src/gguf.cpp at
// 81ff7abe): magic and version; counts bounded by the bytes left; keys non-empty, unique, at most
// 65535 bytes; strings and arrays bounded; no arrays of arrays; bools 0 or 1; general.alignment a
// u32 power of two; tensor names 1..63 bytes and unique; at most 4 dims; ne[0] a multiple of the
// type's block size; offsets aligned, packed in info order (ggml rejects gaps) and inside the file.
// Tensors become lazy views (MappedTensorSource) of the mapping, shapes in numpy order (ne reversed).
//
// Errors are one line naming the file and the key or tensor: corrupt bytes -> DATA_LOSS; a ggml type
// quantc has no DType for, GGUF v1 or a big-endian file -> UNIMPLEMENTED; a missing file or shard ->
// NOT_FOUND; a later shard given instead of the first -> INVALID_ARGUMENT.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/metadata.h"
#include "lib/ir/model.h"

namespace quantc::formats::gguf {

// One GGUF file as stored.
struct GgufFile {
  std::filesystem::path path;
  uint32_t version = 0;
  uint32_t alignment = 0;
  uint64_t data_offset = 0;          // start of the data section in the file
  Metadata metadata;                 // every KV in file order, split.* and general.alignment included
  std::vector<TensorEntry> tensors;  // info order; sources view the mapping; origin = file name
};
absl::StatusOr<GgufFile> ReadGgufFile(const std::filesystem::path& path);

// A model from a .gguf file. Given the first shard of a split set (split.count > 1, named
// <stem>-00001-of-0000N.gguf) it reads every shard into one Model, checking split.no, split.count and
// split.tensors.count (split.count 0 or 1 is a whole model, as for llama.cpp's loader; a merged file
// has 0). metadata = the (first) file's KVs without split.*; layout = "gguf";
// source_path = `path`; config stays empty.
absl::StatusOr<Model> ReadGguf(const std::filesystem::path& path);

}  // namespace quantc::formats::gguf
