// fp8-to-bf16 on the three FP8 fixtures, checked tensor by tensor against an expectation the test
// computes itself from the raw bytes (its own header parser, its own E4M3 decoding by formula, its
// own round-to-nearest-even to BF16 by comparing distances in double) — not with quantc's kernels.
#include <cmath>
#include <filesystem>
#include <string>

#include "formats/hf/hf_folder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/pass/pass_manager.h"
#include "lib/pass/pipeline.h"
#include "passes/fp8_to_bf16.h"
#include "passes/registry.h"
#include "tests/status_matchers.h"
#include "tests/testing/raw_safetensors.h"

namespace quantc {
namespace {
namespace fs = std::filesystem;
using ::quantc::testing::IsOk;
using ::quantc::testing::RawTensor;
using ::quantc::testing::StatusIs;
using ::testing::HasSubstr;

// E4M3FN by its definition: (-1)^s * 2^(e-7) * (1 + m/8), subnormal 2^-6 * m/8.
double DecodeE4M3(uint8_t code) {
  int s = code >> 7, e = (code >> 3) & 15, m = code & 7;
  if (e == 15 && m == 7) return NAN;
  double v = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  return s ? -v : v;
}

double Bf16Value(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Nearest BF16 to a finite float, ties to the even code, found by comparing the two neighbours.
uint16_t NearestBf16(float x) {
  if (std::isnan(x)) return 0x7FC0;
  uint32_t u;
  std::memcpy(&u, &x, 4);
  uint16_t lo = static_cast<uint16_t>(u >> 16);  // truncation toward zero in magnitude
  uint16_t hi = static_cast<uint16_t>(lo + 1);
  double dlo = std::fabs(static_cast<double>(x) - Bf16Value(lo));
  double dhi = std::fabs(static_cast<double>(x) - Bf16Value(hi));
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1) ? hi : lo;
}

std::vector<uint8_t> ExpectedBf16(const RawTensor& w, const RawTensor& s, int block) {
  int64_t rows = w.shape[0], cols = w.shape[1], scols = s.shape[1];
  std::vector<uint8_t> out(rows * cols * 2);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      float scale;
      std::memcpy(&scale, s.bytes.data() + 4 * ((i / block) * scols + j / block), 4);
      float product = static_cast<float>(DecodeE4M3(w.bytes[i * cols + j])) * scale;  // f32 multiply
      uint16_t b = NearestBf16(product);
      std::memcpy(out.data() + 2 * (i * cols + j), &b, 2);
    }
  }
  return out;
}

absl::Status Convert(const fs::path& in, const fs::path& out) {
  auto model = formats::ReadHfFolder(in);
  if (!model.ok()) return model.status();
  PassManager pm;
  pm.Add(passes::CreateFp8ToBf16Pass());
  if (absl::Status s = pm.Run(*model); !s.ok()) return s;
  fs::create_directories(out);
  return formats::WriteHfFolder(*model, out, {});
}

class Fp8FixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Fp8FixtureTest, MatchesIndependentDequantizationByteForByte) {
  fs::path in = fs::path(QUANTC_TESTDATA_DIR) / GetParam();
  fs::path out = fs::path(::testing::TempDir()) / ("fp8_" + GetParam());
  fs::remove_all(out);
  ASSERT_THAT(Convert(in, out), IsOk());

  auto src = testing::ReadRawCheckpoint(in);
  auto dst = testing::ReadRawCheckpoint(out);
  int converted = 0, copied = 0;
  for (const auto& [name, t] : src) {
    if (name.ends_with("_scale_inv")) {
      EXPECT_FALSE(dst.contains(name)) << name << " should be dropped";
      continue;
    }
    ASSERT_TRUE(dst.contains(name)) << name;
    const RawTensor& got = dst.at(name);
    EXPECT_EQ(got.shape, t.shape) << name;
    if (t.dtype == "F8_E4M3") {
      EXPECT_EQ(got.dtype, "BF16") << name;
      const RawTensor& scale = src.at(name + "_scale_inv");
      EXPECT_TRUE(got.bytes == ExpectedBf16(t, scale, 128)) << name;
      ++converted;
    } else {
      EXPECT_EQ(got.dtype, t.dtype) << name;
      EXPECT_TRUE(got.bytes == t.bytes) << name << " must be copied unchanged";
      ++copied;
    }
  }
  EXPECT_GT(converted, 10);
  EXPECT_GT(copied, 5);
  for (const auto& [name, t] : dst) EXPECT_TRUE(src.contains(name)) << "unexpected output tensor " << name;

  // config.json: the input's, key order kept, less quantization_config, saying bfloat16.
  std::ifstream cfg(out / "config.json"), cfg_in(in / "config.json");
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(cfg);
  nlohmann::ordered_json expected_config = nlohmann::ordered_json::parse(cfg_in);
  expected_config.erase("quantization_config");
  expected_config["torch_dtype"] = "bfloat16";
  if (expected_config.contains("dtype")) expected_config["dtype"] = "bfloat16";
  EXPECT_EQ(config, expected_config);
  EXPECT_FALSE(config.contains("quantization_config"));
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  EXPECT_FALSE(fs::exists(out / "golden.safetensors")) << "test goldens are not model files";

  nlohmann::json meta;
  std::ifstream idx(out / "model.safetensors.index.json");
  nlohmann::json index = nlohmann::json::parse(idx);
  uint64_t total = 0;
  for (const auto& [name, t] : dst) total += t.bytes.size();
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), total);
  testing::ReadRawSafetensors(out / index["weight_map"].begin()->get<std::string>(), &meta);
  EXPECT_EQ(meta["format"], "pt");
  EXPECT_EQ(meta["quantc.pipeline"], "fp8-to-bf16");
  EXPECT_TRUE(meta.contains("quantc.version"));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Fp8FixtureTest,
                         ::testing::Values("tiny-qwen2-fp8", "tiny-llama-fp8", "tiny-deepseek-v3-fp8"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// A model built in memory: one FP8 weight [rows, cols] and whatever scale the test gives it.
Model SmallFp8Model(int64_t rows, int64_t cols, const std::string& scale_name, DType scale_dtype, Shape scale_shape) {
  Model m;
  m.config = {{"model_type", "test"}, {"quantization_config", {{"weight_block_size", {128, 128}}}}};
  std::vector<uint8_t> q(rows * cols);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<uint8_t>((i * 37) & 0x7E);
  (void)m.tensors.Add({"w.weight", {DType::kF8E4M3, {rows, cols}}, std::make_shared<OwnedTensorSource>(q), "mem"});
  if (!scale_name.empty()) {
    TensorInfo info{scale_dtype, scale_shape};
    std::vector<uint8_t> s(info.byte_size(), 0);
    if (scale_dtype == DType::kF8E8M0) std::fill(s.begin(), s.end(), 127 + 3);  // 2^3
    if (scale_dtype == DType::kF32) {
      for (size_t i = 0; i + 3 < s.size(); i += 4) s[i + 3] = 0x41;  // 8.0f = 0x41000000
    }
    (void)m.tensors.Add({scale_name, info, std::make_shared<OwnedTensorSource>(s), "mem"});
  }
  return m;
}

absl::Status RunPass(Model& m) {
  PassManager pm;
  pm.Add(passes::CreateFp8ToBf16Pass());
  return pm.Run(m);
}

TEST(Fp8ToBf16, MissingScaleIsAnErrorNamingTheTensor) {
  Model m = SmallFp8Model(4, 8, "", DType::kF32, {});
  EXPECT_THAT(RunPass(m), StatusIs(absl::StatusCode::kInvalidArgument,
                                   AllOf(HasSubstr("fp8-to-bf16"), HasSubstr("'w.weight'"), HasSubstr("no scale"))));
}

TEST(Fp8ToBf16, WrongScaleShapeIsAnError) {
  Model m = SmallFp8Model(300, 8, "w.weight_scale_inv", DType::kF32, {2, 1});
  EXPECT_THAT(RunPass(m), StatusIs(absl::StatusCode::kInvalidArgument,
                                   AllOf(HasSubstr("w.weight_scale_inv"), HasSubstr("[3, 1]"))));
}

// DeepSeek-V4 stores dense FP8 scales as F8_E8M0 tensors named "<base>.scale".
TEST(Fp8ToBf16, ReadsV4E8M0Scales) {
  Model v4 = SmallFp8Model(130, 140, "w.scale", DType::kF8E8M0, {2, 2});
  Model v3 = SmallFp8Model(130, 140, "w.weight_scale_inv", DType::kF32, {2, 2});
  ASSERT_THAT(RunPass(v4), IsOk());
  ASSERT_THAT(RunPass(v3), IsOk());
  ASSERT_EQ(v4.tensors.size(), 1u);
  EXPECT_EQ(v4.tensors.entries()[0].info.dtype, DType::kBF16);
  auto a = ReadAll(*v4.tensors.entries()[0].source, 130 * 140 * 2);
  auto b = ReadAll(*v3.tensors.entries()[0].source, 130 * 140 * 2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b) << "2^(130-127) as E8M0 must equal 8.0f as F32";
}

TEST(Fp8ToBf16, PipelineTextRoundTrips) {
  auto parsed = ParsePipeline("fp8-to-bf16", passes::Registry());
  ASSERT_THAT(parsed.status(), IsOk());
  EXPECT_EQ(PrintPass(*(*parsed)[0]), "fp8-to-bf16");
}

}  // namespace
}  // namespace quantc
