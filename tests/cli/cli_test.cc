// The quantc binary end to end: the main job, and every kind of bad input the issue lists. Each
// bad input must give one clear line naming the file/tensor, a non-zero exit, and no output.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/cli_helpers.h"
#include "tests/testing/run_shell.h"
#include "tests/testing/raw_gguf.h"
#include "tests/testing/raw_safetensors.h"

namespace quantc {
namespace {
namespace fs = std::filesystem;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

using cli_testing::CliTest;
using cli_testing::ExpectOneErrorLine;
using cli_testing::kData;
using cli_testing::kQuantc;
using cli_testing::kSynth;
using cli_testing::Result;
using testing::Q;
using testing::RunShell;

TEST_F(CliTest, ConvertsFp8FixtureAndPrintsSummary) {
  Result r = Convert(kData / "tiny-deepseek-v3-fp8", dir_ / "out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("pipeline  fp8-to-bf16"));
  EXPECT_THAT(r.output, HasSubstr("tensors-converted"));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "model.safetensors.index.json"));
  // A second run into the same output is refused and leaves it alone.
  Result again = Convert(kData / "tiny-deepseek-v3-fp8", dir_ / "out");
  ExpectOneErrorLine(again);
  EXPECT_THAT(again.output, HasSubstr("already exists"));
  EXPECT_THAT(again.output, HasSubstr("--force"));
  EXPECT_EQ(Convert(kData / "tiny-deepseek-v3-fp8", dir_ / "out", "--force").exit_code, 0);
}

TEST_F(CliTest, ExplicitEmptyPipelineCopiesFp8Through) {
  Result r = Convert(kData / "tiny-llama-fp8", dir_ / "out", "--passes ''");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto in = testing::ReadRawCheckpoint(kData / "tiny-llama-fp8");
  auto out = testing::ReadRawCheckpoint(dir_ / "out");
  ASSERT_EQ(in.size(), out.size());
  for (auto& [name, t] : in) EXPECT_TRUE(out.at(name).bytes == t.bytes) << name;
}

TEST_F(CliTest, TruncatedShard) {
  fs::path in = CopyFixture("tiny-qwen2-fp8");
  fs::path shard = in / "model-00002-of-00002.safetensors";
  fs::resize_file(shard, fs::file_size(shard) - 100);
  Result r = Convert(in, dir_ / "out");
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.output, HasSubstr("model-00002-of-00002.safetensors"));
  ExpectNoOutput(dir_ / "out");
}

TEST_F(CliTest, HeaderThatLies) {
  fs::path in = CopyFixture("tiny-llama-fp8");
  fs::path shard = in / "model-00001-of-00001.safetensors";
  std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
  std::string head(4096, '\0');
  f.read(head.data(), head.size());
  // Claim a bigger shape for the final norm without changing its byte span.
  size_t at = head.find("\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[256]");
  ASSERT_NE(at, std::string::npos);
  size_t shape = head.find("[256]", at);
  f.seekp(shape);
  f.write("[512]", 5);
  f.close();
  Result r = Convert(in, dir_ / "out");
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.output, HasSubstr("model.norm.weight"));
  EXPECT_THAT(r.output, HasSubstr("model-00001-of-00001.safetensors"));
  ExpectNoOutput(dir_ / "out");
}

TEST_F(CliTest, MissingScale) {
  fs::path in = CopyFixture("tiny-llama-fp8");
  // Rewrite the checkpoint without one scale (through the test's own raw writer).
  auto tensors = testing::ReadRawCheckpoint(in);
  tensors.erase("model.layers.2.mlp.up_proj.weight_scale_inv");
  fs::remove(in / "model-00001-of-00001.safetensors");
  fs::remove(in / "model.safetensors.index.json");
  testing::WriteRawSafetensors(in / "model.safetensors", tensors);
  Result r = Convert(in, dir_ / "out");
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.output, HasSubstr("model.layers.2.mlp.up_proj.weight"));
  EXPECT_THAT(r.output, HasSubstr("no scale"));
  ExpectNoOutput(dir_ / "out");
}

TEST_F(CliTest, MissingShard) {
  fs::path in = CopyFixture("tiny-qwen2-fp8");
  fs::remove(in / "model-00001-of-00002.safetensors");
  Result r = Convert(in, dir_ / "out");
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.output, HasSubstr("model-00001-of-00002.safetensors"));
  ExpectNoOutput(dir_ / "out");
}

TEST_F(CliTest, PathEscapingShardName) {
  fs::path in = CopyFixture("tiny-qwen2-fp8");
  std::ifstream idx_in(in / "model.safetensors.index.json");
  nlohmann::json index = nlohmann::json::parse(idx_in);
  idx_in.close();
  index["weight_map"]["lm_head.weight"] = "../model-00001-of-00002.safetensors";
  std::ofstream(in / "model.safetensors.index.json") << index.dump();
  Result r = Convert(in, dir_ / "out");
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.output, HasSubstr("../model-00001-of-00002.safetensors"));
  ExpectNoOutput(dir_ / "out");
}

TEST_F(CliTest, ConfigThatIsNotJson) {
  fs::path in = CopyFixture("tiny-llama-fp8");
  std::ofstream(in / "config.json") << "{\"model_type\": \"llama\",";
  Result r = Convert(in, dir_ / "out");
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.output, HasSubstr("config.json"));
  ExpectNoOutput(dir_ / "out");
}

TEST_F(CliTest, FullDisk) {
  // ulimit -f (in KiB blocks) stands in for a full disk: writes past 2 MiB fail with EFBIG.
  Result r = RunShell("ulimit -f 2048; " + Q(kQuantc) + " convert " + Q(kData / "tiny-qwen2-fp8") + " -o " +
                 Q(dir_ / "out"));
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.output, HasSubstr("File too large"));
  EXPECT_THAT(r.output, HasSubstr(".safetensors"));
  ExpectNoOutput(dir_ / "out");
}

TEST_F(CliTest, SigkillInTheMiddleLeavesNoFinishedLookingOutput) {
  fs::path in = dir_ / "synthetic";
  Result made = RunShell(Q(kSynth) + " --out " + Q(in) +
                    " --hidden 1024 --intermediate 4096 --moe-intermediate 512 --vocab 8192 --heads 8"
                    " --layers 3 --dense-layers 2 --experts 16 --max-shard-size 50MB");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    std::string out = (dir_ / "out").string();
    execl(kQuantc.c_str(), "quantc", "--threads", "1", "convert", in.c_str(), "-o", out.c_str(), "--max-shard-size",
          "20MB", nullptr);
    _exit(127);
  }
  // Wait until the run is writing its second shard, then kill it.
  fs::path staging = dir_ / (".out.quantc-tmp-" + std::to_string(pid));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto writing_second_shard = [&] {
    std::error_code ec;
    for (auto& e : fs::directory_iterator(staging, ec)) {
      if (e.path().filename().string().starts_with("model-00002-of-")) return true;
    }
    return false;
  };
  while (!writing_second_shard() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the conversion finished before it could be killed";
  EXPECT_FALSE(fs::exists(dir_ / "out")) << "a killed run must not leave a finished-looking output";
  // The next run clears the abandoned staging folder and succeeds.
  Result r = Convert(in, dir_ / "out", "--quiet");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (auto& e : fs::directory_iterator(dir_)) {
    EXPECT_THAT(e.path().filename().string(), Not(HasSubstr(".quantc-"))) << "left behind: " << e.path();
  }
}

// On a terminal (here a pseudo-terminal from script(1)) convert draws one updating progress
// line; --quiet draws nothing and prints no summary.
TEST_F(CliTest, ProgressLineOnATerminalOnly) {
  std::string cmd = Q(kQuantc) + " convert " + Q(kData / "tiny-qwen2-fp8") + " -o " + Q(dir_ / "out");
  Result tty = RunShell("script -qec " + Q(cmd) + " /dev/null");
  ASSERT_EQ(tty.exit_code, 0) << tty.output;
  EXPECT_THAT(tty.output, HasSubstr("\rconvert: "));
  EXPECT_THAT(tty.output, HasSubstr("ETA"));
  Result quiet = RunShell("script -qec " + Q(cmd + " --force --quiet") + " /dev/null");
  ASSERT_EQ(quiet.exit_code, 0) << quiet.output;
  EXPECT_EQ(quiet.output, "");
  Result piped = Convert(kData / "tiny-qwen2-fp8", dir_ / "out", "--force");
  EXPECT_THAT(piped.output, Not(HasSubstr("ETA"))) << "no progress line when stderr is not a terminal";
}

TEST_F(CliTest, RunGeneratesGreedyTokens) {
  Result ids = RunShell(Q(kQuantc) + " run " + Q(kData / "tiny-llama-bf16") + " --prompt 'The kernel' -n 8 --ids");
  ASSERT_EQ(ids.exit_code, 0) << ids.output;
  EXPECT_EQ(std::count(ids.output.begin(), ids.output.end(), ' '), 7) << ids.output;
  Result text = RunShell(Q(kQuantc) + " run " + Q(kData / "tiny-llama-bf16") + " --prompt 'The kernel' -n 8");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_FALSE(text.output.empty());
}

TEST_F(CliTest, EvalWithReferenceReportsEveryMetric) {
  Result r = RunShell(Q(kQuantc) + " eval " + Q(kData / "tiny-llama-fp8") + " --text " + Q(kData / "valid.txt") +
                      " --max-tokens 1100 --ref " + Q(kData / "tiny-llama-bf16") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["tokens"], 2 * 511);  // windows at 0 and 512: start < 1100 - 512
  for (const char* key : {"ppl", "nll", "ref_ppl", "kld_mean", "kld_p99", "kld_p999", "top1_agree", "delta_p_mean"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_GT(j["kld_mean"].get<double>(), 0.0);
  EXPECT_LT(j["kld_mean"].get<double>(), 0.05);  // FP8 weights stay close to BF16
  EXPECT_GT(j["top1_agree"].get<double>(), 0.9);
  // A model against itself: no divergence at all.
  Result self = RunShell(Q(kQuantc) + " eval " + Q(kData / "tiny-llama-bf16") + " --text " + Q(kData / "valid.txt") +
                         " --max-tokens 600 --ref " + Q(kData / "tiny-llama-bf16") + " --json");
  nlohmann::json s = nlohmann::json::parse(self.output);
  EXPECT_NEAR(s["kld_mean"].get<double>(), 0.0, 1e-9);
  EXPECT_EQ(s["top1_agree"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(s["ppl"].get<double>(), s["ref_ppl"].get<double>());
}

// DeepSeek-V4's encoding (FP4 experts, E8M0-scaled FP8 elsewhere): the default conversion leaves
// only BF16, and the runner computes the same thing from either (FP4 and these FP8 values are
// exact in BF16): equal perplexity, zero divergence. Packing the BF16 experts again with fp4-pack
// gives a checkpoint that runs as stored.
TEST_F(CliTest, Fp4CheckpointConvertsToBf16AndRunsAlike) {
  Result r = Convert(kData / "tiny-deepseek-v3-fp4", dir_ / "bf16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("pipeline  fp8-to-bf16,fp4-to-bf16"));
  for (const auto& [name, t] : testing::ReadRawCheckpoint(dir_ / "bf16")) EXPECT_EQ(t.dtype, "BF16") << name;
  Result e = RunShell(Q(kQuantc) + " eval " + Q(dir_ / "bf16") + " --text " + Q(kData / "valid.txt") +
                      " --max-tokens 1100 --ref " + Q(kData / "tiny-deepseek-v3-fp4") + " --json");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  nlohmann::json j = nlohmann::json::parse(e.output);
  EXPECT_DOUBLE_EQ(j["ppl"].get<double>(), j["ref_ppl"].get<double>());
  EXPECT_NEAR(j["kld_mean"].get<double>(), 0.0, 1e-9);
  // And back: routed experts as compressed-tensors MXFP4, run as stored.
  Result packed = Convert(dir_ / "bf16", dir_ / "mx", "--type mxfp4");
  ASSERT_EQ(packed.exit_code, 0) << packed.output;
  nlohmann::json config = nlohmann::json::parse(std::ifstream(dir_ / "mx" / "config.json"));
  EXPECT_EQ(config["quantization_config"]["format"], "mxfp4-pack-quantized");
  Result run = RunShell(Q(kQuantc) + " eval " + Q(dir_ / "mx") + " --text " + Q(kData / "valid.txt") + " --max-tokens 600");
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

// NVFP4 (compressed-tensors: E4M3 block scales, the global scale a divisor) runs as stored: the
// runner's answers equal those on its own BF16 dequantization but for BF16's rounding of
// e2m1 · e4m3 / global.
TEST_F(CliTest, Nvfp4RunsAsStored) {
  ASSERT_EQ(Convert(kData / "tiny-deepseek-v3-bf16", dir_ / "nv", "--type nvfp4").exit_code, 0);
  ASSERT_EQ(Convert(dir_ / "nv", dir_ / "nv-bf16").exit_code, 0);  // fp4-to-bf16 by default
  Result e = RunShell(Q(kQuantc) + " eval " + Q(dir_ / "nv") + " --text " + Q(kData / "valid.txt") +
                      " --max-tokens 1100 --ref " + Q(dir_ / "nv-bf16") + " --json");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  nlohmann::json j = nlohmann::json::parse(e.output);
  EXPECT_LT(j["kld_mean"].get<double>(), 1e-4);
  EXPECT_NEAR(j["ppl"].get<double>() / j["ref_ppl"].get<double>(), 1.0, 1e-3);
  // ... and differs from the unquantized model (the weights really are FP4).
  Result q = RunShell(Q(kQuantc) + " eval " + Q(dir_ / "nv") + " --text " + Q(kData / "valid.txt") +
                      " --max-tokens 1100 --ref " + Q(kData / "tiny-deepseek-v3-bf16") + " --json");
  EXPECT_GT(nlohmann::json::parse(q.output)["kld_mean"].get<double>(), 1e-3);
}

// Without a CUDA device (CI) or without CUDA in the build, --target gpu is one clear error.
TEST_F(CliTest, TargetGpuWithoutADeviceSaysSo) {
  Result r = RunShell(Q(kQuantc) + " eval " + Q(kData / "tiny-llama-bf16") + " --text " + Q(kData / "valid.txt") +
                      " --max-tokens 600 --target gpu");
  if (r.exit_code == 0) GTEST_SKIP() << "this machine has a CUDA device";
  EXPECT_THAT(r.output, HasSubstr("quantc eval: error: --target gpu: "));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  Result run = RunShell(Q(kQuantc) + " run " + Q(kData / "tiny-llama-bf16") + " -p Hello -n 4 --target gpu");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("quantc run: error: --target gpu: "));
  EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
}

TEST_F(CliTest, Fp4TypeWhereTheFormatCannotHoldIt) {
  Result gguf = Convert(kData / "tiny-deepseek-v3-bf16", dir_ / "m.gguf", "--format gguf --type mxfp4");
  ExpectOneErrorLine(gguf);
  EXPECT_THAT(gguf.output, HasSubstr("use --type MXFP4_MOE"));
  ExpectNoOutput(dir_ / "m.gguf");
  Result onnx = Convert(kData / "tiny-llama-bf16", dir_ / "onnx", "--format onnx --type nvfp4 --dtypes q4");
  ASSERT_EQ(onnx.exit_code, 0) << onnx.output;
  EXPECT_THAT(onnx.output, HasSubstr("cannot run FP4 weights"));
  EXPECT_THAT(onnx.output, HasSubstr("writing int4 (int4-g32) MatMulNBits weights instead"));
  EXPECT_TRUE(fs::exists(dir_ / "onnx" / "onnx" / "model_q4.onnx"));
}

TEST_F(CliTest, CompareReportsPerLayerError) {
  Result r = RunShell(Q(kQuantc) + " compare " + Q(kData / "tiny-qwen2-bf16") + " " + Q(kData / "tiny-qwen2-fp8") +
                      " --text " + Q(kData / "valid.txt") + " --max-tokens 256 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j["hidden_states"].size(), 7u);  // embeddings, inputs of layers 1..5, final norm
  EXPECT_TRUE(j["hidden_states"][0]["snr_db"].is_null()) << "BF16 embeddings are identical in both";
  for (size_t i = 1; i < 7; ++i) {
    EXPECT_GT(j["hidden_states"][i]["snr_db"].get<double>(), 15.0) << i;
    EXPECT_GT(j["hidden_states"][i]["cosine"].get<double>(), 0.99) << i;
  }
}

TEST_F(CliTest, InspectPrintsTensorsAndJson) {
  Result r = RunShell(Q(kQuantc) + " inspect " + Q(kData / "tiny-qwen2-fp8"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Qwen2ForCausalLM"));
  EXPECT_THAT(r.output, HasSubstr("model.layers.0.mlp.down_proj.weight_scale_inv"));
  EXPECT_THAT(r.output, HasSubstr("F8_E4M3"));
  Result j = RunShell(Q(kQuantc) + " inspect --json " + Q(kData / "tiny-qwen2-fp8"));
  ASSERT_EQ(j.exit_code, 0) << j.output;
  nlohmann::json parsed = nlohmann::json::parse(j.output);
  auto raw = testing::ReadRawCheckpoint(kData / "tiny-qwen2-fp8");
  EXPECT_EQ(parsed["num_tensors"].get<size_t>(), raw.size());
  uint64_t total = 0;
  for (auto& [n, t] : raw) total += t.bytes.size();
  EXPECT_EQ(parsed["total_bytes"].get<uint64_t>(), total);
  EXPECT_EQ(parsed["config"]["architecture"], "Qwen2ForCausalLM");
}

TEST_F(CliTest, UnknownPassAndMissingInput) {
  Result r = Convert(kData / "tiny-llama-fp8", dir_ / "out", "--passes bogus");
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.output, HasSubstr("unknown pass 'bogus'"));
  Result m = Convert(dir_ / "nope", dir_ / "out");
  ExpectOneErrorLine(m);
  EXPECT_THAT(m.output, HasSubstr("nope"));
}

// GGUF: an FP8 checkpoint converts straight to a quantized GGUF that the runner evaluates.
TEST_F(CliTest, Fp8CheckpointToQuantizedGgufRuns) {
  const fs::path out = dir_ / "m.gguf";
  Result r = Convert(kData / "tiny-llama-fp8", out, "--type Q4_K_M");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("pipeline  fp8-to-bf16,gguf-layout"));
  EXPECT_THAT(r.output, HasSubstr("quantize(type=Q4_K_M"));
  Result e = RunShell(Q(kQuantc) + " eval " + Q(out) + " --tokenizer " + Q(kData / "tiny-llama-fp8") + " --text " +
                      Q(kData / "valid.txt") + " --max-tokens 1024 --json");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  const double ppl = nlohmann::json::parse(e.output)["ppl"].get<double>();
  EXPECT_GT(ppl, 5.0);
  EXPECT_LT(ppl, 40.0);  // BF16 is ~19 on this text; a broken layout gives thousands
}

TEST_F(CliTest, GgufBadInputsAreOneLineErrorsWithoutOutput) {
  const fs::path out = dir_ / "m.gguf";
  Result t = Convert(kData / "tiny-llama-bf16", out, "--type Q9_K");
  ExpectOneErrorLine(t);
  EXPECT_THAT(t.output, HasSubstr("unknown type 'Q9_K'"));
  ExpectNoOutput(out);
  // An imatrix file that is not one (a model GGUF) names the file and the missing key.
  ASSERT_EQ(Convert(kData / "tiny-llama-bf16", dir_ / "plain.gguf").exit_code, 0);
  Result i = Convert(kData / "tiny-llama-bf16", out, "--type Q4_K_M --imatrix " + Q(dir_ / "plain.gguf"));
  ExpectOneErrorLine(i);
  EXPECT_THAT(i.output, HasSubstr("plain.gguf"));
  EXPECT_THAT(i.output, HasSubstr("imatrix.datasets"));
  ExpectNoOutput(out);
  // Another model's imatrix: the shapes do not fit, named by tensor.
  ASSERT_EQ(RunShell(Q(kQuantc) + " --quiet imatrix " + Q(kData / "tiny-qwen2-bf16") + " --text " + Q(kData / "calib.txt") +
                     " --chunk-size 64 --chunks 2 -o " + Q(dir_ / "qwen.imatrix.gguf"))
                .exit_code,
            0);
  Result m = Convert(kData / "tiny-llama-bf16", out, "--type Q4_K_M --imatrix " + Q(dir_ / "qwen.imatrix.gguf"));
  ExpectOneErrorLine(m);
  EXPECT_THAT(m.output, HasSubstr("importance matrix entry 'blk.0."));
  ExpectNoOutput(out);
  // A quantized GGUF is not requantized.
  ASSERT_EQ(Convert(kData / "tiny-llama-bf16", dir_ / "q8.gguf", "--type Q8_0").exit_code, 0);
  Result q = Convert(dir_ / "q8.gguf", out, "--type Q4_K_M");
  ExpectOneErrorLine(q);
  EXPECT_THAT(q.output, HasSubstr("requantizing is not supported"));
  ExpectNoOutput(out);
}

TEST_F(CliTest, ModelParallelShards) {
  // N = 2 of the BF16 fixture: two rank files and the tokenizer, FP8 kept as convert.py keeps it.
  const fs::path out = dir_ / "mp2";
  Result r = Convert(kData / "tiny-deepseek-v3-bf16", out, "--format mp --mp 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "model0-mp2.safetensors"));
  EXPECT_TRUE(fs::exists(out / "model1-mp2.safetensors"));
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));
  EXPECT_THAT(r.output, HasSubstr("shard(n=2)"));
  // N = 2 of the FP8 fixture: its 640-wide MLP has 5 scale blocks; refused, naming tensor and dim.
  const fs::path bad = dir_ / "mpf2";
  Result f = Convert(kData / "tiny-deepseek-v3-fp8", bad, "--format mp --mp 2");
  ExpectOneErrorLine(f);
  EXPECT_THAT(f.output, HasSubstr("weight_scale_inv"));
  EXPECT_THAT(f.output, HasSubstr("is not divisible by n=2"));
  ExpectNoOutput(bad);
  // Architectures engines shard themselves have no mp layout.
  Result q = Convert(kData / "tiny-qwen2-bf16", bad, "--format mp --mp 2");
  ExpectOneErrorLine(q);
  EXPECT_THAT(q.output, HasSubstr("DeepSeek-V2/V3 only"));
  ExpectNoOutput(bad);
  // --mp without --format mp.
  ExpectOneErrorLine(Convert(kData / "tiny-deepseek-v3-bf16", bad, "--mp 2"));
}

TEST_F(CliTest, GgufSplitOutputLoadsBack) {
  Result r = Convert(kData / "tiny-qwen2-bf16", dir_ / "m.gguf", "--type Q8_0 --split-max-size 4MB");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> shards;
  for (auto& e : fs::directory_iterator(dir_)) shards.push_back(e.path().filename().string());
  std::sort(shards.begin(), shards.end());
  ASSERT_GE(shards.size(), 2u);
  EXPECT_EQ(shards.front().substr(0, 10), "m-00001-of");
  Result e = RunShell(Q(kQuantc) + " eval " + Q(dir_ / shards.front()) + " --tokenizer " + Q(kData / "tiny-qwen2-bf16") +
                      " --text " + Q(kData / "valid.txt") + " --max-tokens 1024 --json");
  ASSERT_EQ(e.exit_code, 0) << e.output;
}

}  // namespace
}  // namespace quantc

namespace quantc {
namespace {

// Safetensors with --type int4-g128: the default pipeline (fp8-to-bf16 for an FP8 input) then
// int-quant, written as compressed-tensors pack-quantized, which `eval` runs.
TEST_F(CliTest, IntSchemeTypeWritesPackQuantized) {
  const fs::path out = dir_ / "int4";
  Result r = Convert(kData / "tiny-llama-fp8", out, "--type int4-g128");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("pipeline  fp8-to-bf16,int-quant(scheme=int4-g128,ignore=lm_head)"));
  const auto raw = testing::ReadRawCheckpoint(out);
  ASSERT_TRUE(raw.contains("model.layers.0.self_attn.q_proj.weight_packed"));
  EXPECT_EQ(raw.at("model.layers.0.self_attn.q_proj.weight_packed").dtype, "I32");
  EXPECT_EQ(raw.at("model.layers.0.self_attn.q_proj.weight_scale").dtype, "BF16");
  EXPECT_FALSE(raw.contains("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_EQ(raw.at("lm_head.weight").dtype, "BF16");
  std::ifstream config(out / "config.json");
  const nlohmann::json qc = nlohmann::json::parse(config)["quantization_config"];
  EXPECT_EQ(qc["format"], "pack-quantized");
  EXPECT_EQ(qc["config_groups"]["group_0"]["weights"]["group_size"], 128);
  Result e = RunShell(Q(kQuantc) + " eval " + Q(out) + " --text " + Q(kData / "valid.txt") + " --max-tokens 1024 --json");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  const double ppl = nlohmann::json::parse(e.output)["ppl"].get<double>();
  EXPECT_GT(ppl, 5.0);
  EXPECT_LT(ppl, 40.0);  // BF16 is ~19 on this text; wrong packing gives thousands
}

// The composition: `--passes 'rotate,gptq' --calib` with --type. GGUF: fuse-norms goes in
// before rotate, gguf-layout before gptq, quantize(--type) last, and --type is gptq's scheme;
// safetensors: gptq quantizes to --type itself (no int-quant). Few calibration tokens: this checks
// the plumbing, tests/passes/gptq_pass_test.cc the accuracy.
TEST_F(CliTest, RotateGptqComposesWithEveryOutput) {
  const fs::path gguf = dir_ / "rg.gguf";
  Result g = Convert(kData / "tiny-llama-bf16", gguf,
                     "--format gguf --type Q4_K_M --passes 'rotate,gptq(samples=4,ctx=128)' --calib " + Q(kData / "calib.txt"));
  ASSERT_EQ(g.exit_code, 0) << g.output;
  EXPECT_THAT(g.output, HasSubstr("pipeline  fuse-norms(f32=false),rotate(seed=1,"));
  EXPECT_THAT(g.output, HasSubstr("),gguf-layout(name=),gptq(scheme=Q4_K_M,"));
  EXPECT_THAT(g.output, HasSubstr("samples=4,ctx=128,"));
  EXPECT_THAT(g.output, HasSubstr("),quantize(type=Q4_K_M,"));
  EXPECT_THAT(g.output, HasSubstr("tensors-gptq = 29"));  // 4 layers x 7 matrices + output.weight
  Result run = RunShell(Q(kQuantc) + " run " + Q(gguf) + " --tokenizer " + Q(kData / "tiny-llama-bf16") +
                        " --prompt 'The kernel' -n 4");
  EXPECT_EQ(run.exit_code, 0) << run.output;

  const fs::path st = dir_ / "rg-int4";
  Result i = Convert(kData / "tiny-llama-bf16", st,
                     "--type int4-g128 --passes 'rotate,gptq(samples=4,ctx=128)' --calib " + Q(kData / "calib.txt"));
  ASSERT_EQ(i.exit_code, 0) << i.output;
  EXPECT_THAT(i.output, HasSubstr("gptq(scheme=int4-g128,"));
  EXPECT_THAT(i.output, Not(HasSubstr("int-quant")));
  const auto raw = testing::ReadRawCheckpoint(st);
  EXPECT_TRUE(raw.contains("model.layers.3.mlp.down_proj.weight_packed"));
  // gptq without calibration text is one clear line.
  Result none = Convert(kData / "tiny-llama-bf16", dir_ / "none", "--type int4 --passes gptq");
  ExpectOneErrorLine(none);
  EXPECT_THAT(none.output, HasSubstr("--calib"));
  ExpectNoOutput(dir_ / "none");
}

// `--passes allocate` takes --type, --override and --calib as its defaults, gets gguf-layout before
// it and quantize after it, prints where the promotions went and records them; without --type or
// --calib it is one clear line. tests/passes/allocate_test.cc checks what it measures.
TEST_F(CliTest, AllocateTakesTheMixAndCalibrationOfConvert) {
  const fs::path gguf = dir_ / "a.gguf";
  Result a = Convert(kData / "tiny-llama-bf16", gguf,
                     "--type Q4_K_M --override 'attn_k=Q5_K' --passes 'allocate(samples=1,ctx=128)' --calib " +
                         Q(kData / "calib.txt"));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_THAT(a.output, HasSubstr("pipeline  gguf-layout(name=),allocate(scheme=Q4_K_M,override=attn_k=Q5_K,pure=false,calib="));
  EXPECT_THAT(a.output, HasSubstr("),quantize(type=Q4_K_M,override=attn_k=Q5_K,"));
  EXPECT_THAT(a.output, HasSubstr("note: allocate: ffn_down.weight: q6_K on layers "));
  EXPECT_THAT(a.output, HasSubstr("tensors-measured = 8"));
  Result inspect = RunShell(Q(kQuantc) + " inspect " + Q(gguf));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_THAT(inspect.output, HasSubstr("quantc.allocate.types"));
  for (const std::string& args : {std::string("--passes allocate --calib ") + Q(kData / "calib.txt"),
                                  std::string("--type Q4_K_M --passes allocate")}) {
    Result bad = Convert(kData / "tiny-llama-bf16", dir_ / "bad.gguf", args);
    ExpectOneErrorLine(bad);
    EXPECT_THAT(bad.output, AnyOf(HasSubstr("--type"), HasSubstr("--calib"))) << args;
    ExpectNoOutput(dir_ / "bad.gguf");
  }
}

TEST_F(CliTest, BadIntSchemeIsOneLineErrorWithoutOutput) {
  const fs::path out = dir_ / "out";
  Result r = Convert(kData / "tiny-llama-bf16", out, "--type int4-g12x");
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.output, HasSubstr("--type: integer scheme 'int4-g12x'"));
  EXPECT_THAT(r.output, HasSubstr("int<bits>[-g<group>][-asym][-mse]"));
  ExpectNoOutput(out);
  Result g = Convert(kData / "tiny-llama-bf16", out, "--type Q4_K_M");
  ExpectOneErrorLine(g);
  EXPECT_THAT(g.output, HasSubstr("need --format gguf"));
  ExpectNoOutput(out);
  // A group that does not divide a weight's width (tiny-qwen2's down_proj reads 1120) leaves a
  // ragged last group: converted, with a note that vLLM needs whole groups.
  Result d = Convert(kData / "tiny-qwen2-bf16", out, "--type int4-g128");
  ASSERT_EQ(d.exit_code, 0) << d.output;
  EXPECT_THAT(d.output, HasSubstr("ragged last group"));
}

TEST_F(CliTest, OnnxFolderForTransformersJs) {
  const fs::path out = dir_ / "onnx";
  Result r = Convert(kData / "tiny-qwen2-bf16", out,
                     "--format onnx --dtypes fp32,q4 --passes 'rotate,gptq(samples=2,ctx=64)' --calib " + Q(kData / "calib.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("pipeline  fuse-norms(f32=false),rotate("));
  EXPECT_THAT(r.output, HasSubstr("q4 models gptq(scheme=int4-g32,"));
  for (const char* f : {"config.json", "genai_config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                        "onnx/model.onnx", "onnx/model.onnx_data", "onnx/model_q4.onnx", "onnx/model_q4.onnx_data"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  EXPECT_FALSE(fs::exists(out / "onnx" / "model_fp16.onnx"));
  const auto config = nlohmann::json::parse(testing::ReadFileBytes(out / "config.json"));
  EXPECT_EQ(config["transformers.js_config"]["use_external_data_format"]["model_q4.onnx"], 1);

  Result dtypes = Convert(kData / "tiny-qwen2-bf16", dir_ / "bad", "--format onnx --dtypes fp32,int8");
  ExpectOneErrorLine(dtypes);
  EXPECT_THAT(dtypes.output, HasSubstr("--dtypes: 'int8'"));
  ExpectNoOutput(dir_ / "bad");
  Result asym = Convert(kData / "tiny-qwen2-bf16", dir_ / "bad", "--format onnx --dtypes q4 --type int4-g32-asym");
  ExpectOneErrorLine(asym);
  EXPECT_THAT(asym.output, HasSubstr("q_proj.weight: int4 asymmetric group 32"));
  ExpectNoOutput(dir_ / "bad");
  Result r4 = Convert(kData / "tiny-llama-bf16", dir_ / "bad", "--format onnx --dtypes fp32 --passes 'rotate(r4=true)'");
  ExpectOneErrorLine(r4);
  EXPECT_THAT(r4.output, HasSubstr("online Hadamard before down_proj"));
  ExpectNoOutput(dir_ / "bad");
}

TEST_F(CliTest, OnnxQdqRefusalsAreOneLineWithoutOutput) {
  Result none = Convert(kData / "tiny-qwen2-bf16", dir_ / "npu", "--format onnx-qdq");
  ExpectOneErrorLine(none);
  EXPECT_THAT(none.output, HasSubstr("--calib"));
  ExpectNoOutput(dir_ / "npu");
  Result groups = Convert(kData / "tiny-qwen2-bf16", dir_ / "npu", "--format onnx-qdq --type int4-g128 --calib " + Q(kData / "calib.txt"));
  ExpectOneErrorLine(groups);
  EXPECT_THAT(groups.output, HasSubstr("int4 symmetric per-channel weights"));
  ExpectNoOutput(dir_ / "npu");
  Result not_npu = RunShell(Q(kQuantc) + " check-npu " + Q(kData / "tiny-qwen2-bf16"));
  EXPECT_NE(not_npu.exit_code, 0);
  EXPECT_THAT(not_npu.output, HasSubstr("context.onnx: missing (not an onnx-qdq folder)"));
}

TEST_F(CliTest, OnlineHadamardIsNotWrittenAsPackQuantized) {
  Result r = Convert(kData / "tiny-llama-bf16", dir_ / "r4", "--type int4 --passes 'rotate(r4=true)'");
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.output, HasSubstr("--format safetensors: the model has an online Hadamard before down_proj"));
  ExpectNoOutput(dir_ / "r4");
}

}  // namespace
}  // namespace quantc
