// The tensor-parallel simulator on quantc's own mp shards: tiny-deepseek-v3-bf16 sharded N = 1, 2, 4
// ways (the shard pass and mp writer), each rank read back alone, stepped together with DeepSeek's
// all-reduces and head all-gather: logits equal the unsharded runner's within 1e-4 and the
// transformers goldens within the runner's usual tolerance, for full prompts and for a 32-token
// prefill followed by single-token decoding. Then N = 8 on the FP8 proof checkpoint.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
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

// Shards the checkpoint at `folder` N ways into `out` (shard pass + mp writer) and reads each
// rank back from its own file.
absl::StatusOr<std::vector<Model>> ShardAndReadRanks(const fs::path& folder, int64_t n, const fs::path& out,
                                                     const nlohmann::ordered_json& config) {
  auto sharded = formats::ReadHfFolder(folder);
  if (!sharded.ok()) return sharded.status();
  PassManager pm;
  pm.Add(passes::CreateShardPass({.n = n}));
  if (absl::Status s = pm.Run(*sharded); !s.ok()) return s;
  if (absl::Status s = formats::mp::WriteMpShards(*sharded, out, nullptr); !s.ok()) return s;
  std::vector<Model> ranks;
  for (int64_t r = 0; r < n; ++r) {
    auto rank = formats::mp::ReadMpRank(out, r, n, config);
    if (!rank.ok()) return rank.status();
    ranks.push_back(std::move(*rank));
  }
  return ranks;
}

// Prompt p of a golden's I32 input_ids [prompts, seq].
std::vector<int32_t> Prompt(const testing::RawTensor& ids, int64_t p) {
  const int64_t seq = ids.shape[1];
  std::vector<int32_t> prompt(seq);
  std::memcpy(prompt.data(), ids.bytes.data() + p * seq * 4, seq * 4);
  return prompt;
}

// Logits [seq, vocab] of one full forward: `want` from the unsharded runner, `got` from the ranks.
void BothLogits(const Runner& reference, const TensorParallelRunner& tp, std::span<const int32_t> prompt,
                std::vector<float>& want, std::vector<float>& got) {
  want.assign(prompt.size() * tp.vocab_size(), 0.0f);
  got.assign(want.size(), 0.0f);
  auto cache = reference.NewCache();
  ASSERT_TRUE(reference.Forward(prompt, *cache, want).ok());
  auto caches = tp.NewCaches();
  ASSERT_TRUE(tp.Forward(prompt, caches, got).ok());
}

class TensorParallelTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(TensorParallelTest, ShardedLogitsEqualTheUnshardedModel) {
  const int64_t n = GetParam();
  const fs::path out = fs::path(::testing::TempDir()) / ("tp-" + std::to_string(n));
  fs::remove_all(out);
  auto full = formats::ReadHfFolder(kModel);
  ASSERT_TRUE(full.ok()) << full.status();
  auto ranks = ShardAndReadRanks(kModel, n, out, full->config);
  ASSERT_TRUE(ranks.ok()) << ranks.status();
  auto tp = TensorParallelRunner::Create(*ranks);
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
    const std::vector<int32_t> prompt = Prompt(ids, p);
    std::vector<float> want, got;
    BothLogits(**reference, **tp, prompt, want, got);
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

// The proof checkpoint: DeepSeek-V3-architecture FP8 with every split dim a multiple of 128 * 8,
// regenerated by the C++ generator, sharded N = 8 with FP8 and scales kept, against logits that
// transformers computed once from the same bytes (testdata/goldens/mp_proof).
TEST(TensorParallel, EightWayFp8ProofCheckpointMatchesTransformers) {
  const fs::path dir = fs::path(::testing::TempDir()) / "mp-proof";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path gen = fs::path(QUANTC_BINARY_DIR) / "tools" / "bench" / "make_synthetic_checkpoint";
  ASSERT_EQ(std::system((gen.string() + " --mp-proof --out '" + (dir / "ckpt").string() + "' > /dev/null").c_str()), 0);
  auto full = formats::ReadHfFolder(dir / "ckpt");
  ASSERT_TRUE(full.ok()) << full.status();
  auto ranks = ShardAndReadRanks(dir / "ckpt", 8, dir / "mp8", full->config);
  ASSERT_TRUE(ranks.ok()) << ranks.status();
  auto tp = TensorParallelRunner::Create(*ranks);
  ASSERT_TRUE(tp.ok()) << tp.status();
  auto reference = Runner::Create(*full);
  ASSERT_TRUE(reference.ok()) << reference.status();

  const auto goldens = testing::ReadRawSafetensors(fs::path(QUANTC_TESTDATA_DIR) / "goldens/mp_proof/golden.safetensors");
  const testing::RawTensor& ids = goldens.at("input_ids");
  const std::vector<float> golden = testing::AsFloats(goldens.at("logits"));
  const int64_t prompts = ids.shape[0], seq = ids.shape[1], vocab = (*tp)->vocab_size();
  ASSERT_EQ(static_cast<int64_t>(golden.size()), prompts * seq * vocab);
  for (int64_t p = 0; p < prompts; ++p) {
    const std::vector<int32_t> prompt = Prompt(ids, p);
    std::vector<float> want, got;
    BothLogits(**reference, **tp, prompt, want, got);
    const float* g = golden.data() + p * seq * vocab;
    const double vs_full = testing::MaxAbsDiff(got.data(), want.data(), seq * vocab);
    const double vs_golden = testing::MaxAbsDiff(got.data(), g, seq * vocab);
    int top1_equal = 0;
    for (int64_t t = 0; t < seq; ++t) {
      const auto row = [&](const float* l) { return std::max_element(l + t * vocab, l + (t + 1) * vocab) - (l + t * vocab); };
      top1_equal += row(got.data()) == row(g);
    }
    std::printf("N = 8 proof checkpoint, prompt %ld: vs unsharded %.3g, vs transformers %.3g, top-1 %d/%ld\n", p,
                vs_full, vs_golden, top1_equal, seq);
    EXPECT_LE(vs_full, 1e-4) << "prompt " << p;
    EXPECT_LE(vs_golden, 1e-3) << "prompt " << p;
    EXPECT_EQ(top1_equal, seq) << "prompt " << p;
  }
}

TEST(TensorParallel, RanksMustBeAWholeSet) {
  auto full = formats::ReadHfFolder(kModel);
  ASSERT_TRUE(full.ok());
  std::vector<Model> one;
  one.push_back(std::move(*full));  // an HF model is not an mp rank
  EXPECT_EQ(TensorParallelRunner::Create(one).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantc::runner
