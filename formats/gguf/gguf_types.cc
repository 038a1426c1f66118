// ggml_type ids (gguf-llamacpp.md §4, ggml.h at 81ff7abe) and split file naming (§1).
#include "formats/gguf/gguf_types.h"

#include <array>
#include <charconv>

#include "absl/strings/str_format.h"

namespace quantc::formats::gguf {
namespace {

struct TypeRow {
  uint32_t id;
  DType dtype;
};

// Every DType a GGUF tensor can hold, with its ggml_type id.
constexpr std::array<TypeRow, 21> kTypes = {{
    {0, DType::kF32},     {1, DType::kF16},     {2, DType::kQ4_0},    {3, DType::kQ4_1},
    {6, DType::kQ5_0},    {7, DType::kQ5_1},    {8, DType::kQ8_0},    {10, DType::kQ2_K},
    {11, DType::kQ3_K},   {12, DType::kQ4_K},   {13, DType::kQ5_K},   {14, DType::kQ6_K},
    {20, DType::kIQ4_NL}, {23, DType::kIQ4_XS}, {24, DType::kI8},     {25, DType::kI16},
    {26, DType::kI32},    {27, DType::kI64},    {28, DType::kF64},    {30, DType::kBF16},
    {39, DType::kMXFP4},
}};

// ggml's type_name per id; "" where the id was removed (4, 5, 31-33, 36-38: ggml gives them block
// size 0, so its reader rejects them).
constexpr std::array<std::string_view, kGgmlTypeCount> kNames = {
    "f32",  "f16",   "q4_0",  "q4_1",  "",       "",        "q5_0",  "q5_1",  "q8_0",   "q8_1",  "q2_K",
    "q3_K", "q4_K",  "q5_K",  "q6_K",  "q8_K",   "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s",
    "iq2_s", "iq4_xs", "i8",  "i16",   "i32",    "i64",     "f64",   "iq1_m", "bf16",   "",      "",
    "",     "tq1_0", "tq2_0", "",      "",       "",        "mxfp4", "nvfp4", "q1_0",   "q2_0",
};
static_assert(kNames[8] == "q8_0" && kNames[23] == "iq4_xs" && kNames[30] == "bf16" && kNames[39] == "mxfp4" &&
              kNames[42] == "q2_0");

}  // namespace

std::optional<uint32_t> GgmlTypeId(DType dtype) {
  for (const TypeRow& row : kTypes) {
    if (row.dtype == dtype) return row.id;
  }
  return std::nullopt;
}

std::optional<DType> DTypeFromGgmlTypeId(uint32_t id) {
  for (const TypeRow& row : kTypes) {
    if (row.id == id) return row.dtype;
  }
  return std::nullopt;
}

std::string_view GgmlTypeName(uint32_t id) { return id < kNames.size() ? kNames[id] : std::string_view(); }

std::string Quote(std::string_view name) {
  static constexpr char kHex[] = "0123456789abcdef";
  constexpr size_t kShown = 80;
  std::string out = "'";
  for (size_t i = 0; i < name.size() && i < kShown; ++i) {
    const auto u = static_cast<unsigned char>(name[i]);
    if (u < 0x20 || u == 0x7F || name[i] == '\'' || name[i] == '\\') {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += name[i];
    }
  }
  if (name.size() > kShown) out += absl::StrFormat("...' (%d bytes)", name.size());
  else out += "'";
  return out;
}

std::string SplitFileName(std::string_view stem, size_t index_from_1, size_t count) {
  return absl::StrFormat("%s-%05d-of-%05d.gguf", std::string(stem), index_from_1, count);
}

std::optional<SplitName> ParseSplitFileName(const std::filesystem::path& path) {
  // "<stem>-NNNNN-of-MMMMM.gguf": at least 5 digits each (llama.cpp's %05d).
  const std::string name = path.filename().string();
  constexpr std::string_view kExt = ".gguf";
  if (name.size() <= kExt.size() || !name.ends_with(kExt)) return std::nullopt;
  std::string_view rest(name.data(), name.size() - kExt.size());
  auto digits_before = [](std::string_view s) {
    size_t n = 0;
    while (n < s.size() && s[s.size() - 1 - n] >= '0' && s[s.size() - 1 - n] <= '9') ++n;
    return n;
  };
  auto parse = [](std::string_view s, size_t& v) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && end == s.data() + s.size();
  };
  SplitName out;
  size_t n = digits_before(rest);
  if (n < 5 || !parse(rest.substr(rest.size() - n), out.count)) return std::nullopt;
  rest.remove_suffix(n);
  if (!rest.ends_with("-of-")) return std::nullopt;
  rest.remove_suffix(4);
  n = digits_before(rest);
  if (n < 5 || !parse(rest.substr(rest.size() - n), out.index_from_1)) return std::nullopt;
  rest.remove_suffix(n);
  if (!rest.ends_with("-") || rest.size() < 2) return std::nullopt;
  rest.remove_suffix(1);
  if (out.index_from_1 == 0 || out.count == 0 || out.index_from_1 > out.count) return std::nullopt;
  out.stem = path.parent_path() / std::string(rest);
  return out;
}

}  // namespace quantc::formats::gguf
