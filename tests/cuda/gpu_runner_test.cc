// The GPU forward pass against the CPU runner on the fixtures (and on a Q4_K_M GGUF of tiny-llama
// made by quantc convert): logits within 1e-3 of the CPU's (the runner golden test's tolerance
// against transformers), every hidden state within 1e-4 relative RMS. DeepSeek-V3 (MLA + MoE:
// routing decisions amplify rounding differences) on the fixtures' golden prompts: logits within
// 1e-2 of the CPU's relative to their largest magnitude, the same teacher-forced top-1 wherever
// the CPU's top-2 margin exceeds 0.05, and greedy decoding through the cache equal to a full
// Forward. On the device the fixtures come from $QUANTC_GPU_TESTDATA (tools/gpu/pack.sh copies
// them), elsewhere from the repo.
#include <algorithm>
#include <cmath>
#include <functional>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "gtest/gtest.h"
#include "lib/cuda/cuda.h"
#include "lib/runner/gpu_runner.h"
#include "lib/runner/runner.h"
#include "tests/testing/raw_safetensors.h"
#include "tools/common/model_io.h"

namespace quantc {
namespace {
namespace fs = std::filesystem;

fs::path Data() {
  const char* d = std::getenv("QUANTC_GPU_TESTDATA");
  return d != nullptr ? fs::path(d) : fs::path(QUANTC_TESTDATA_DIR);
}

absl::StatusOr<Model> Read(const fs::path& p) { return tools::ReadModel(p); }

// The fixture named by the parameter, with a CPU and a GPU runner on it.
class GpuRunnerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    const fs::path path = Data() / GetParam();
    if (!fs::exists(path)) GTEST_SKIP() << path << " not here";
    auto model = Read(path);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::make_unique<Model>(std::move(*model));
    auto cpu = runner::Runner::Create(*model_);
    auto gpu = runner::GpuRunner::Create(*model_);
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    cpu_ = std::move(*cpu), gpu_ = std::move(*gpu);
  }
  std::unique_ptr<Model> model_;  // outlives the runners
  std::unique_ptr<runner::Runner> cpu_;
  std::unique_ptr<runner::GpuRunner> gpu_;
};

// 48 tokens run the weight-stored matmul kernels (FP32 arithmetic: tight bounds); 96 tokens run
// prefill's cuBLAS GEMMs on weights decoded to FP32 (TF32 products: the 1e-2 of the largest
// logit, and the hidden states within 2e-3).
TEST_P(GpuRunnerTest, MatchesTheCpuRunner) {
  runner::Runner* cpu = cpu_.get();
  runner::GpuRunner* gpu = gpu_.get();
  const int64_t vocab = cpu->spec().vocab_size, hidden = cpu->spec().hidden_size;
  for (const int64_t n : {48, 96}) {
    const bool gemm = n >= 64;
    std::vector<int32_t> ids(n);
    for (int64_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>((i * 7919 + 13) % vocab);
    std::vector<float> want(n * vocab), got(n * vocab);
    std::vector<std::vector<float>> want_h, got_h;
    auto cache = cpu->NewCache();
    ASSERT_TRUE(cpu->Forward(ids, *cache, want, [&](int64_t, std::span<const float> h) {
                     want_h.emplace_back(h.begin(), h.end());
                   }).ok());
    absl::Status s =
        gpu->Forward(ids, got, [&](int64_t, std::span<const float> h) { got_h.emplace_back(h.begin(), h.end()); });
    ASSERT_TRUE(s.ok()) << s;
    double max_diff = 0, max_logit = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      max_diff = std::max(max_diff, std::fabs(double(got[i]) - want[i]));
      max_logit = std::max(max_logit, std::fabs(double(want[i])));
    }
    EXPECT_LE(max_diff, gemm ? 1e-2 * max_logit : 1e-3) << GetParam() << " n=" << n;
    ASSERT_EQ(got_h.size(), want_h.size());
    for (size_t l = 0; l < want_h.size(); ++l) {
      double err = 0, norm = 0;
      for (int64_t i = 0; i < n * hidden; ++i) {
        err += std::pow(double(got_h[l][i]) - want_h[l][i], 2);
        norm += std::pow(double(want_h[l][i]), 2);
      }
      EXPECT_LE(std::sqrt(err / norm), gemm ? 2e-3 : 1e-4) << GetParam() << " n=" << n << " hidden state " << l;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GpuRunnerTest,
                         ::testing::Values("tiny-llama-bf16", "tiny-qwen2-bf16", "tiny-llama-fp8", "tiny-llama-Q4_K_M.gguf",
                                           "tiny-qwen2-Q8_0.gguf", "tiny-llama-MXFP4.gguf", "tiny-qwen2-fp8",
                                           "tiny-llama-Q5_K_M.gguf",
                                           // compressed-tensors int4 (per channel; ragged g128 with zero
                                           // points) and FP4 safetensors: tools/gpu/pack.sh converts them
                                           "tiny-llama-int4", "tiny-qwen2-int4-g128-asym", "tiny-llama-nvfp4",
                                           "tiny-llama-mxfp4"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

// Prefill then one token at a time through the device cache: each step's logits equal the CPU
// runner's row for that position, and Greedy's arg-max (a recorded graph for single tokens) is
// the CPU's wherever the CPU's top-2 margin leaves no doubt.
TEST_P(GpuRunnerTest, DecodesThroughTheCacheAsTheCpuRunnerDoes) {
  runner::Runner* cpu = cpu_.get();
  runner::GpuRunner* gpu = gpu_.get();
  const int64_t vocab = cpu->spec().vocab_size, n = 40, prompt = 16;
  std::vector<int32_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>((i * 4241 + 5) % vocab);
  std::vector<float> want(n * vocab);
  auto cache = cpu->NewCache();
  ASSERT_TRUE(cpu->Forward(ids, *cache, want).ok());
  auto row = [&](int64_t t) { return std::span<const float>(want).subspan(t * vocab, vocab); };
  auto steps = gpu->NewCache(n);
  auto greedy = gpu->NewCache(n);
  ASSERT_TRUE(steps.ok() && greedy.ok());
  std::vector<float> last(vocab);
  ASSERT_TRUE(gpu->Forward(std::span(ids).first(prompt), **steps, last).ok());
  auto next = gpu->Greedy(std::span(ids).first(prompt), **greedy);
  ASSERT_TRUE(next.ok()) << next.status();
  int decided = 0;
  for (int64_t t = prompt - 1; t < n; ++t) {
    if (t >= prompt) {
      ASSERT_TRUE(gpu->Forward(std::span(ids).subspan(t, 1), **steps, last).ok());
      next = gpu->Greedy(std::span(ids).subspan(t, 1), **greedy);
      ASSERT_TRUE(next.ok()) << next.status();
    }
    double max_diff = 0;
    for (int64_t i = 0; i < vocab; ++i) max_diff = std::max(max_diff, std::fabs(double(last[i]) - row(t)[i]));
    EXPECT_LE(max_diff, 1e-3) << GetParam() << " position " << t;
    std::vector<float> sorted(row(t).begin(), row(t).end());
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
    const int32_t top = static_cast<int32_t>(std::max_element(row(t).begin(), row(t).end()) - row(t).begin());
    if (sorted[0] - sorted[1] > 0.05) {
      EXPECT_EQ(*next, top) << GetParam() << " position " << t;
      ++decided;
    }
  }
  EXPECT_EQ((*steps)->length(), n);
  EXPECT_EQ((*greedy)->length(), n);
  EXPECT_GT(decided, 0);
  EXPECT_EQ(gpu->Forward(std::span(ids).first(1), **steps, last).code(), absl::StatusCode::kOutOfRange);
}

// max |got - want| / max |want| over one prompt's logits.
double RelativeMaxError(std::span<const float> got, std::span<const float> want) {
  double err = 0, norm = 1e-30;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::fabs(double(got[i]) - want[i]));
    norm = std::max(norm, std::fabs(double(want[i])));
  }
  return err / norm;
}

// The arg-max of a row of logits and its margin over the runner-up.
struct Top {
  int32_t token;
  float margin;
};
Top TopOf(std::span<const float> row) {
  std::vector<float> sorted(row.begin(), row.end());
  std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
  return {static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin()), sorted[0] - sorted[1]};
}

constexpr double kDeepseekTolerance = 1e-2;  // relative to the largest logit magnitude
constexpr float kDecidedMargin = 0.05f;      // top-2 margins above this must agree

// Greedy over a prompt, then Generate (its steps queued back to back, each reading the token the
// one before wrote on the device): every token made is the CPU runner's arg-max for the sequence
// so far wherever the CPU's top-2 margin decides it, the cache holds them (a Greedy after it
// continues from them), and a Generate past the cache's room is refused.
void ExpectGenerateFollowsTheCpu(runner::Runner& cpu, const runner::GpuRunner& gpu, const std::string& name) {
  const int64_t vocab = cpu.spec().vocab_size, prompt = 16, count = 23;
  std::vector<int32_t> seq(prompt);
  for (int64_t i = 0; i < prompt; ++i) seq[i] = static_cast<int32_t>((i * 7919 + 11) % vocab);
  auto cache = gpu.NewCache(prompt + count + 1);
  ASSERT_TRUE(cache.ok()) << cache.status();
  auto next = gpu.Greedy(seq, **cache);
  ASSERT_TRUE(next.ok()) << next.status();
  seq.push_back(*next);
  auto made = gpu.Generate(*next, count, **cache);
  ASSERT_TRUE(made.ok()) << made.status();
  ASSERT_EQ(static_cast<int64_t>(made->size()), count);
  seq.insert(seq.end(), made->begin(), made->end());
  EXPECT_EQ((*cache)->length(), prompt + count);
  next = gpu.Greedy(std::span(seq).last(1), **cache);
  ASSERT_TRUE(next.ok()) << next.status();
  seq.push_back(*next);
  EXPECT_EQ(gpu.Generate(seq.back(), 1, **cache).status().code(), absl::StatusCode::kOutOfRange);
  // The CPU's logits over the sequence as the GPU made it: row t picks token t + 1.
  const std::span<const int32_t> context = std::span<const int32_t>(seq).first(seq.size() - 1);
  const int64_t rows = static_cast<int64_t>(context.size());
  std::vector<float> want(rows * vocab);
  auto cpu_cache = cpu.NewCache();
  ASSERT_TRUE(cpu.Forward(context, *cpu_cache, want).ok());
  int decided = 0;
  for (int64_t t = prompt - 1; t < rows; ++t) {
    const Top top = TopOf(std::span<const float>(want).subspan(t * vocab, vocab));
    if (top.margin <= kDecidedMargin) continue;
    EXPECT_EQ(seq[t + 1], top.token) << name << " position " << t;
    ++decided;
  }
  EXPECT_GT(decided, 0) << name;
}

TEST_P(GpuRunnerTest, GeneratesTheCpuRunnersGreedyTokens) { ExpectGenerateFollowsTheCpu(*cpu_, *gpu_, GetParam()); }

// DeepSeek-V3 fixtures: MLA over the latent cache and MoE routed on the host.
class GpuDeepseekTest : public GpuRunnerTest {
 protected:
  // input_ids [prompts, seq] of the fixture's golden.safetensors: next to the fixture, else in the
  // repo's testdata (tools/gpu/pack.sh copies fixture folders without their goldens).
  std::vector<std::vector<int32_t>> GoldenPrompts() {
    fs::path golden = Data() / GetParam() / "golden.safetensors";
    if (!fs::exists(golden)) golden = fs::path(QUANTC_TESTDATA_DIR) / GetParam() / "golden.safetensors";
    std::vector<std::vector<int32_t>> prompts;
    if (!fs::exists(golden)) {
      ADD_FAILURE() << "no golden.safetensors for " << GetParam() << ": its input_ids are the prompts";
      return prompts;
    }
    const auto tensors = testing::ReadRawSafetensors(golden);
    const testing::RawTensor& ids = tensors.at("input_ids");
    EXPECT_EQ(ids.dtype, "I32");
    const int64_t batch = ids.shape.at(0), seq = ids.shape.at(1);
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<int32_t> p(seq);
      std::memcpy(p.data(), ids.bytes.data() + b * seq * 4, seq * 4);
      prompts.push_back(std::move(p));
    }
    return prompts;
  }
};

TEST_P(GpuDeepseekTest, MatchesTheCpuRunnerOnTheGoldenPrompts) {
  const int64_t vocab = cpu_->spec().vocab_size;
  const auto prompts = GoldenPrompts();
  ASSERT_FALSE(prompts.empty());
  int decided = 0;
  for (size_t p = 0; p < prompts.size(); ++p) {
    const int64_t n = static_cast<int64_t>(prompts[p].size());
    std::vector<float> want(n * vocab), got(n * vocab);
    auto cache = cpu_->NewCache();
    ASSERT_TRUE(cpu_->Forward(prompts[p], *cache, want).ok());
    absl::Status s = gpu_->Forward(prompts[p], got);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_LE(RelativeMaxError(got, want), kDeepseekTolerance) << GetParam() << " prompt " << p;
    // Teacher-forced: each position's next-token choice on the same (golden) context.
    for (int64_t t = 0; t < n; ++t) {
      const std::span<const float> cpu_row = std::span<const float>(want).subspan(t * vocab, vocab);
      const Top top = TopOf(cpu_row);
      if (top.margin <= kDecidedMargin) continue;
      EXPECT_EQ(TopOf(std::span<const float>(got).subspan(t * vocab, vocab)).token, top.token)
          << GetParam() << " prompt " << p << " position " << t;
      ++decided;
    }
  }
  EXPECT_GT(decided, 0);
}

// Generate on MoE layers (each step routed on the host, its input still the step before's output).
TEST_P(GpuDeepseekTest, GeneratesTheCpuRunnersGreedyTokens) { ExpectGenerateFollowsTheCpu(*cpu_, *gpu_, GetParam()); }

// Greedy decoding through the cache (a batched prefill, then one token at a time: the MoE layers'
// host routing every step) gives the tokens a full Forward over the generated sequence picks, and
// a step-by-step Forward through a second cache gives that full Forward's rows.
TEST_P(GpuDeepseekTest, GreedyDecodingThroughTheCacheEqualsAFullForward) {
  const int64_t vocab = cpu_->spec().vocab_size, prompt = 16, steps = 16;
  const auto prompts = GoldenPrompts();
  ASSERT_FALSE(prompts.empty());
  ASSERT_GE(static_cast<int64_t>(prompts[0].size()), prompt);
  std::vector<int32_t> seq(prompts[0].begin(), prompts[0].begin() + prompt);
  auto greedy = gpu_->NewCache(prompt + steps);
  ASSERT_TRUE(greedy.ok()) << greedy.status();
  for (int64_t i = 0; i < steps; ++i) {
    auto next = i == 0 ? gpu_->Greedy(seq, **greedy) : gpu_->Greedy(std::span(seq).last(1), **greedy);
    ASSERT_TRUE(next.ok()) << next.status();
    seq.push_back(*next);
  }
  EXPECT_EQ((*greedy)->length(), prompt + steps - 1);
  // Every position's logits but the last generated token's (the sequence as the model saw it).
  const std::span<const int32_t> context = std::span<const int32_t>(seq).first(prompt + steps - 1);
  const int64_t rows = static_cast<int64_t>(context.size());
  std::vector<float> full(rows * vocab), want(rows * vocab);
  absl::Status s = gpu_->Forward(context, full);
  ASSERT_TRUE(s.ok()) << s;
  auto row = [&](const std::vector<float>& logits, int64_t t) {
    return std::span<const float>(logits).subspan(t * vocab, vocab);
  };
  int decided = 0;
  for (int64_t i = 0; i < steps; ++i) {
    const Top top = TopOf(row(full, prompt - 1 + i));
    if (top.margin <= kDecidedMargin) continue;
    EXPECT_EQ(seq[prompt + i], top.token) << GetParam() << " step " << i;
    ++decided;
  }
  EXPECT_GT(decided, 0);
  // The same sequence on the CPU runner.
  auto cpu_cache = cpu_->NewCache();
  ASSERT_TRUE(cpu_->Forward(context, *cpu_cache, want).ok());
  EXPECT_LE(RelativeMaxError(full, want), kDeepseekTolerance) << GetParam();
  // Prefill, then single tokens through a cache, against the full Forward's rows.
  auto stepped = gpu_->NewCache(rows);
  ASSERT_TRUE(stepped.ok());
  std::vector<float> last(vocab);
  ASSERT_TRUE(gpu_->Forward(context.first(prompt), **stepped, last).ok());
  EXPECT_LE(RelativeMaxError(last, row(full, prompt - 1)), kDeepseekTolerance) << GetParam() << " prefill";
  for (int64_t t = prompt; t < rows; ++t) {
    ASSERT_TRUE(gpu_->Forward(context.subspan(t, 1), **stepped, last).ok());
    EXPECT_LE(RelativeMaxError(last, row(full, t)), kDeepseekTolerance) << GetParam() << " position " << t;
  }
  EXPECT_EQ(gpu_->Forward(context.first(1), **stepped, last).code(), absl::StatusCode::kOutOfRange);
}

// tiny-deepseek-v3-yarn: yarn rope (scaled frequencies, attention factor in the tables, mscale² on
// the softmax scale) with prompts longer than its original 64 positions.
INSTANTIATE_TEST_SUITE_P(Deepseek, GpuDeepseekTest,
                         ::testing::Values("tiny-deepseek-v3-bf16", "tiny-deepseek-v3-fp8", "tiny-deepseek-v3-yarn",
                                           "tiny-deepseek-v3-fp4"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

// rotate's online Hadamard (config.json quantc.online_hadamard) still runs on the CPU only.
TEST(GpuRunner, RefusesWhatItDoesNotRunYet) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  auto model = formats::ReadHfFolder(Data() / "tiny-llama-bf16");
  if (!model.ok()) GTEST_SKIP() << "fixture not here";
  model->config["quantc"]["online_hadamard"]["down_proj"]["size"] = model->config["intermediate_size"];
  auto gpu = runner::GpuRunner::Create(*model);
  ASSERT_FALSE(gpu.ok());
  EXPECT_EQ(gpu.status().code(), absl::StatusCode::kUnimplemented) << gpu.status();
  EXPECT_NE(gpu.status().message().find("online Hadamard"), std::string::npos) << gpu.status();
}

}  // namespace
}  // namespace quantc
