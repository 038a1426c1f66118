// The tensor-parallel simulator on quantc's own mp shards: tiny-deepseek-v3-bf16 sharded N = 1, 2, 4
// ways (the shard pass and mp writer), each rank read back alone, stepped together with DeepSeek's
// all-reduces and head all-gather: logits equal the unsharded runner's within 1e-4 and the
// transformers goldens within the runner's usual tolerance, for full prompts and for a 32-token
// prefill followed by single-token decoding.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "formats/mp/reader.h"
#include "formats/mp/writer.h"
#include "gtest/gtest.h"
#include "lib/pass/pass_manager.h"
#include "lib/runner/runner.h"
#include "lib/runner/tensor_parallel.h"
#include "passes/shard.h"
#include "tests/testing/raw_safetensors.h"
#include "tests/testing/runner_checks.h"

namespace quantc::runner {
namespace {
namespace fs = std::filesystem;

const fs::path kModel = fs::path(QUANTC_TESTDATA_DIR) / "tiny-deepseek-v3-bf16";

class TensorParallelTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(TensorParallelTest, ShardedLogitsEqualTheUnshardedModel) {
  const int64_t n = GetParam();
  const fs::path out = fs::path(::testing::TempDir()) / ("tp-" + std::to_string(n));
  fs::remove_all(out);
  auto full = formats::ReadHfFolder(kModel);
  ASSERT_TRUE(full.ok()) << full.status();
  {
    auto sharded = formats::ReadHfFolder(kModel);
    ASSERT_TRUE(sharded.ok());
    PassManager pm;
    pm.Add(passes::CreateShardPass({.n = n}));
    ASSERT_TRUE(pm.Run(*sharded).ok());
    ASSERT_TRUE(formats::mp::WriteMpShards(*sharded, out, nullptr).ok());
  }
  std::vector<Model> ranks;
  for (int64_t r = 0; r < n; ++r) {
    auto rank = formats::mp::ReadMpRank(out, r, n, full->config);
    ASSERT_TRUE(rank.ok()) << rank.status();
    ranks.push_back(std::move(*rank));
  }
  auto tp = TensorParallelRunner::Create(ranks);
  ASSERT_TRUE(tp.ok()) << tp.status();
  auto reference = Runner::Create(*full);
  ASSERT_TRUE(reference.ok()) << reference.status();
  const int64_t vocab = (*reference)->spec().vocab_size;
  ASSERT_EQ((*tp)->vocab_size(), vocab);

  const auto goldens = testing::ReadRawSafetensors(kModel / "golden.safetensors");
  const testing::RawTensor& ids = goldens.at("input_ids");
  const std::vector<float> golden = testing::AsFloats(goldens.at("logits"));
  const int64_t prompts = ids.shape[0], seq = ids.shape[1];
  for (int64_t p = 0; p < prompts; ++p) {
    std::vector<int32_t> prompt(seq);  // I32 ids
    std::memcpy(prompt.data(), ids.bytes.data() + p * seq * 4, seq * 4);
    std::vector<float> want(seq * vocab), got(seq * vocab);
    auto cache = (*reference)->NewCache();
    ASSERT_TRUE((*reference)->Forward(prompt, *cache, want).ok());
    auto caches = (*tp)->NewCaches();
    ASSERT_TRUE((*tp)->Forward(prompt, caches, got).ok());
    const double vs_full = testing::MaxAbsDiff(got.data(), want.data(), seq * vocab);
    const double vs_golden = testing::MaxAbsDiff(got.data(), golden.data() + p * seq * vocab, seq * vocab);
    std::printf("N = %ld, prompt %ld: max |logit diff| vs unsharded %.3g, vs transformers %.3g\n", n, p, vs_full,
                vs_golden);
    EXPECT_LE(vs_full, 1e-4) << "prompt " << p << ", N = " << n;
    EXPECT_LE(vs_golden, 1e-3) << "prompt " << p;
    // Prefill 32, then one token at a time.
    auto inc = (*tp)->NewCaches();
    std::vector<float> step(32 * vocab);
    ASSERT_TRUE((*tp)->Forward(std::span(prompt).subspan(0, 32), inc, step).ok());
    double diff = testing::MaxAbsDiff(step.data(), want.data(), 32 * vocab);
    std::vector<float> one(vocab);
    for (int64_t t = 32; t < seq; ++t) {
      ASSERT_TRUE((*tp)->Forward(std::span(prompt).subspan(t, 1), inc, one).ok());
      diff = std::max(diff, testing::MaxAbsDiff(one.data(), want.data() + t * vocab, vocab));
    }
    EXPECT_LE(diff, 1e-4) << "prompt " << p << ": incremental decoding, N = " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(N, TensorParallelTest, ::testing::Values(1, 2, 4));

TEST(TensorParallel, RanksMustBeAWholeSet) {
  auto full = formats::ReadHfFolder(kModel);
  ASSERT_TRUE(full.ok());
  std::vector<Model> one;
  one.push_back(std::move(*full));  // an HF model is not an mp rank
  EXPECT_EQ(TensorParallelRunner::Create(one).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantc::runner
