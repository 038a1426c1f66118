// The graph evaluator's operators against values worked out by hand from the ONNX / onnxruntime
// definitions: QuantizeLinear rounds half to even and saturates, DequantizeLinear per tensor and per
// axis, INT4 initializers sign-extended, MatMulNBits' and GatherBlockQuantized's nibble layouts and
// default zero points, and GroupQueryAttention's buffer placement and causality.
#include <cmath>
#include <cstring>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/runner/graph_eval.h"
#include "tests/status_matchers.h"

namespace quantc::runner {
namespace {
using ::quantc::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::FloatEq;
using ::testing::Pointwise;

void AddBytes(Model& m, const std::string& name, DType t, Shape shape, std::vector<uint8_t> bytes) {
  ASSERT_THAT(m.tensors.Add({name, {t, std::move(shape)}, std::make_shared<OwnedTensorSource>(std::move(bytes)), "test", {}}), IsOk());
}
template <typename T>
std::vector<uint8_t> Bytes(std::vector<T> v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

TEST(GraphEvalTest, QuantizeRoundsHalfToEvenAndSaturates) {
  Model m;
  AddBytes(m, "s", DType::kF32, {}, Bytes<float>({0.5f}));
  AddBytes(m, "z", DType::kU16, {}, Bytes<uint16_t>({10}));
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {GraphDim::Fixed(6)}});
  g.Add("QuantizeLinear", "q", {"x", "s", "z"}, {"q"});
  g.Add("DequantizeLinear", "dq", {"q", "s", "z"}, {"y"});
  g.outputs = {{"q", DType::kU16, {}}, {"y", DType::kF32, {}}};
  GraphEvaluator e(m, g);
  // x / 0.5 = 0.5, 1.5, 2.5, -3, -100, 40000 -> round half even 0, 2, 2, -3 -> +10, clamped to [0, 65535].
  auto out = e.Run({{"x", GraphTensor::Float({6}, {0.25f, 0.75f, 1.25f, -1.5f, -50.0f, 20000.0f})}});
  ASSERT_THAT(out.status(), IsOk());
  EXPECT_THAT((*out)["q"].i, ElementsAre(10, 12, 12, 7, 0, 40010));
  EXPECT_THAT((*out)["y"].f, ElementsAre(0.0f, 1.0f, 1.0f, -1.5f, -5.0f, 20000.0f));
}

TEST(GraphEvalTest, Int4PerAxisDequantizeAndMatMul) {
  Model m;
  // INT4 [2, 3]: 1, -2, 7 / -8, 0, 3, packed low nibble first over the flattened tensor.
  AddBytes(m, "w", DType::kI4, {2, 3}, {0xE1, 0x87, 0x30});
  AddBytes(m, "s", DType::kF32, {3}, Bytes<float>({1.0f, 0.5f, 2.0f}));
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {}});
  g.Add("DequantizeLinear", "dq", {"w", "s"}, {"wf"}, {{"axis", int64_t{1}}});
  g.Add("MatMul", "mm", {"x", "wf"}, {"y"});
  g.outputs = {{"wf", DType::kF32, {}}, {"y", DType::kF32, {}}};
  GraphEvaluator e(m, g);
  auto out = e.Run({{"x", GraphTensor::Float({1, 2}, {1.0f, 2.0f})}});
  ASSERT_THAT(out.status(), IsOk());
  EXPECT_THAT((*out)["wf"].f, ElementsAre(1.0f, -1.0f, 14.0f, -8.0f, 0.0f, 6.0f));
  EXPECT_THAT((*out)["y"].f, ElementsAre(-15.0f, -1.0f, 26.0f));
}

TEST(GraphEvalTest, MatMulNBitsAndGatherBlockQuantizedLayouts) {
  Model m;
  // N = 2 rows of K = 16 codes (block 16): row 0 codes 0..15, row 1 all 9; default zero point 8.
  std::vector<uint8_t> b(16);
  for (int k = 0; k < 16; k += 2) b[k / 2] = static_cast<uint8_t>(k | ((k + 1) << 4));
  for (int k = 8; k < 16; ++k) b[k] = 0x99;
  AddBytes(m, "b", DType::kU8, {2, 1, 8}, b);
  AddBytes(m, "s", DType::kF32, {2, 1}, Bytes<float>({0.5f, 2.0f}));
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {}});
  g.inputs.push_back({"ids", DType::kI64, {}});
  g.Add("MatMulNBits", "mm", {"x", "b", "s"}, {"y"}, {{"K", int64_t{16}}, {"N", int64_t{2}}, {"bits", int64_t{4}}, {"block_size", int64_t{16}}});
  // The same bytes as a [2, 8] uint8 embedding table of 16 values per row.
  AddBytes(m, "table", DType::kU8, {2, 8}, b);
  g.Add("GatherBlockQuantized", "gbq", {"table", "ids", "s"}, {"e"}, {{"block_size", int64_t{16}}, {"bits", int64_t{4}}});
  g.outputs = {{"y", DType::kF32, {}}, {"e", DType::kF32, {}}};
  GraphEvaluator e(m, g);
  std::vector<float> ones(16, 1.0f);
  auto out = e.Run({{"x", GraphTensor::Float({1, 16}, ones)}, {"ids", GraphTensor::Int(DType::kI64, {1}, {1})}});
  ASSERT_THAT(out.status(), IsOk());
  // Row 0: sum over k of (k - 8) * 0.5 = (120 - 128) * 0.5 = -4; row 1: 16 * (9 - 8) * 2 = 32.
  EXPECT_THAT((*out)["y"].f, ElementsAre(-4.0f, 32.0f));
  EXPECT_THAT((*out)["e"].f, Pointwise(FloatEq(), std::vector<float>(16, 2.0f)));
}

TEST(GraphEvalTest, GroupQueryAttentionWritesAfterThePastAndAttendsCausally) {
  Model m;
  Graph g;
  for (const char* n : {"q", "k", "v", "pk", "pv"}) g.inputs.push_back({n, DType::kF32, {}});
  g.inputs.push_back({"seqlens", DType::kI32, {}});
  g.inputs.push_back({"total", DType::kI32, {}});
  g.Add("GroupQueryAttention", "gqa", {"q", "k", "v", "pk", "pv", "seqlens", "total"}, {"o", "k2", "v2"},
        {{"num_heads", int64_t{1}}, {"kv_num_heads", int64_t{1}}, {"scale", 1.0f}}, "com.microsoft");
  g.outputs = {{"o", DType::kF32, {}}, {"k2", DType::kF32, {}}, {"v2", DType::kF32, {}}};
  GraphEvaluator e(m, g);
  // Head size 16, a buffer of 4 rows holding 1 past token (key 0, value 1s); 2 new tokens.
  const int d = 16;
  std::vector<float> pk(4 * d, 0.0f), pv(4 * d, 0.0f);
  for (int i = 0; i < d; ++i) pv[i] = 1.0f;
  for (int i = 2 * d; i < 4 * d; ++i) pk[i] = pv[i] = 99.0f;  // rows past the valid length: never read
  std::vector<float> q(2 * d, 0.0f), k(2 * d, 0.0f), v(2 * d, 0.0f);
  for (int i = 0; i < d; ++i) v[i] = 3.0f, v[d + i] = 5.0f;
  auto out = e.Run({{"q", GraphTensor::Float({1, 2, d}, q)}, {"k", GraphTensor::Float({1, 2, d}, k)},
                    {"v", GraphTensor::Float({1, 2, d}, v)}, {"pk", GraphTensor::Float({1, 1, 4, d}, pk)},
                    {"pv", GraphTensor::Float({1, 1, 4, d}, pv)}, {"seqlens", GraphTensor::Int(DType::kI32, {1}, {2})},
                    {"total", GraphTensor::Int(DType::kI32, {}, {3})}});
  ASSERT_THAT(out.status(), IsOk());
  // Zero queries: uniform weights over the visible keys. Token 1 sees {past, itself}: (1 + 3) / 2;
  // token 2 sees {past, token 1, itself}: (1 + 3 + 5) / 3.
  EXPECT_FLOAT_EQ((*out)["o"].f[0], 2.0f);
  EXPECT_FLOAT_EQ((*out)["o"].f[d], 3.0f);
  EXPECT_EQ((*out)["v2"].shape, (Shape{1, 1, 4, d}));
  EXPECT_FLOAT_EQ((*out)["v2"].f[1 * d], 3.0f);   // new values at rows 1 and 2
  EXPECT_FLOAT_EQ((*out)["v2"].f[2 * d], 5.0f);
  EXPECT_FLOAT_EQ((*out)["v2"].f[3 * d], 99.0f);  // untouched
}

}  // namespace
}  // namespace quantc::runner
