// `quantc validate` end to end: gates pass and fail on candidates whose damage is known, the
// per-layer SNR points at the damaged layer, rotated candidates are compared in their own basis,
// convert mode makes and validates its candidates, and bad inputs give one clear line.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/cli_helpers.h"

namespace quantc {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

using cli_testing::kData;
using cli_testing::kQuantc;
using cli_testing::Q;
using cli_testing::Result;
using testing::RunShell;

// Zeroes one tensor's bytes in a safetensors file, in place.
void ZeroTensor(const fs::path& file, const std::string& name) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  uint64_t n = 0;
  f.read(reinterpret_cast<char*>(&n), 8);
  std::string header(n, '\0');
  f.read(header.data(), static_cast<std::streamsize>(n));
  const nlohmann::json h = nlohmann::json::parse(header);
  ASSERT_TRUE(h.contains(name)) << name;
  const uint64_t begin = h[name]["data_offsets"][0], end = h[name]["data_offsets"][1];
  f.seekp(static_cast<std::streamoff>(8 + n + begin));
  const std::string zeros(end - begin, '\0');
  f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
}

class ValidateTest : public cli_testing::CliTest {
 protected:
  // Runs validate against tiny-llama-bf16 on the first 1024 tokens of valid.txt, JSON into dir_.
  Result Validate(const std::string& args, const std::string& ref = "tiny-llama-bf16") {
    return RunShell(Q(kQuantc) + " --quiet validate " + Q(kData / ref) + " " + args + " --text " +
                    Q(kData / "valid.txt") + " --max-tokens 1024 --ctx 256 --json " + Q(dir_ / "r.json"));
  }
  nlohmann::json Json() {
    std::ifstream in(dir_ / "r.json");
    return nlohmann::json::parse(in);
  }
};

TEST_F(ValidateTest, Q8_0PassesATightGate) {
  ASSERT_EQ(RunShell(Q(kQuantc) + " --quiet convert " + Q(kData / "tiny-llama-bf16") + " -o " + Q(dir_ / "q8.gguf") +
                     " --type Q8_0").exit_code, 0);
  Result r = Validate(Q(dir_ / "q8.gguf") + " --max-kld 0.002 --max-ppl-delta 1% --min-top1 97%");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = Json();
  ASSERT_EQ(j["rows"].size(), 1u);
  const auto& row = j["rows"][0];
  EXPECT_TRUE(row["pass"]);
  EXPECT_LT(row["kld_mean"].get<double>(), 0.002);
  EXPECT_NEAR(row["bits_per_weight"].get<double>(), 8.5, 0.3);  // Q8_0: 34 bytes per 32 weights, plus metadata
  // Every hidden state of a Q8_0 model stays well above 30 dB.
  ASSERT_EQ(row["hidden_states"].size(), 5u);  // embeddings, layers 0-2, layer 3 + final norm
  for (const auto& l : row["hidden_states"]) EXPECT_GT(l["snr_db"].get<double>(), 30) << l.dump();
}

TEST_F(ValidateTest, ZeroedLayerFailsAndIsNamed) {
  const fs::path bad = CopyFixture("tiny-llama-bf16", "zeroed");
  for (const char* t : {"model.layers.2.self_attn.o_proj.weight", "model.layers.2.mlp.down_proj.weight"}) {
    ZeroTensor(bad / "model.safetensors", t);
  }
  Result r = Validate(Q(bad) + " --max-kld 0.05");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("quantc validate: error: gate failed: zeroed on cpu: mean KLD"));
  const nlohmann::json j = Json();
  EXPECT_FALSE(j["pass"]);
  EXPECT_EQ(j["rows"][0]["departs_at"], "layer 2");
  // Layers before the damage are exact.
  EXPECT_TRUE(j["rows"][0]["hidden_states"][2]["snr_db"].is_null());
}

TEST_F(ValidateTest, WrongRopeBaseDepartsAtTheFirstLayer) {
  const fs::path bad = CopyFixture("tiny-llama-bf16", "rope");
  nlohmann::ordered_json config;
  {
    std::ifstream in(bad / "config.json");
    config = nlohmann::ordered_json::parse(in);
  }
  config["rope_parameters"]["rope_theta"] = 10000.0;
  std::ofstream(bad / "config.json") << config.dump(2);
  Result r = Validate(Q(bad) + " --max-ppl-delta 2%");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(--max-ppl-delta)"));
  EXPECT_EQ(Json()["rows"][0]["departs_at"], "layer 0");
}

TEST_F(ValidateTest, RotatedCandidateIsComparedInItsBasis) {
  // F32 storage: the rotated model computes the original function, so every hidden state must
  // match once the reference's states are rotated the same way (without that, SNR would be ~0 dB).
  // What is left is fuse-norms' BF16 rounding of the folded weights.
  ASSERT_EQ(RunShell(Q(kQuantc) + " --quiet convert " + Q(kData / "tiny-qwen2-bf16") + " -o " + Q(dir_ / "rot") +
                     " --passes 'rotate(f32=true,seed=7)'").exit_code, 0);
  Result r = Validate(Q(dir_ / "rot") + " --max-kld 1e-4", "tiny-qwen2-bf16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = Json();
  const auto& row = j["rows"][0];
  EXPECT_THAT(row["pipeline"].get<std::string>(), HasSubstr("rotate("));
  for (const auto& l : row["hidden_states"]) {
    if (!l["snr_db"].is_null()) {
      EXPECT_GT(l["snr_db"].get<double>(), 50) << l.dump();
    }
  }
}

TEST_F(ValidateTest, ConvertModeMakesAndValidatesEachTarget) {
  Result r = Validate("--to gguf:Q8_0,safetensors:int4-g128 --out-dir " + Q(dir_ / "out") + " --report " + Q(dir_ / "r.html"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = Json();
  ASSERT_EQ(j["rows"].size(), 2u);
  EXPECT_EQ(j["rows"][0]["label"], "gguf:Q8_0");
  EXPECT_EQ(j["rows"][1]["label"], "safetensors:int4-g128");
  EXPECT_LT(j["rows"][0]["kld_mean"].get<double>(), j["rows"][1]["kld_mean"].get<double>());  // 8 bits beat 4
  EXPECT_TRUE(fs::exists(dir_ / "out" / "gguf-Q8_0.gguf"));
  ASSERT_EQ(j["commands"].size(), 3u);  // validate itself, then the two conversions
  EXPECT_THAT(j["commands"][1].get<std::string>(), HasSubstr("convert"));
  std::ifstream html(dir_ / "r.html");
  const std::string page((std::istreambuf_iterator<char>(html)), std::istreambuf_iterator<char>());
  EXPECT_THAT(page, HasSubstr("<svg"));
  EXPECT_THAT(page, Not(HasSubstr("http://")));  // self-contained: nothing fetched
  EXPECT_THAT(page, Not(HasSubstr("https://")));
}

TEST_F(ValidateTest, MpShardsRunThroughTheTensorParallelSimulator) {
  // DeepSeek-V3's mp shards carry no config: the reference's is used. The simulator computes the
  // unsharded model (FP32 all-reduce order aside), so the shards must agree with it closely.
  Result r = Validate("--to mp:2 --max-kld 1e-5", "tiny-deepseek-v3-bf16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = Json();
  ASSERT_EQ(j["rows"].size(), 1u);
  EXPECT_EQ(j["rows"][0]["kind"], "mp");
  EXPECT_THAT(j["rows"][0]["engine"].get<std::string>(), HasSubstr("2 ranks"));
}

TEST_F(ValidateTest, BadInputsGiveOneLine) {
  const std::pair<std::string, std::string> cases[] = {
      {Q(dir_ / "nothing.gguf"), "nothing.gguf: no such file or folder"},
      {Q(kData / "tiny-llama-fp8") + " --targets npu", "tiny-llama-fp8: runs on cpu, gpu, not on the --targets given (npu)"},
      {Q(kData / "tiny-deepseek-v3-yarn"), "vocabulary 512 != the reference's 4096"},
      {Q(kData / "tiny-llama-fp8") + " --min-top1 1.5", "--min-top1 1.5: not in 0..1"},
      {Q(kData / "tiny-llama-fp8") + " --targets gpu", "--target gpu: "},  // no device (or no CUDA build) here
      {"--to gguf", "--to gguf: name the GGUF type, e.g. gguf:Q4_K_M"},
  };
  for (const auto& [args, message] : cases) {
    Result r = Validate(args);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_THAT(r.output, HasSubstr("quantc validate: error: " )) << args;
    EXPECT_THAT(r.output, HasSubstr(message)) << args;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
  EXPECT_FALSE(fs::exists(dir_ / "r.json"));
}

}  // namespace
}  // namespace quantc
