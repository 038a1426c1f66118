// fp4-to-bf16 in every layout it reads, checked against values the test decodes itself (its own
// E2M1 table, E8M0 as 2^(b-127), E4M3 by formula), with scales chosen so every value is exact in
// BF16: on the DeepSeek-V4 fixture, and on small compressed-tensors, ModelOpt and gpt-oss tensors.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "formats/hf/hf_folder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/pass/pass_manager.h"
#include "passes/fp4_to_bf16.h"
#include "passes/registry.h"
#include "tests/status_matchers.h"
#include "tests/testing/raw_safetensors.h"

namespace quantc {
namespace {
namespace fs = std::filesystem;
using ::quantc::testing::IsOk;
using ::quantc::testing::StatusIs;
using ::testing::HasSubstr;

constexpr double kE2M1[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};

double E4M3(uint8_t c) {
  const int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
  const double v = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  return s ? -v : v;
}

// The BF16 bits of a value that must be exact in BF16.
uint16_t ExactBf16(double v) {
  const float f = static_cast<float>(v);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  EXPECT_EQ(u & 0xFFFF, 0u) << v << " is not exact in BF16";
  return static_cast<uint16_t>(u >> 16);
}

// The BF16 values of [rows, cols] codes (element 2j low nibble) under per-group multipliers.
std::vector<uint16_t> Expected(const std::vector<uint8_t>& codes, int64_t rows, int64_t cols, int group,
                               const std::function<double(int64_t row, int64_t g)>& scale) {
  std::vector<uint16_t> out(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const uint8_t byte = codes[r * cols / 2 + c / 2];
      out[r * cols + c] = ExactBf16(kE2M1[c % 2 ? byte >> 4 : byte & 15] * scale(r, c / group));
    }
  }
  return out;
}

std::vector<uint16_t> Bf16Of(const TensorEntry& e) {
  auto bytes = ReadAll(*e.source, e.info.byte_size());
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  std::vector<uint16_t> v(e.info.num_elements());
  if (bytes.ok()) std::memcpy(v.data(), bytes->data(), bytes->size());
  return v;
}

TensorEntry Bytes(std::string name, DType dtype, Shape shape, std::vector<uint8_t> bytes) {
  return TensorEntry{.name = std::move(name), .info = {dtype, std::move(shape)},
                     .source = std::make_shared<OwnedTensorSource>(std::move(bytes)), .origin = "test"};
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed, int lo = 0, int hi = 255) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(d(rng));
  return v;
}

std::vector<uint8_t> F32Bytes(float f) {
  std::vector<uint8_t> b(4);
  std::memcpy(b.data(), &f, 4);
  return b;
}

absl::Status RunPass(Model& m) {
  PassManager pm;
  pm.Add(passes::CreateFp4ToBf16Pass());
  return pm.Run(m);
}

TEST(Fp4ToBf16, DeepSeekV4FixtureExpertsDecodeExactly) {
  const fs::path dir = fs::path(QUANTC_TESTDATA_DIR) / "tiny-deepseek-v3-fp4";
  auto raw = testing::ReadRawCheckpoint(dir);
  auto model = formats::ReadHfFolder(dir);
  ASSERT_THAT(model.status(), IsOk());
  ASSERT_THAT(RunPass(*model), IsOk());
  int experts = 0;
  for (const auto& [name, t] : raw) {
    if (t.dtype != "I8") continue;
    ++experts;
    const std::string base = name.substr(0, name.size() - 7);
    const testing::RawTensor& s = raw.at(base + ".scale");
    ASSERT_EQ(s.dtype, "F8_E8M0");
    const int64_t rows = t.shape[0], cols = t.shape[1] * 2;
    auto want = Expected(t.bytes, rows, cols, 32, [&](int64_t r, int64_t g) { return std::ldexp(1.0, s.bytes[r * (cols / 32) + g] - 127); });
    const TensorEntry* e = model->tensors.Find(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->info.dtype, DType::kBF16);
    EXPECT_EQ(e->info.shape, (Shape{rows, cols}));
    EXPECT_EQ(Bf16Of(*e), want) << name;
    EXPECT_EQ(model->tensors.Find(base + ".scale"), nullptr) << "scale kept: " << base;
  }
  EXPECT_EQ(experts, 48);
  // Block FP8 stays for fp8-to-bf16, with its E8M0 scales and V4's quantization_config.
  const TensorEntry* fp8 = model->tensors.Find("model.layers.0.mlp.down_proj.weight");
  ASSERT_NE(fp8, nullptr);
  EXPECT_EQ(fp8->info.dtype, DType::kF8E4M3);
  EXPECT_NE(model->tensors.Find("model.layers.0.mlp.down_proj.scale"), nullptr);
  EXPECT_TRUE(model->config.contains("quantization_config"));
  // The default dequantization runs both passes: nothing low-precision is left.
  auto again = formats::ReadHfFolder(dir);
  ASSERT_THAT(again.status(), IsOk());
  PassManager pm;
  for (auto& p : passes::DequantPassesFor(*again)) pm.Add(std::move(p));
  ASSERT_THAT(pm.Run(*again), IsOk());
  for (const TensorEntry& e : again->tensors.entries()) EXPECT_EQ(e.info.dtype, DType::kBF16) << e.name;
  EXPECT_FALSE(again->config.contains("quantization_config"));
}

// One [rows, cols] weight per layout, with scales that keep every value exact in BF16.
constexpr int64_t kRows = 6, kCols = 64;

TEST(Fp4ToBf16, CompressedTensorsMxfp4) {
  Model m;
  m.config["quantization_config"] = {{"quant_method", "compressed-tensors"}, {"format", "mxfp4-pack-quantized"}};
  auto codes = RandomBytes(kRows * kCols / 2, 1);
  auto scales = RandomBytes(kRows * kCols / 32, 2, 100, 140);
  ASSERT_THAT(m.tensors.Add(Bytes("l.weight_packed", DType::kU8, {kRows, kCols / 2}, codes)), IsOk());
  ASSERT_THAT(m.tensors.Add(Bytes("l.weight_scale", DType::kU8, {kRows, kCols / 32}, scales)), IsOk());
  ASSERT_THAT(RunPass(m), IsOk());
  ASSERT_EQ(m.tensors.size(), 1u);
  const TensorEntry& e = m.tensors.entries()[0];
  EXPECT_EQ(e.name, "l.weight");
  EXPECT_EQ(Bf16Of(e), Expected(codes, kRows, kCols, 32, [&](int64_t r, int64_t g) { return std::ldexp(1.0, scales[r * 2 + g] - 127); }));
  EXPECT_FALSE(m.config.contains("quantization_config"));
}

TEST(Fp4ToBf16, NvFp4GlobalScaleConventions) {
  // The same weight in ModelOpt's form (scale_2 multiplies) and compressed-tensors' (the global
  // scale divides): equal values. E4M3 scales in [0.5, 8) and a power-of-two global keep BF16 exact.
  auto codes = RandomBytes(kRows * kCols / 2, 3);
  auto scales = RandomBytes(kRows * kCols / 16, 4, 0x30, 0x4F);
  auto want = Expected(codes, kRows, kCols, 16, [&](int64_t r, int64_t g) { return E4M3(scales[r * 4 + g]) * 0.125; });
  Model modelopt;
  ASSERT_THAT(modelopt.tensors.Add(Bytes("l.weight", DType::kU8, {kRows, kCols / 2}, codes)), IsOk());
  ASSERT_THAT(modelopt.tensors.Add(Bytes("l.weight_scale", DType::kF8E4M3, {kRows, kCols / 16}, scales)), IsOk());
  ASSERT_THAT(modelopt.tensors.Add(Bytes("l.weight_scale_2", DType::kF32, {}, F32Bytes(0.125f))), IsOk());
  ASSERT_THAT(modelopt.tensors.Add(Bytes("l.input_scale", DType::kF32, {}, F32Bytes(0.5f))), IsOk());
  ASSERT_THAT(RunPass(modelopt), IsOk());
  ASSERT_EQ(modelopt.tensors.size(), 1u);
  EXPECT_EQ(Bf16Of(modelopt.tensors.entries()[0]), want);

  Model ct;
  ASSERT_THAT(ct.tensors.Add(Bytes("l.weight_packed", DType::kU8, {kRows, kCols / 2}, codes)), IsOk());
  ASSERT_THAT(ct.tensors.Add(Bytes("l.weight_scale", DType::kF8E4M3, {kRows, kCols / 16}, scales)), IsOk());
  ASSERT_THAT(ct.tensors.Add(Bytes("l.weight_global_scale", DType::kF32, {1}, F32Bytes(8.0f))), IsOk());
  ASSERT_THAT(RunPass(ct), IsOk());
  ASSERT_EQ(ct.tensors.size(), 1u);
  EXPECT_EQ(ct.tensors.entries()[0].name, "l.weight");
  EXPECT_EQ(Bf16Of(ct.tensors.entries()[0]), want);
}

TEST(Fp4ToBf16, GptOssBlocksBecomeTransposedExperts) {
  constexpr int64_t kExperts = 2, kOut = 3, kGroups = 2;  // in = 64
  auto blocks = RandomBytes(kExperts * kOut * kGroups * 16, 5);
  auto scales = RandomBytes(kExperts * kOut * kGroups, 6, 110, 130);
  Model m;
  ASSERT_THAT(m.tensors.Add(Bytes("e.gate_up_proj_blocks", DType::kU8, {kExperts, kOut, kGroups, 16}, blocks)), IsOk());
  ASSERT_THAT(m.tensors.Add(Bytes("e.gate_up_proj_scales", DType::kU8, {kExperts, kOut, kGroups}, scales)), IsOk());
  ASSERT_THAT(RunPass(m), IsOk());
  ASSERT_EQ(m.tensors.size(), 1u);
  const TensorEntry& e = m.tensors.entries()[0];
  EXPECT_EQ(e.name, "e.gate_up_proj");
  EXPECT_EQ(e.info.shape, (Shape{kExperts, kGroups * 32, kOut}));
  auto rows = Expected(blocks, kExperts * kOut, kGroups * 32, 32, [&](int64_t r, int64_t g) { return std::ldexp(1.0, scales[r * kGroups + g] - 127); });
  std::vector<uint16_t> want(rows.size());
  for (int64_t x = 0; x < kExperts; ++x)
    for (int64_t o = 0; o < kOut; ++o)
      for (int64_t i = 0; i < kGroups * 32; ++i) want[(x * kGroups * 32 + i) * kOut + o] = rows[(x * kOut + o) * kGroups * 32 + i];
  EXPECT_EQ(Bf16Of(e), want);
}

TEST(Fp4ToBf16, BadInputsNameTheTensor) {
  {
    Model m;  // E8M0 NaN
    auto scales = std::vector<uint8_t>(kRows * kCols / 32, 127);
    scales[5] = 0xFF;
    ASSERT_THAT(m.tensors.Add(Bytes("l.weight", DType::kI8, {kRows, kCols / 2}, RandomBytes(kRows * kCols / 2, 7))), IsOk());
    ASSERT_THAT(m.tensors.Add(Bytes("l.scale", DType::kF8E8M0, {kRows, kCols / 32}, scales)), IsOk());
    EXPECT_THAT(RunPass(m), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'l.scale' (test) holds a NaN scale (byte 0xFF) at index 5")));
  }
  {
    Model m;  // scale grid of the wrong shape
    ASSERT_THAT(m.tensors.Add(Bytes("l.weight", DType::kI8, {kRows, kCols / 2}, RandomBytes(kRows * kCols / 2, 7))), IsOk());
    ASSERT_THAT(m.tensors.Add(Bytes("l.scale", DType::kF8E8M0, {kRows, 3}, std::vector<uint8_t>(kRows * 3, 127))), IsOk());
    EXPECT_THAT(RunPass(m), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'l.scale' (test) has shape [6, 3]")));
  }
  {
    Model m;  // NVFP4 without its global scale
    ASSERT_THAT(m.tensors.Add(Bytes("l.weight_packed", DType::kU8, {kRows, kCols / 2}, RandomBytes(kRows * kCols / 2, 7))), IsOk());
    ASSERT_THAT(m.tensors.Add(Bytes("l.weight_scale", DType::kF8E4M3, {kRows, kCols / 16}, std::vector<uint8_t>(kRows * 4, 0x38))), IsOk());
    EXPECT_THAT(RunPass(m), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'l.weight' has no global scale")));
  }
}

}  // namespace
}  // namespace quantc
