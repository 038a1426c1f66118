// rotate keeps the function: on every BF16 fixture, fuse-norms then rotate, both storing F32, with
// R1 alone (seeded ±1 diagonal), r2, block=32, block=16, r4 and all of them together: the runner's
// logits (it applies r4's online Hadamard from config.json) equal the original's within 1e-4 of the
// largest logit, and each option really changed the tensors it owns (so a no-op would fail). r4
// writes quantc.online_hadamard with every down projection's width; gguf-layout and a second r4
// refuse such a model; bad blocks, unbuildable sizes and norms that are not ones are errors.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "gtest/gtest.h"
#include "lib/pass/pass_manager.h"
#include "passes/fuse_norms.h"
#include "passes/gguf_layout.h"
#include "passes/int_quant.h"
#include "passes/rotate.h"
#include "passes/util/pack_quantized.h"
#include "passes/util/tensor_sources.h"
#include "tests/status_matchers.h"
#include "tests/testing/model_logits.h"

namespace quantc::passes {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::StatusIs;

struct Fixture {
  std::string dir;
  std::string r4_sizes;  // config.json quantc.online_hadamard.down_proj that r4 must write
};

void PrintTo(const Fixture& f, std::ostream* os) { *os << f.dir; }

struct Variant {
  std::string label;
  RotateOptions options;
  std::vector<std::string> owned;  // tensors that must differ from R1 alone
};

absl::StatusOr<Model> Read(const std::string& fixture) { return formats::ReadHfFolder(fs::path(QUANTC_TESTDATA_DIR) / fixture); }

// fuse-norms(f32), then rotate(options) with f32 set.
absl::Status Rotate(Model& model, RotateOptions options) {
  options.f32 = true;
  PassManager pm;
  pm.Add(CreateFuseNormsPass({.f32 = true}));
  pm.Add(CreateRotatePass(options));
  return pm.Run(model);
}

class RotateTest : public ::testing::TestWithParam<Fixture> {};

TEST_P(RotateTest, EveryOptionKeepsLogits) {
  const Fixture& f = GetParam();
  const bool mla = f.dir.find("deepseek") != std::string::npos;
  const std::string l0 = "model.layers.0.", values = l0 + (mla ? "self_attn.kv_b_proj.weight" : "self_attn.v_proj.weight");
  const std::string o = l0 + "self_attn.o_proj.weight", down = l0 + "mlp.down_proj.weight";
  const std::vector<Variant> variants = {
      {"r1", {.seed = 7}, {}},
      {"r2", {.seed = 7, .r2 = true}, {values, o}},
      {"block=32", {.seed = 7, .block = 32}, {"model.embed_tokens.weight", o, down}},
      {"block=16", {.seed = 7, .block = 16}, {"model.embed_tokens.weight", o, down}},
      {"r4", {.seed = 7, .r4 = true}, {down}},
      {"r2,r4,block=32", {.seed = 7, .block = 32, .r2 = true, .r4 = true}, {values, o, down}},
  };
  auto original = Read(f.dir);
  ASSERT_TRUE(original.ok()) << original.status();
  std::vector<int32_t> prompt = testing::GoldenPrompt(fs::path(QUANTC_TESTDATA_DIR) / f.dir);
  prompt.resize(16);  // short: the suite runs on 2 cores
  const std::vector<float> want = testing::ModelLogits(*original, prompt);
  auto r1 = Read(f.dir);
  ASSERT_TRUE(r1.ok());
  ASSERT_TRUE(Rotate(*r1, {.seed = 7}).ok());

  for (const Variant& v : variants) {
    SCOPED_TRACE(f.dir + " rotate(" + v.label + ")");
    auto model = Read(f.dir);
    ASSERT_TRUE(model.ok());
    const absl::Status s = Rotate(*model, v.options);
    ASSERT_TRUE(s.ok()) << s;
    const std::vector<float> got = testing::ModelLogits(*model, prompt);
    ASSERT_EQ(got.size(), want.size());
    const double diff = testing::RelativeDiff(got, want);
    std::printf("%s rotate(%s): max |logit change| / max |logit| = %.3g\n", f.dir.c_str(), v.label.c_str(), diff);
    EXPECT_LT(diff, 1e-4);
    for (const std::string& t : v.owned) EXPECT_NE(testing::TensorValues(*model, t), testing::TensorValues(*r1, t)) << t << " unchanged by " << v.label;
    const bool online = model->config.contains("quantc");
    EXPECT_EQ(online, v.options.r4);
    if (online) {
      EXPECT_EQ(model->config["quantc"]["online_hadamard"]["down_proj"].dump(), f.r4_sizes);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RotateTest,
                         ::testing::Values(Fixture{"tiny-qwen2-bf16", R"({"size":1120})"},
                                           Fixture{"tiny-llama-bf16", R"({"size":768})"},
                                           Fixture{"tiny-deepseek-v3-bf16",
                                                   R"({"size":640,"expert_size":128,"shared_expert_size":128})"}),
                         [](const auto& info) {
                           std::string s = info.param.dir;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(Rotate, GgufLayoutRefusesTheOnlineHadamard) {
  auto model = Read("tiny-llama-bf16");
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(Rotate(*model, {.r4 = true}).ok());
  PassManager pm;
  pm.Add(CreateGgufLayoutPass());
  EXPECT_THAT(pm.Run(*model), StatusIs(absl::StatusCode::kFailedPrecondition,
                                       HasSubstr("online Hadamard before down_proj (rotate r4, config.json "
                                                 "quantc.online_hadamard), which llama.cpp cannot run")));
}

// compressed-tensors has no way to say "Hadamard the input of down_proj": int-quant quantizes such a
// model (the runner and the ONNX NPU pipeline apply the transform), and writing it as safetensors
// is refused (tests/cli: OnlineHadamardIsNotWrittenAsPackQuantized).
TEST(Rotate, PackQuantizedKeepsTheOnlineHadamard) {
  auto model = Read("tiny-llama-bf16");
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(Rotate(*model, {.r4 = true}).ok());
  PassManager pm;
  pm.Add(CreateIntQuantPass({.scheme = "int4"}));
  ASSERT_TRUE(pm.Run(*model).ok());
  EXPECT_THAT(CheckPackableModel(*model, "--format safetensors"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--format safetensors: the model has an online Hadamard")));
}

TEST(Rotate, R4RunsOnce) {
  auto model = Read("tiny-llama-bf16");
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(Rotate(*model, {.r4 = true}).ok());
  PassManager pm;
  pm.Add(CreateRotatePass({.r4 = true}));
  EXPECT_THAT(pm.Run(*model), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("r4 runs once")));
}

TEST(Rotate, BadBlocks) {
  auto llama = Read("tiny-llama-bf16");
  ASSERT_TRUE(llama.ok());
  EXPECT_THAT(Rotate(*llama, {.block = 100}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rotate: block 100 does not divide hidden_size 256")));
  EXPECT_THAT(Rotate(*llama, {.block = -32}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rotate: block -32 does not divide hidden_size 256")));
  auto qwen = Read("tiny-qwen2-bf16");  // 6 divides 384, but 6 = 2·3 has no Hadamard matrix
  ASSERT_TRUE(qwen.ok());
  EXPECT_THAT(Rotate(*qwen, {.block = 6}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rotate: block: no Hadamard transform of size 6")));
}

TEST(Rotate, R4NamesAnUnbuildableWidth) {
  auto model = Read("tiny-llama-bf16");
  ASSERT_TRUE(model.ok());
  TensorEntry* down = model->tensors.FindMutable("model.layers.0.mlp.down_proj.weight");
  ASSERT_NE(down, nullptr);
  down->info = {DType::kF32, {256, 764}};  // 764 = 4·191: no Hadamard matrix
  down->source = MakeFillSource(down->info, 0.5f);
  EXPECT_THAT(Rotate(*model, {.r4 = true}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("rotate: r4: input width 764 of 'model.layers.0.mlp.down_proj.weight': no Hadamard "
                                 "transform of size 764")));
}

TEST(Rotate, NeedsScaleFreeNorms) {
  auto model = Read("tiny-llama-bf16");
  ASSERT_TRUE(model.ok());
  PassManager pm;
  pm.Add(CreateRotatePass());
  EXPECT_THAT(pm.Run(*model), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("run fuse-norms first")));
}

}  // namespace
}  // namespace quantc::passes
