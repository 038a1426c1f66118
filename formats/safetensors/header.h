// The safetensors header: parsing with strict validation, and serialization byte-identical to the
// reference writer (huggingface/safetensors, Rust `serialize`, which Python's save_file calls).
//
// File layout (spec: /work/shared/specs/deepseek-checkpoints.md §8): u64 little-endian N, then N bytes
// of UTF-8 JSON starting with '{' and right-padded with spaces, then the data buffer. The JSON maps
// each tensor name to {"dtype", "shape", "data_offsets": [begin, end)} relative to the buffer, plus an
// optional "__metadata__" object of string values. Sorted by offset, the spans tile the buffer exactly.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/tensor/tensor.h"
#include "nlohmann/json.hpp"

namespace quantc::formats::safetensors {

inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the Rust reader's MAX_HEADER_SIZE
inline constexpr std::string_view kMetadataKey = "__metadata__";

// One tensor as the header describes it; [begin, end) is relative to the data buffer.
struct HeaderTensor {
  std::string name;
  TensorInfo info;
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct Header {
  std::map<std::string, std::string> metadata;
  std::vector<HeaderTensor> tensors;  // sorted by (begin, end, name): data-offset order
};

// Parses JSON text, rejecting a repeated key in any object (nlohmann would silently keep the last).
// Errors are DATA_LOSS and start with `where` (a file name); they never throw.
absl::StatusOr<nlohmann::json> ParseJsonNoDuplicateKeys(std::string_view text, std::string_view where);

// Parses and validates the N header bytes of a file whose data buffer has `data_size` bytes.
// Messages start with `where` and name the tensor. Corruption is DATA_LOSS, an unknown dtype
// UNIMPLEMENTED.
absl::StatusOr<Header> ParseHeader(std::string_view text, uint64_t data_size, std::string_view where);

// The header JSON for `tensors` in the given order (offsets already assigned), compact as serde_json
// writes it, padded with spaces to a multiple of 8 bytes. An empty `metadata` writes no
// "__metadata__" key (Python's metadata=None).
std::string SerializeHeader(const std::map<std::string, std::string>& metadata,
                            std::span<const HeaderTensor> tensors);

// `text` as a JSON string literal, escaped as serde_json does: `"` `\` and control characters only
// (short forms \b \t \n \f \r, otherwise \u00xx), everything else (UTF-8, DEL, '/') verbatim.
std::string JsonQuote(std::string_view text);

// True when `text` is well-formed UTF-8 (what serde_json requires of a header).
bool IsValidUtf8(std::string_view text);

// A tensor name for a one-line message: quoted, with control and non-printable bytes hex-escaped.
std::string QuoteName(std::string_view name);

}  // namespace quantc::formats::safetensors
