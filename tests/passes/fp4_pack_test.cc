// fp4-pack against bytes quantc did not make: tiny-deepseek-v3-fp4's routed experts were packed from
// tiny-deepseek-v3-bf16 by tools/goldens/make_fp4_fixture.py (numpy, DeepSeek's round-up rule), so
// fp4-pack with its defaults must write the same codes and scale bytes. Round trips FP4 -> BF16 ->
// FP4 on that fixture under every rule; compressed-tensors config; GGUF MXFP4 blocks.
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "formats/hf/hf_folder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/dtypes/float_convert.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/pass/pass_manager.h"
#include "lib/pass/pipeline.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/registry.h"
#include "tests/status_matchers.h"
#include "tests/testing/raw_safetensors.h"

namespace quantc {
namespace {
namespace fs = std::filesystem;
using ::quantc::testing::IsOk;
using ::quantc::testing::StatusIs;
using ::testing::HasSubstr;

const fs::path kData = QUANTC_TESTDATA_DIR;

absl::StatusOr<Model> RunPipeline(const fs::path& dir, std::string_view pipeline) {
  QC_ASSIGN_OR_RETURN(Model m, formats::ReadHfFolder(dir));
  QC_ASSIGN_OR_RETURN(auto passes, ParsePipeline(pipeline, passes::Registry()));
  PassManager pm;
  for (auto& p : passes) pm.Add(std::move(p));
  QC_RETURN_IF_ERROR(pm.Run(m));
  return m;
}

std::vector<uint8_t> BytesOf(const Model& m, const std::string& name) {
  const TensorEntry* e = m.tensors.Find(name);
  EXPECT_NE(e, nullptr) << name;
  if (e == nullptr) return {};
  auto b = ReadAll(*e->source, e->info.byte_size());
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : std::vector<uint8_t>{};
}

std::vector<std::string> ExpertWeights(const Model& m) {
  std::vector<std::string> names;
  for (const TensorEntry& e : m.tensors.entries()) {
    if (e.name.find(".mlp.experts.") != std::string::npos && e.name.ends_with(".weight")) names.push_back(e.name);
  }
  return names;
}

std::string ScaleName(const std::string& weight) { return weight.substr(0, weight.size() - 7) + ".scale"; }

TEST(Fp4Pack, DefaultsReproduceDeepSeekRuleBytesMadeByTheFixtureScript) {
  auto fixture = testing::ReadRawCheckpoint(kData / "tiny-deepseek-v3-fp4");
  auto v4 = RunPipeline(kData / "tiny-deepseek-v3-bf16", "fp4-pack(layout=deepseek-v4)");
  ASSERT_THAT(v4.status(), IsOk());
  auto ct = RunPipeline(kData / "tiny-deepseek-v3-bf16", "fp4-pack");
  ASSERT_THAT(ct.status(), IsOk());
  const auto experts = ExpertWeights(*v4);
  ASSERT_EQ(experts.size(), 48u);
  for (const std::string& w : experts) {
    EXPECT_EQ(v4->tensors.Find(w)->info.dtype, DType::kI8);
    EXPECT_EQ(BytesOf(*v4, w), fixture.at(w).bytes) << w;
    EXPECT_EQ(BytesOf(*v4, ScaleName(w)), fixture.at(ScaleName(w)).bytes) << w;
    // compressed-tensors: the same bytes under its names, U8.
    EXPECT_EQ(BytesOf(*ct, w + "_packed"), fixture.at(w).bytes) << w;
    EXPECT_EQ(BytesOf(*ct, w + "_scale"), fixture.at(ScaleName(w)).bytes) << w;
  }
  EXPECT_EQ(v4->tensors.Find("model.layers.0.mlp.down_proj.weight")->info.dtype, DType::kBF16);  // not an expert
  const auto& qc = ct->config["quantization_config"];
  EXPECT_EQ(qc["quant_method"], "compressed-tensors");
  EXPECT_EQ(qc["format"], "mxfp4-pack-quantized");
  EXPECT_EQ(qc["config_groups"]["group_0"]["weights"]["group_size"], 32);
  EXPECT_EQ(qc["config_groups"]["group_0"]["targets"].size(), 48u);
  EXPECT_FALSE(v4->config.contains("quantization_config"));
}

// FP4 -> BF16 -> FP4 per rule: the dequantized values must come back exactly (checked here);
// `changed_tensors` counts the experts whose codes or scale bytes did not.
struct RoundTrip {
  std::string rule;
  int changed_tensors = 0;
};

RoundTrip RePack(std::string_view rule, const fs::path& from, const std::string& pipeline_prefix) {
  RoundTrip r{std::string(rule)};
  auto packed = RunPipeline(from, StrCat(pipeline_prefix, "fp4-pack(layout=deepseek-v4,rule=", rule, ")"));
  EXPECT_THAT(packed.status(), IsOk());
  auto again = RunPipeline(from, StrCat(pipeline_prefix, "fp4-pack(layout=deepseek-v4,rule=", rule, "),fp4-to-bf16,fp4-pack(layout=deepseek-v4,rule=", rule, ")"));
  EXPECT_THAT(again.status(), IsOk());
  auto values = RunPipeline(from, StrCat(pipeline_prefix, "fp4-pack(layout=deepseek-v4,rule=", rule, "),fp4-to-bf16"));
  auto values_again = RunPipeline(from, StrCat(pipeline_prefix, "fp4-pack(layout=deepseek-v4,rule=", rule, "),fp4-to-bf16,fp4-pack(layout=deepseek-v4,rule=", rule, "),fp4-to-bf16"));
  EXPECT_TRUE(values.ok() && values_again.ok());
  if (!packed.ok() || !again.ok() || !values.ok() || !values_again.ok()) return r;
  for (const std::string& w : ExpertWeights(*packed)) {
    EXPECT_EQ(BytesOf(*values, w), BytesOf(*values_again, w)) << rule << ": values of " << w;
    if (BytesOf(*packed, w) != BytesOf(*again, w) || BytesOf(*packed, ScaleName(w)) != BytesOf(*again, ScaleName(w))) {
      ++r.changed_tensors;
    }
  }
  return r;
}

TEST(Fp4Pack, RoundTripKeepsValuesUnderEveryRuleAndBytesUnderReference) {
  // tiny-deepseek-v3-bf16's experts packed, dequantized and packed again with the same rule.
  const fs::path bf16 = kData / "tiny-deepseek-v3-bf16";
  EXPECT_EQ(RePack("reference", bf16, "").changed_tensors, 0);  // OCP's floor rule: a fixed point
  RePack("mse", bf16, "");                                      // values only
  // DeepSeek's round-up rule is not idempotent: a block whose largest value comes back as 3·2^k is
  // re-encoded as 6·2^(k-1) (same values, other bytes).
  EXPECT_GT(RePack("ceil", bf16, "").changed_tensors, 0);
}

// A stacked GGUF MXFP4 tensor decoded by ggml's reference dequantizer (tested against llama.cpp's).
std::vector<float> GgmlMxfp4Values(const Model& m, const std::string& name) {
  const std::vector<uint8_t> bytes = BytesOf(m, name);
  const TensorEntry* e = m.tensors.Find(name);
  EXPECT_EQ(e->info.dtype, DType::kMXFP4) << name;
  std::vector<float> v(e->info.num_elements());
  kernels::ggml_quants::Reference(DType::kMXFP4).dequantize(bytes.data(), v.data(), static_cast<int64_t>(v.size()));
  return v;
}

std::vector<float> Bf16Values(const Model& m, const std::string& name) {
  const std::vector<uint8_t> bytes = BytesOf(m, name);
  std::vector<float> v(bytes.size() / 2);
  for (size_t i = 0; i < v.size(); ++i) v[i] = BF16ToF32(static_cast<uint16_t>(bytes[2 * i] | bytes[2 * i + 1] << 8));
  return v;
}

TEST(Fp4Pack, GgufMxfp4CarriesTheSameValues) {
  // The fixture's FP4 experts as BF16 (exact), per expert; GGUF stacks them per layer.
  auto fixture = RunPipeline(kData / "tiny-deepseek-v3-fp4", "fp8-to-bf16,fp4-to-bf16");
  // fp4-pack in GGUF layout (the same rule as the fixture's script) ...
  auto packed = RunPipeline(kData / "tiny-deepseek-v3-bf16", "gguf-layout,fp4-pack");
  // ... and the fixture's values through llama-quantize's MXFP4_MOE (ggml's floor rule keeps them).
  auto carried = RunPipeline(kData / "tiny-deepseek-v3-fp4", "fp8-to-bf16,fp4-to-bf16,gguf-layout,quantize(type=MXFP4_MOE)");
  ASSERT_THAT(fixture.status(), IsOk());
  ASSERT_THAT(packed.status(), IsOk());
  ASSERT_THAT(carried.status(), IsOk());
  for (int layer : {1, 2}) {
    for (const auto& [gguf, hf] : {std::pair{"gate", "gate_proj"}, std::pair{"up", "up_proj"}, std::pair{"down", "down_proj"}}) {
      const std::string name = StrCat("blk.", layer, ".ffn_", gguf, "_exps.weight");
      std::vector<float> want;
      for (int x = 0; x < 8; ++x) {
        auto v = Bf16Values(*fixture, StrCat("model.layers.", layer, ".mlp.experts.", x, ".", hf, ".weight"));
        want.insert(want.end(), v.begin(), v.end());
      }
      EXPECT_EQ(GgmlMxfp4Values(*packed, name), want) << name;
      EXPECT_EQ(GgmlMxfp4Values(*carried, name), want) << name;
    }
  }
}

TEST(Fp4Pack, NvFp4CompressedTensors) {
  auto m = RunPipeline(kData / "tiny-deepseek-v3-bf16", "fp4-pack(format=nvfp4,rule=mse)");
  ASSERT_THAT(m.status(), IsOk());
  const std::string w = "model.layers.1.mlp.experts.3.up_proj.weight";
  const TensorEntry* scale = m->tensors.Find(w + "_scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(scale->info.dtype, DType::kF8E4M3);
  EXPECT_EQ(scale->info.shape, (Shape{128, 16}));
  auto global = BytesOf(*m, w + "_global_scale");
  ASSERT_EQ(global.size(), 4u);
  float g;
  std::memcpy(&g, global.data(), 4);
  EXPECT_GT(g, 1000.0f);  // compressed-tensors stores 448·6 / amax (a divisor)
  EXPECT_EQ(m->config["quantization_config"]["config_groups"]["group_0"]["weights"]["strategy"], "tensor_group");
}

TEST(Fp4Pack, BadOptionsAndInputs) {
  EXPECT_THAT(RunPipeline(kData / "tiny-deepseek-v3-bf16", "fp4-pack(format=fp4)").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("format='fp4': expected mxfp4 or nvfp4")));
  EXPECT_THAT(RunPipeline(kData / "tiny-deepseek-v3-bf16", "fp4-pack(rule=round)").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("round")));
  EXPECT_THAT(RunPipeline(kData / "tiny-deepseek-v3-bf16", "fp4-pack(format=nvfp4,layout=deepseek-v4)").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("MXFP4 only")));
  EXPECT_THAT(RunPipeline(kData / "tiny-qwen2-bf16", "fp4-pack").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("selects no weight")));
  EXPECT_THAT(RunPipeline(kData / "tiny-deepseek-v3-fp8", "fp4-pack").status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already has quantization_config")));
}

}  // namespace
}  // namespace quantc
