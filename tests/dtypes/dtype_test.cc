// The dtype table: every dtype's name round-trips, and ByteSize follows the storage rules of the
// safetensors format (bits per element, whole bytes), checked against a table written here
// independently of lib/dtypes.
#include "lib/dtypes/dtype.h"

#include <array>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace quantc {
namespace {

using ::quantc::testing::IsOkAndHolds;
using ::quantc::testing::StatusIs;
using ::testing::HasSubstr;

// Bits per element of every safetensors dtype (huggingface/safetensors Dtype::bitsize), plus the
// two FNUZ spellings.
struct NameBits {
  std::string_view name;
  int bits;
};
constexpr std::array<NameBits, 22> kSafetensorsBits = {{
    {"BOOL", 8},    {"F4", 4},          {"F6_E2M3", 6},     {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},      {"F8_E5M2", 8},     {"F8_E4M3", 8},     {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8},
    {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16},        {"F16", 16},    {"BF16", 16},
    {"I32", 32},    {"U32", 32},        {"F32", 32},        {"C64", 64},    {"F64", 64},
    {"I64", 64},    {"U64", 64},
}};

// 0 for a name not in the table.
int BitsPerElement(std::string_view name) {
  for (const NameBits& row : kSafetensorsBits) {
    if (row.name == name) return row.bits;
  }
  return 0;
}

TEST(DTypeTest, AllDTypesListsEveryEnumeratorOnceInOrder) {
  const auto all = AllDTypes();
  const auto block = BlockQuantDTypes();
  ASSERT_EQ(all.size() + block.size() + 2, static_cast<size_t>(DType::kCount));  // + kI4, kU4
  EXPECT_EQ(static_cast<size_t>(DType::kI4), all.size() + block.size());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(static_cast<size_t>(all[i]), i);
  for (size_t i = 0; i < block.size(); ++i) EXPECT_EQ(static_cast<size_t>(block[i]), all.size() + i);
  EXPECT_EQ(all.size(), kSafetensorsBits.size());
  for (DType t : all) EXPECT_FALSE(Traits(t).is_block_quant) << Name(t);
  for (DType t : block) EXPECT_TRUE(Traits(t).is_block_quant) << Name(t);
}

// ggml's block sizes and bytes (ggml-common.h, llama.cpp 81ff7abe), independent of lib/kernels.
TEST(DTypeTest, BlockQuantTypesHaveGgmlSizesAndNames) {
  struct Expect { const char* user_name; int elems, bytes; };
  const Expect expected[] = {{"Q4_0", 32, 18},  {"Q4_1", 32, 20},    {"Q5_0", 32, 22},   {"Q5_1", 32, 24},
                             {"Q8_0", 32, 34},  {"Q2_K", 256, 84},   {"Q3_K", 256, 110}, {"Q4_K", 256, 144},
                             {"Q5_K", 256, 176}, {"Q6_K", 256, 210}, {"IQ4_NL", 32, 18}, {"IQ4_XS", 256, 136},
                             {"MXFP4", 32, 17}};
  ASSERT_EQ(BlockQuantDTypes().size(), std::size(expected));
  for (const Expect& e : expected) {
    std::optional<DType> t = GgufTensorTypeFromName(e.user_name);
    ASSERT_TRUE(t.has_value()) << e.user_name;
    EXPECT_EQ(Traits(*t).block_elems, e.elems) << e.user_name;
    EXPECT_EQ(Traits(*t).block_bytes, e.bytes) << e.user_name;
    EXPECT_EQ(DTypeFromName(Name(*t)), std::nullopt) << "block types have no safetensors name";
  }
  EXPECT_EQ(GgufTensorTypeFromName("bf16"), DType::kBF16);
  EXPECT_EQ(GgufTensorTypeFromName("F32"), DType::kF32);
  EXPECT_EQ(GgufTensorTypeFromName("q4_k"), DType::kQ4_K);
  EXPECT_EQ(GgufTensorTypeFromName("Q4_K_M"), std::nullopt);  // a mix, not a type
  EXPECT_EQ(GgufTensorTypeFromName("I8"), std::nullopt);
}

TEST(DTypeTest, NamesRoundTripAndAreTheSafetensorsSpellings) {
  std::set<std::string> seen;
  for (DType t : AllDTypes()) {
    const std::string name(Name(t));
    EXPECT_EQ(Name(t), Traits(t).name);
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
    EXPECT_NE(BitsPerElement(name), 0) << "not a safetensors name: " << name;
    EXPECT_EQ(DTypeFromName(name), t) << name;
  }
}

TEST(DTypeTest, UnknownNamesAreNullopt) {
  for (const char* name : {"", "bf16", "F8_E4M3FN", "Q4_K", "F8", "INVALID", "BF16 "}) {
    EXPECT_EQ(DTypeFromName(name), std::nullopt) << name;
  }
}

TEST(DTypeTest, ByteSizeFollowsBitsPerElement) {
  for (DType t : AllDTypes()) {
    const DTypeTraits& traits = Traits(t);
    const int bits = BitsPerElement(traits.name);
    ASSERT_NE(bits, 0) << traits.name;
    // The block is the fewest elements that fill whole bytes.
    EXPECT_EQ(traits.block_elems * bits % 8, 0) << traits.name;
    EXPECT_EQ(traits.block_bytes * 8, traits.block_elems * bits) << traits.name;
    for (uint64_t n = 0; n <= 48; ++n) {
      if (n * bits % 8 == 0) {
        EXPECT_THAT(ByteSize(t, n), IsOkAndHolds(n * bits / 8)) << traits.name << " n=" << n;
      } else {
        EXPECT_THAT(ByteSize(t, n),
                    StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("whole storage blocks")))
            << traits.name << " n=" << n;
      }
    }
  }
}

TEST(DTypeTest, ByteSizeOfPackedAndWideTypes) {
  EXPECT_THAT(ByteSize(DType::kF4, 2), IsOkAndHolds(1u));
  EXPECT_THAT(ByteSize(DType::kF4, 7168), IsOkAndHolds(3584u));
  EXPECT_THAT(ByteSize(DType::kF4, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("F4")));
  EXPECT_THAT(ByteSize(DType::kF6E2M3, 4), IsOkAndHolds(3u));
  EXPECT_THAT(ByteSize(DType::kF6E3M2, 32), IsOkAndHolds(24u));
  EXPECT_THAT(ByteSize(DType::kF6E3M2, 6),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("F6_E3M2")));
  EXPECT_THAT(ByteSize(DType::kC64, 3), IsOkAndHolds(24u));
  EXPECT_THAT(ByteSize(DType::kBF16, 5), IsOkAndHolds(10u));
  EXPECT_THAT(ByteSize(DType::kBool, 5), IsOkAndHolds(5u));
}

TEST(DTypeTest, ByteSizeOverflowIsAnError) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  EXPECT_THAT(ByteSize(DType::kU8, kMax), IsOkAndHolds(kMax));
  EXPECT_THAT(ByteSize(DType::kU64, kMax / 8), IsOkAndHolds(kMax / 8 * 8));
  EXPECT_THAT(ByteSize(DType::kU64, kMax / 8 + 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("overflow")));
  EXPECT_THAT(ByteSize(DType::kF32, uint64_t{1} << 62),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("overflow")));
  // Packed types need fewer bytes than elements, so no element count can overflow them.
  EXPECT_THAT(ByteSize(DType::kF6E2M3, kMax / 4 * 4), IsOkAndHolds(kMax / 4 * 3));
  EXPECT_THAT(ByteSize(DType::kF4, kMax - 1), IsOkAndHolds(kMax / 2));
}

TEST(DTypeTest, ValuesOutsideTheEnumAreRejected) {
  EXPECT_THAT(ByteSize(DType::kCount, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid dtype")));
  EXPECT_EQ(Name(static_cast<DType>(200)), "INVALID");
}

TEST(DTypeTest, KindFlags) {
  for (DType t : AllDTypes()) {
    const DTypeTraits& traits = Traits(t);
    EXPECT_FALSE(traits.is_float && traits.is_integer) << traits.name;
    const std::string name(traits.name);
    const bool integer_name = name == "BOOL" || name[0] == 'I' || name[0] == 'U';
    EXPECT_EQ(traits.is_integer, integer_name) << name;
    EXPECT_EQ(traits.is_float, name[0] == 'F' || name == "BF16") << name;
  }
}

}  // namespace
}  // namespace quantc
