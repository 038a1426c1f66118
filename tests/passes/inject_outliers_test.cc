// inject-outliers keeps the function: on tiny-qwen2-bf16 and tiny-llama-bf16 the runner's logits
// on the variant equal the original's within 1e-4 of the largest logit; the chosen norm entries
// (c_k = floor((2k+1)·hidden/(2·channels))) are exactly ×20 and the others unchanged; a reading
// linear's chosen columns are ÷20 and its other columns unchanged; a tied head is untied with a
// note; deepseek_v3 and FP8 are refused.
#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "gtest/gtest.h"
#include "lib/pass/pass_manager.h"
#include "passes/inject_outliers.h"
#include "tests/testing/model_logits.h"

namespace quantc::passes {
namespace {
namespace fs = std::filesystem;

class InjectOutliersTest : public ::testing::TestWithParam<std::string> {};

TEST_P(InjectOutliersTest, SameLogitsAndScaledChannels) {
  const fs::path dir = fs::path(QUANTC_TESTDATA_DIR) / GetParam();
  auto original = formats::ReadHfFolder(dir);
  ASSERT_TRUE(original.ok()) << original.status();
  auto variant = formats::ReadHfFolder(dir);
  ASSERT_TRUE(variant.ok());
  PassManager pm;
  pm.Add(CreateInjectOutliersPass());  // channels=8, factor=20
  ASSERT_TRUE(pm.Run(*variant).ok());

  const std::vector<int32_t> prompt = testing::GoldenPrompt(dir);
  const std::vector<float> want = testing::ModelLogits(*original, prompt);
  const std::vector<float> got = testing::ModelLogits(*variant, prompt);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LT(testing::RelativeDiff(got, want), 1e-4);

  const int64_t hidden = original->config["hidden_size"].get<int64_t>();
  std::set<int64_t> chosen;
  for (int64_t k = 0; k < 8; ++k) chosen.insert((2 * k + 1) * hidden / 16);
  ASSERT_EQ(chosen.size(), 8u);
  for (const std::string norm : {"model.layers.0.input_layernorm.weight", "model.layers.1.post_attention_layernorm.weight",
                                 "model.norm.weight"}) {
    const std::vector<float> a = testing::TensorValues(*original, norm), b = testing::TensorValues(*variant, norm);
    ASSERT_EQ(a.size(), static_cast<size_t>(hidden));
    for (int64_t c = 0; c < hidden; ++c) ASSERT_EQ(b[c], chosen.contains(c) ? 20 * a[c] : a[c]) << norm << " " << c;
  }
  for (const std::string linear : {"model.layers.0.self_attn.k_proj.weight", "model.layers.1.mlp.up_proj.weight",
                                   "lm_head.weight"}) {
    const std::vector<float> a = testing::TensorValues(*original, linear), b = testing::TensorValues(*variant, linear);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      const int64_t c = static_cast<int64_t>(i) % hidden;
      ASSERT_FLOAT_EQ(b[i], chosen.contains(c) ? a[i] / 20 : a[i]) << linear << " " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, InjectOutliersTest, ::testing::Values("tiny-qwen2-bf16", "tiny-llama-bf16"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(InjectOutliers, UntiesATiedHead) {
  const fs::path dir = fs::path(QUANTC_TESTDATA_DIR) / "tiny-llama-bf16";
  auto model = formats::ReadHfFolder(dir);
  ASSERT_TRUE(model.ok());
  model->tensors.RemoveIf([](const TensorEntry& e) { return e.name == "lm_head.weight"; });
  model->config["tie_word_embeddings"] = true;
  const std::vector<int32_t> prompt = testing::GoldenPrompt(dir);
  const std::vector<float> want = testing::ModelLogits(*model, prompt);
  PassManager pm;
  pm.Add(CreateInjectOutliersPass());
  ASSERT_TRUE(pm.Run(*model).ok());
  EXPECT_LT(testing::RelativeDiff(testing::ModelLogits(*model, prompt), want), 1e-4);
  EXPECT_EQ(testing::TensorValues(*model, "model.embed_tokens.weight").size(), testing::TensorValues(*model, "lm_head.weight").size());
  EXPECT_TRUE(std::any_of(pm.notes().begin(), pm.notes().end(),
                          [](const std::string& n) { return n.find("untied lm_head.weight") != std::string::npos; }));
}

TEST(InjectOutliers, RefusesOtherArchitecturesAndFp8) {
  auto deepseek = formats::ReadHfFolder(fs::path(QUANTC_TESTDATA_DIR) / "tiny-deepseek-v3-bf16");
  ASSERT_TRUE(deepseek.ok());
  PassManager pm;
  pm.Add(CreateInjectOutliersPass());
  absl::Status s = pm.Run(*deepseek);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_NE(std::string(s.message()).find("deepseek_v3"), std::string::npos) << s;

  auto fp8 = formats::ReadHfFolder(fs::path(QUANTC_TESTDATA_DIR) / "tiny-qwen2-fp8");
  ASSERT_TRUE(fp8.ok());
  s = pm.Run(*fp8);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(std::string(s.message()).find("fp8-to-bf16"), std::string::npos) << s;
}

}  // namespace
}  // namespace quantc::passes
