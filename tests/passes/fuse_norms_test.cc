// fuse-norms keeps the function: on every BF16 fixture (and tiny-llama with a tied head) the
// runner's logits after fuse-norms, stored in F32, equal the original's within 1e-4 of the largest
// logit; every norm is ones; a tied head is untied and the pass says so; FP8 is refused. (The
// rotate tests are in rotate_test.cc.)
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "gtest/gtest.h"
#include "lib/pass/pass_manager.h"
#include "lib/runner/runner.h"
#include "passes/fuse_norms.h"
#include "tests/testing/model_logits.h"

namespace quantc::passes {
namespace {
namespace fs = std::filesystem;

using testing::GoldenPrompt;
using testing::RelativeDiff;

void ExpectFunctionKept(Model original, const std::vector<int32_t>& prompt, const std::string& label,
                        bool expect_untie_note) {
  const std::vector<float> want = testing::ModelLogits(original, prompt);
  PassManager pm;
  pm.Add(CreateFuseNormsPass({.f32 = true}));
  ASSERT_TRUE(pm.Run(original).ok()) << label;
  const std::vector<float> got = testing::ModelLogits(original, prompt);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LT(RelativeDiff(got, want), 1e-4) << label;
  for (const TensorEntry& e : original.tensors.entries()) {
    if (e.name.find("norm") == std::string::npos) continue;
    auto v = ReadAllAsF32(*e.source, e.info);
    ASSERT_TRUE(v.ok());
    for (float x : *v) ASSERT_EQ(x, 1.0f) << e.name;
  }
  const bool noted = std::any_of(pm.notes().begin(), pm.notes().end(),
                                 [](const std::string& n) { return n.find("untied") != std::string::npos; });
  EXPECT_EQ(noted, expect_untie_note) << label;
}

class FuseNormsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FuseNormsTest, LogitsUnchanged) {
  const fs::path dir = fs::path(QUANTC_TESTDATA_DIR) / GetParam();
  auto model = formats::ReadHfFolder(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectFunctionKept(std::move(*model), GoldenPrompt(dir), GetParam(), false);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FuseNormsTest,
                         ::testing::Values("tiny-qwen2-bf16", "tiny-llama-bf16", "tiny-deepseek-v3-bf16"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(FuseNorms, UntiesATiedHead) {
  const fs::path dir = fs::path(QUANTC_TESTDATA_DIR) / "tiny-llama-bf16";
  auto model = formats::ReadHfFolder(dir);
  ASSERT_TRUE(model.ok());
  model->tensors.RemoveIf([](const TensorEntry& e) { return e.name == "lm_head.weight"; });
  model->config["tie_word_embeddings"] = true;
  ExpectFunctionKept(std::move(*model), GoldenPrompt(dir), "tied tiny-llama", true);
}

TEST(FuseNorms, RefusesFp8) {
  auto model = formats::ReadHfFolder(fs::path(QUANTC_TESTDATA_DIR) / "tiny-qwen2-fp8");
  ASSERT_TRUE(model.ok());
  PassManager pm;
  pm.Add(CreateFuseNormsPass());
  absl::Status s = pm.Run(*model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("fp8-to-bf16"), std::string::npos) << s;
}

}  // namespace
}  // namespace quantc::passes
