// fp8::fast against fp8::ref (bit-exact: both compute bf16(f32(q) * s)), over every code, ragged
// edge blocks, row ranges that start mid-block, and scales that push products to the extremes.
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "lib/kernels/fp8/block_dequant.h"

namespace quantc::kernels::fp8 {
namespace {

void ExpectFastEqualsRef(int64_t rows, int64_t cols, int64_t br, int64_t bc, int64_t r0, int64_t r1,
                         unsigned seed) {
  BlockLayout layout{rows, cols, br, bc};
  std::mt19937 rng(seed);
  std::vector<uint8_t> q(rows * cols);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<uint8_t>(i < 256 ? i : rng());  // every code
  std::vector<float> scales(layout.scale_rows() * layout.scale_cols());
  const float kScales[] = {1.0f, 3.0517578e-05f, 0.0173f, 1e-30f, 7.1e37f, -2.5f, 1.0f / 448, 0.0f};
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = kScales[(i + seed) % 8];
  std::vector<uint16_t> a((r1 - r0) * cols), b((r1 - r0) * cols);
  ref::DequantRowsToBF16(q.data() + r0 * cols, scales.data(), layout, r0, r1, a.data());
  fast::DequantRowsToBF16(q.data() + r0 * cols, scales.data(), layout, r0, r1, b.data());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i], b[i]) << "element " << i << " rows " << rows << "x" << cols << " seed " << seed;
  }
}

TEST(Fp8BlockDequant, FastEqualsRefOnWholeTensors) {
  ExpectFastEqualsRef(256, 256, 128, 128, 0, 256, 1);
  ExpectFastEqualsRef(1120, 384, 128, 128, 0, 1120, 2);  // 1120 = 8*128 + 96: ragged edge rows
  ExpectFastEqualsRef(200, 1000, 128, 128, 0, 200, 3);   // ragged both ways
  ExpectFastEqualsRef(1, 1, 128, 128, 0, 1, 4);
  ExpectFastEqualsRef(64, 96, 32, 64, 0, 64, 5);         // other block sizes
}

TEST(Fp8BlockDequant, FastEqualsRefOnRowRangesStartingMidBlock) {
  for (unsigned seed = 0; seed < 8; ++seed) ExpectFastEqualsRef(400, 300, 128, 128, 100 + seed, 390, seed);
}

// Two references agree on the scale picked for each element: a row in block-row 1 uses
// scale row 1, a column past the last full block uses the edge block's scale.
TEST(Fp8BlockDequant, EdgeBlocksShareTheirBlocksScale) {
  BlockLayout layout{130, 130, 128, 128};
  std::vector<uint8_t> q(130 * 130, 0x38);  // 1.0 in E4M3
  std::vector<float> scales = {1.0f, 2.0f, 4.0f, 8.0f};
  std::vector<uint16_t> out(130 * 130);
  fast::DequantRowsToBF16(q.data(), scales.data(), layout, 0, 130, out.data());
  EXPECT_EQ(out[0], 0x3F80);              // 1.0
  EXPECT_EQ(out[129], 0x4000);            // 2.0: column 129 is in block column 1
  EXPECT_EQ(out[129 * 130], 0x4080);      // 4.0: row 129 is in block row 1
  EXPECT_EQ(out[129 * 130 + 129], 0x4100);  // 8.0
}

}  // namespace
}  // namespace quantc::kernels::fp8
