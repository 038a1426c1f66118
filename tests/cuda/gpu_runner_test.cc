// The GPU forward pass against the CPU runner on the fixtures (and on a Q4_K_M GGUF of tiny-llama
// made by quantc convert): logits within 1e-3 of the CPU's (the runner golden test's tolerance
// against transformers), every hidden state within 1e-4 relative RMS. On the device the fixtures
// come from $QUANTC_GPU_TESTDATA (tools/gpu/pack.sh copies them), elsewhere from the repo.
#include <algorithm>
#include <cmath>
#include <functional>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "gtest/gtest.h"
#include "lib/cuda/cuda.h"
#include "lib/runner/gpu_runner.h"
#include "lib/runner/runner.h"
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

TEST_P(GpuRunnerTest, MatchesTheCpuRunner) {
  runner::Runner* cpu = cpu_.get();
  runner::GpuRunner* gpu = gpu_.get();
  const int64_t vocab = cpu->spec().vocab_size, hidden = cpu->spec().hidden_size, n = 48;
  std::vector<int32_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>((i * 7919 + 13) % vocab);
  std::vector<float> want(n * vocab), got(n * vocab);
  std::vector<std::vector<float>> want_h, got_h;
  auto cache = cpu->NewCache();
  ASSERT_TRUE(cpu->Forward(ids, *cache, want, [&](int64_t, std::span<const float> h) { want_h.emplace_back(h.begin(), h.end()); }).ok());
  absl::Status s = gpu->Forward(ids, got, [&](int64_t, std::span<const float> h) { got_h.emplace_back(h.begin(), h.end()); });
  ASSERT_TRUE(s.ok()) << s;
  double max_diff = 0;
  for (size_t i = 0; i < want.size(); ++i) max_diff = std::max(max_diff, std::fabs(double(got[i]) - want[i]));
  EXPECT_LE(max_diff, 1e-3) << GetParam();
  ASSERT_EQ(got_h.size(), want_h.size());
  for (size_t l = 0; l < want_h.size(); ++l) {
    double err = 0, norm = 0;
    for (int64_t i = 0; i < n * hidden; ++i) {
      err += std::pow(double(got_h[l][i]) - want_h[l][i], 2);
      norm += std::pow(double(want_h[l][i]), 2);
    }
    EXPECT_LE(std::sqrt(err / norm), 1e-4) << GetParam() << " hidden state " << l;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GpuRunnerTest,
                         ::testing::Values("tiny-llama-bf16", "tiny-qwen2-bf16", "tiny-llama-fp8", "tiny-llama-Q4_K_M.gguf",
                                           "tiny-qwen2-Q8_0.gguf", "tiny-llama-MXFP4.gguf", "tiny-qwen2-fp8",
                                           "tiny-llama-Q5_K_M.gguf"),
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

TEST(GpuRunner, RefusesWhatItDoesNotRunYet) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  auto model = formats::ReadHfFolder(Data() / "tiny-deepseek-v3-bf16");
  if (!model.ok()) GTEST_SKIP() << "fixture not here";
  EXPECT_EQ(runner::GpuRunner::Create(*model).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace quantc
