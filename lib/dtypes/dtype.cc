// The dtype table: one constexpr row of traits per DType, in enum order (ggml's type_traits).
// Names and sizes follow the safetensors format (huggingface/safetensors, Dtype and its bitsize):
// F4 is 4 bits and F6_* are 6 bits, so a tensor of them must fill whole bytes; we express that as
// storage blocks of 2 x F4 per byte and 4 x F6 per 3 bytes (OCP MX v1.0 element packing).
#include "lib/dtypes/dtype.h"

#include <array>
#include <cstddef>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace quantc {
namespace {

struct Row {
  DType type;  // only to check, at compile time, that rows are in enum order
  DTypeTraits traits;
};

constexpr int kNumDTypes = static_cast<int>(DType::kCount);

//                                      name        block_elems block_bytes is_float is_integer block_quant
constexpr std::array<Row, kNumDTypes> kRows = {{
    {DType::kBool,        {"BOOL",        1, 1, false, true, false}},
    {DType::kF4,          {"F4",          2, 1, true,  false, false}},
    {DType::kF6E2M3,      {"F6_E2M3",     4, 3, true,  false, false}},
    {DType::kF6E3M2,      {"F6_E3M2",     4, 3, true,  false, false}},
    {DType::kU8,          {"U8",          1, 1, false, true, false}},
    {DType::kI8,          {"I8",          1, 1, false, true, false}},
    {DType::kF8E5M2,      {"F8_E5M2",     1, 1, true,  false, false}},
    {DType::kF8E4M3,      {"F8_E4M3",     1, 1, true,  false, false}},
    {DType::kF8E8M0,      {"F8_E8M0",     1, 1, true,  false, false}},
    {DType::kF8E4M3FNUZ,  {"F8_E4M3FNUZ", 1, 1, true,  false, false}},
    {DType::kF8E5M2FNUZ,  {"F8_E5M2FNUZ", 1, 1, true,  false, false}},
    {DType::kI16,         {"I16",         1, 2, false, true, false}},
    {DType::kU16,         {"U16",         1, 2, false, true, false}},
    {DType::kF16,         {"F16",         1, 2, true,  false, false}},
    {DType::kBF16,        {"BF16",        1, 2, true,  false, false}},
    {DType::kI32,         {"I32",         1, 4, false, true, false}},
    {DType::kU32,         {"U32",         1, 4, false, true, false}},
    {DType::kF32,         {"F32",         1, 4, true,  false, false}},
    {DType::kC64,         {"C64",         1, 8, false, false, false}},  // complex, not real-valued
    {DType::kF64,         {"F64",         1, 8, true,  false, false}},
    {DType::kI64,         {"I64",         1, 8, false, true, false}},
    {DType::kU64,         {"U64",         1, 8, false, true, false}},
    // Sizes from ggml-common.h (block structs in lib/kernels/ggml_quants/blocks.h assert them).
    {DType::kQ4_0,        {"q4_0",       32,  18, false, false, true}},
    {DType::kQ4_1,        {"q4_1",       32,  20, false, false, true}},
    {DType::kQ5_0,        {"q5_0",       32,  22, false, false, true}},
    {DType::kQ5_1,        {"q5_1",       32,  24, false, false, true}},
    {DType::kQ8_0,        {"q8_0",       32,  34, false, false, true}},
    {DType::kQ2_K,        {"q2_K",      256,  84, false, false, true}},
    {DType::kQ3_K,        {"q3_K",      256, 110, false, false, true}},
    {DType::kQ4_K,        {"q4_K",      256, 144, false, false, true}},
    {DType::kQ5_K,        {"q5_K",      256, 176, false, false, true}},
    {DType::kQ6_K,        {"q6_K",      256, 210, false, false, true}},
    {DType::kIQ4_NL,      {"iq4_nl",     32,  18, false, false, true}},
    {DType::kIQ4_XS,      {"iq4_xs",    256, 136, false, false, true}},
    {DType::kMXFP4,       {"mxfp4",      32,  17, false, false, true}},
    {DType::kI4,          {"I4",          2, 1, false, true, false}},
    {DType::kU4,          {"U4",          2, 1, false, true, false}},
}};

constexpr bool RowsInEnumOrder() {
  for (int i = 0; i < kNumDTypes; ++i) {
    if (static_cast<int>(kRows[i].type) != i) return false;
    if (kRows[i].traits.block_elems <= 0 || kRows[i].traits.block_bytes <= 0) return false;
  }
  return true;
}
static_assert(RowsInEnumOrder(), "kRows must list every DType once, in enum order");

constexpr int kNumPlain = static_cast<int>(DType::kU64) + 1;
constexpr int kNumBlock = static_cast<int>(DType::kMXFP4) + 1 - kNumPlain;

template <int kFirst, int kCount>
constexpr std::array<DType, kCount> MakeRange() {
  std::array<DType, kCount> all{};
  for (int i = 0; i < kCount; ++i) all[i] = static_cast<DType>(kFirst + i);
  return all;
}
constexpr std::array<DType, kNumPlain> kAllDTypes = MakeRange<0, kNumPlain>();
constexpr std::array<DType, kNumBlock> kBlockQuantDTypes = MakeRange<kNumPlain, kNumBlock>();

// Returned for a value outside the enum (a cast from corrupt data) instead of reading past kRows.
constexpr DTypeTraits kInvalidTraits = {"INVALID", 1, 1, false, false, false};

bool IsValid(DType t) { return static_cast<int>(t) < kNumDTypes; }

// The installed Abseil (20220623) has its own string_view, distinct from std::string_view.
absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

const DTypeTraits& Traits(DType t) {
  return IsValid(t) ? kRows[static_cast<int>(t)].traits : kInvalidTraits;
}

std::span<const DType> AllDTypes() { return kAllDTypes; }
std::span<const DType> BlockQuantDTypes() { return kBlockQuantDTypes; }

std::optional<DType> DTypeFromName(std::string_view name) {
  for (DType t : kAllDTypes) {
    if (Traits(t).name == name) return t;
  }
  return std::nullopt;
}

std::optional<DType> GgufTensorTypeFromName(std::string_view name) {
  auto same = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) != absl::ascii_tolower(static_cast<unsigned char>(b[i])))
        return false;
    }
    return true;
  };
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    if (same(Traits(t).name, name)) return t;
  }
  for (DType t : kBlockQuantDTypes) {
    if (same(Traits(t).name, name)) return t;
  }
  return std::nullopt;
}

absl::StatusOr<uint64_t> ByteSize(DType t, uint64_t num_elements) {
  if (!IsValid(t)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid dtype value ", static_cast<int>(t)));
  }
  const DTypeTraits& traits = Traits(t);
  const uint64_t block_elems = static_cast<uint64_t>(traits.block_elems);
  const uint64_t block_bytes = static_cast<uint64_t>(traits.block_bytes);
  if (num_elements % block_elems != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        num_elements, " elements of ", ToAbsl(traits.name), " do not fill whole storage blocks of ",
        block_elems, " elements (", block_bytes, " bytes)"));
  }
  const uint64_t blocks = num_elements / block_elems;
  if (blocks > std::numeric_limits<uint64_t>::max() / block_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        num_elements, " elements of ", ToAbsl(traits.name), " overflow a 64-bit byte count"));
  }
  return blocks * block_bytes;
}

}  // namespace quantc
