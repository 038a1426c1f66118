// GGUF constants and the ggml_type id <-> DType mapping shared by the GGUF reader and writer.
// Facts: /work/shared/specs/gguf-llamacpp.md §1 (file layout, limits, split naming) and §4 (type ids),
// checked against llama.cpp 81ff7abe ggml/src/gguf.cpp (the reader our files must satisfy).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "lib/dtypes/dtype.h"

namespace quantc::formats::gguf {

inline constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};  // u32 0x46554747 read little-endian
inline constexpr uint32_t kVersion = 3;                   // what we write; the reader takes 2 and 3
inline constexpr uint32_t kDefaultAlignment = 32;         // when general.alignment is absent
inline constexpr size_t kMaxTensorNameBytes = 63;         // GGML_MAX_NAME 64 including the NUL
inline constexpr uint32_t kMaxDims = 4;                   // GGML_MAX_DIMS
inline constexpr uint32_t kGgmlTypeCount = 43;            // GGML_TYPE_COUNT at 81ff7abe
inline constexpr uint64_t kMaxKeyBytes = 65535;           // the GGUF spec's key limit
inline constexpr uint64_t kMaxStringBytes = 1ull << 30;   // ggml's GGUF_MAX_STRING_LENGTH
inline constexpr uint64_t kMaxArrayElements = 1ull << 30; // ggml's GGUF_MAX_ARRAY_ELEMENTS

inline constexpr std::string_view kKeyAlignment = "general.alignment";  // u32, power of two
inline constexpr std::string_view kKeySplitNo = "split.no";                     // u16, 0-based
inline constexpr std::string_view kKeySplitCount = "split.count";               // u16
inline constexpr std::string_view kKeySplitTensorsCount = "split.tensors.count";  // i32, all shards
inline constexpr std::string_view kSplitKeyPrefix = "split.";

// The ggml_type id a tensor of this dtype is stored as: F32 0, F16 1, BF16 30, the block types, and
// the plain integers ggml has (I8 24, I16 25, I32 26, I64 27) plus F64 28. nullopt: GGUF cannot hold it.
std::optional<uint32_t> GgmlTypeId(DType dtype);
// The reverse; nullopt for an id quantc has no DType for (a valid ggml type or not; see GgmlTypeName).
std::optional<DType> DTypeFromGgmlTypeId(uint32_t id);
// ggml's name of a type id ("f32", "q4_K", "iq2_xxs"); "" for ids that are not (or no longer) types.
std::string_view GgmlTypeName(uint32_t id);

// A key or tensor name for a one-line message: quoted, control bytes as \xNN, at most 80 bytes shown.
std::string Quote(std::string_view name);

// "<stem>-00002-of-00005.gguf" (llama.cpp llama_split_path: 1-based, 5 digits).
std::string SplitFileName(std::string_view stem, size_t index_from_1, size_t count);
// The split stem of `path` when its file name is "<stem>-00001-of-NNNNN.gguf"-shaped (any index);
// sets `index_from_1`/`count`. nullopt for other names.
struct SplitName {
  std::filesystem::path stem;  // folder + stem, so SplitFileName(stem.filename()) sits next to it
  size_t index_from_1 = 0;
  size_t count = 0;
};
std::optional<SplitName> ParseSplitFileName(const std::filesystem::path& path);

}  // namespace quantc::formats::gguf
