// The gptq pass end to end on tiny-llama (every row a whole number of K-quant super-blocks): GPTQ
// on the Q4_K_M mix's grids, calibrated on calib.txt, must leave the model closer to BF16 (mean
// KLD on valid.txt) than llama-quantize's round-to-nearest with the same types, and the quantize
// pass that follows must keep every matrix GPTQ chose.
#include <filesystem>
#include <string>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "gtest/gtest.h"
#include "lib/pass/pass_manager.h"
#include "lib/runner/eval.h"
#include "lib/runner/runner.h"
#include "lib/support/file_util.h"
#include "lib/tokenizer/tokenizer.h"
#include "passes/gguf_layout.h"
#include "passes/gptq.h"
#include "passes/int_quant.h"
#include "passes/quantize.h"
#include "tests/passes/calibration_testing.h"

namespace quantc::passes {
namespace {
namespace fs = std::filesystem;

// tiny-llama, a few calibration windows from calib.txt, 4096 evaluation tokens from valid.txt,
// and the BF16 runner every KLD is measured against.
class GptqPass : public ::testing::Test {
 protected:
  void SetUp() override {
    calib_ = Tokens(kTestdata / kFixture, kTestdata / "calib.txt", 40000);
    valid_ = Tokens(kTestdata / kFixture, kTestdata / "valid.txt", 20000);
    auto ref = runner::Runner::Create(bf16_);
    ASSERT_TRUE(ref.ok()) << ref.status();
    ref_ = std::move(*ref);
  }
  static constexpr const char* kFixture = "tiny-llama-bf16";
  const Model bf16_ = Read(kFixture);
  std::vector<int32_t> calib_, valid_;
  std::unique_ptr<runner::Runner> ref_;
};

TEST_F(GptqPass, Q4KMixBeatsRoundToNearest) {
  const std::string fixture = kFixture;
  Model rtn = Read(fixture);
  {
    PassManager pm;
    pm.Add(CreateGgufLayoutPass());
    pm.Add(CreateQuantizePass({.type = "Q4_K_M"}));
    ASSERT_TRUE(pm.Run(rtn).ok());
  }
  Model gptq = Read(fixture);
  PassManager pm;
  pm.set_calibration(&calib_);
  pm.Add(CreateGgufLayoutPass());
  pm.Add(CreateGptqPass({.scheme = "Q4_K_M", .samples = 32, .ctx = 256}));
  pm.Add(CreateQuantizePass({.type = "Q4_K_M"}));
  const absl::Status s = pm.Run(gptq);
  ASSERT_TRUE(s.ok()) << s;

  // Same types tensor by tensor: GPTQ chose what quantize would have, and quantize kept it.
  ASSERT_EQ(rtn.tensors.size(), gptq.tensors.size());
  for (size_t i = 0; i < rtn.tensors.size(); ++i) {
    EXPECT_EQ(rtn.tensors.entries()[i].info.dtype, gptq.tensors.entries()[i].info.dtype) << rtn.tensors.entries()[i].name;
  }
  EXPECT_EQ(pm.statistics().at(1).second.counts().at("tensors-gptq"), 4 * 7 + 1);  // and output.weight

  const double kld_rtn = Kld(rtn, *ref_, valid_), kld_gptq = Kld(gptq, *ref_, valid_);
  std::printf("tiny-llama Q4_K_M mean KLD: round-to-nearest %.5f, gptq %.5f\n", kld_rtn, kld_gptq);
  EXPECT_LT(kld_gptq, 0.85 * kld_rtn);
}

// fp-target fits each matrix to the unquantized model's outputs instead of the quantized stream's
// own (GPTAQ): the error of the layers already quantized is compensated rather than carried on.
// Measured on the whole protocol (128 x 512 calibration tokens, 16,384 evaluation tokens): mean
// KLD 0.0221 -> 0.0189. The cross term needs many tokens: with 32 x 512 the same is 0.0226 ->
// 0.0220, and here (32 x 256, 4,096 evaluation tokens) 0.02264 -> 0.02225, so the bar is 1%.
TEST_F(GptqPass, FittingTheOriginalOutputsBeatsTheQuantizedStream) {
  auto convert = [&](bool fp_target) {
    Model m = Read(kFixture);
    PassManager pm;
    pm.set_calibration(&calib_);
    pm.Add(CreateGgufLayoutPass());
    pm.Add(CreateGptqPass({.scheme = "Q4_K_M", .samples = 32, .ctx = 256, .fp_target = fp_target}));
    pm.Add(CreateQuantizePass({.type = "Q4_K_M"}));
    const absl::Status s = pm.Run(m);
    EXPECT_TRUE(s.ok()) << s;
    return m;
  };
  const double kld_stream = Kld(convert(false), *ref_, valid_), kld_original = Kld(convert(true), *ref_, valid_);
  std::printf("tiny-llama Q4_K_M gptq mean KLD: quantized-stream target %.5f, fp-target %.5f\n", kld_stream, kld_original);
  EXPECT_LT(kld_original, 0.99 * kld_stream);
}

// HF layout: int4 per channel stored as compressed-tensors pack-quantized, which the runner runs.
TEST_F(GptqPass, Int4PerChannelBeatsRoundToNearest) {
  const std::string fixture = kFixture;
  Model rtn = Read(fixture);
  {
    PassManager pm;
    pm.Add(CreateIntQuantPass({.scheme = "int4"}));
    ASSERT_TRUE(pm.Run(rtn).ok());
  }
  Model gptq = Read(fixture);
  PassManager pm;
  pm.set_calibration(&calib_);
  pm.Add(CreateGptqPass({.scheme = "int4", .samples = 32, .ctx = 256}));
  const absl::Status s = pm.Run(gptq);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(pm.statistics().at(0).second.counts().at("tensors-gptq"), 4 * 7);
  // The same tensors as int-quant writes, and the same quantization_config.
  ASSERT_EQ(rtn.tensors.size(), gptq.tensors.size());
  for (size_t i = 0; i < rtn.tensors.size(); ++i) {
    const TensorEntry &a = rtn.tensors.entries()[i], &b = gptq.tensors.entries()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.info.dtype, b.info.dtype) << a.name;
    EXPECT_EQ(a.info.shape, b.info.shape) << a.name;
  }
  EXPECT_EQ(rtn.config["quantization_config"]["config_groups"], gptq.config["quantization_config"]["config_groups"]);

  const double kld_rtn = Kld(rtn, *ref_, valid_), kld_gptq = Kld(gptq, *ref_, valid_);
  std::printf("tiny-llama int4 per-channel mean KLD: round-to-nearest %.5f, gptq %.5f\n", kld_rtn, kld_gptq);
  EXPECT_LT(kld_gptq, 0.8 * kld_rtn);
}

TEST_F(GptqPass, NeedsCalibration) {
  Model m = Read("tiny-llama-bf16");
  PassManager pm;
  pm.Add(CreateGgufLayoutPass());
  pm.Add(CreateGptqPass());
  const absl::Status s = pm.Run(m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--calib"), std::string::npos) << s;
}

}  // namespace
}  // namespace quantc::passes
