// The shard pass and the mp writer against convert.py's rules, checked independently of the code:
// every rank file of tiny-deepseek-v3 (N = 1, 2, 4) is read back with the test's own safetensors
// parser and each tensor compared with the slice of the input tensor convert.py would put there
// (names from the spec's table, written out here; splits computed here from raw bytes). Bad N are
// refused naming the tensor and dimension, leaving no files.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "formats/mp/writer.h"
#include "gtest/gtest.h"
#include "lib/pass/pass_manager.h"
#include "passes/shard.h"
#include "tests/testing/raw_safetensors.h"

namespace quantc::passes {
namespace {
namespace fs = std::filesystem;
using testing::RawTensor;

const fs::path kBf16 = fs::path(QUANTC_TESTDATA_DIR) / "tiny-deepseek-v3-bf16";
const fs::path kFp8 = fs::path(QUANTC_TESTDATA_DIR) / "tiny-deepseek-v3-fp8";

// Slice r of n along `dim` of a row-major tensor with `es`-byte elements.
std::vector<uint8_t> Slice(const RawTensor& t, int dim, int64_t r, int64_t n, size_t es) {
  int64_t outer = 1, inner = static_cast<int64_t>(es);
  for (int i = 0; i < dim; ++i) outer *= t.shape[i];
  for (size_t i = dim + 1; i < t.shape.size(); ++i) inner *= t.shape[i];
  const int64_t len = t.shape[dim], part = len / n;
  std::vector<uint8_t> out;
  for (int64_t o = 0; o < outer; ++o) {
    const uint8_t* base = t.bytes.data() + (o * len + r * part) * inner;
    out.insert(out.end(), base, base + part * inner);
  }
  return out;
}

// convert.py's rename of an HF name, spelled out for the names the fixture has.
std::string Expected(const std::string& hf) {
  static const std::vector<std::pair<std::string, std::string>> kSteps = {
      {"model.", ""}, {"self_attn", "attn"}, {"mlp", "ffn"}, {"weight_scale_inv", "scale"},
      {"e_score_correction_bias", "bias"}, {"embed_tokens", "embed"}, {"input_layernorm", "attn_norm"},
      {"post_attention_layernorm", "ffn_norm"}, {"q_a_proj", "wq_a"}, {"q_a_layernorm", "q_norm"},
      {"q_b_proj", "wq_b"}, {"kv_a_proj_with_mqa", "wkv_a"}, {"kv_a_layernorm", "kv_norm"},
      {"kv_b_proj", "wkv_b"}, {"o_proj", "wo"}, {"gate_proj", "w1"}, {"down_proj", "w2"}, {"up_proj", "w3"},
      {"lm_head", "head"}};
  std::string s = hf;
  for (const auto& [from, to] : kSteps) {
    if (size_t at = s.find(from); at != std::string::npos) s.replace(at, from.size(), to);
  }
  return s;
}

int SplitDim(const std::string& demo) {
  for (const char* k : {".wq_b.", ".wkv_b.", ".w1.", ".w3.", "embed.", "head."}) {
    if (demo.find(k) != std::string::npos) return 0;
  }
  for (const char* k : {".wo.", ".w2."}) {
    if (demo.find(k) != std::string::npos) return 1;
  }
  return -1;
}

absl::Status Shard(const fs::path& in, int64_t n, const fs::path& out) {
  auto model = formats::ReadHfFolder(in);
  if (!model.ok()) return model.status();
  PassManager pm;
  pm.Add(CreateShardPass({.n = n}));
  if (absl::Status s = pm.Run(*model); !s.ok()) return s;
  return formats::mp::WriteMpShards(*model, out, nullptr);
}

class ShardTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(ShardTest, RankFilesHoldConvertPySlices) {
  const int64_t n = GetParam();
  const fs::path out = fs::path(::testing::TempDir()) / ("shard-" + std::to_string(n));
  fs::remove_all(out);
  ASSERT_TRUE(Shard(kBf16, n, out).ok());
  std::map<std::string, RawTensor> input;
  for (const auto& f : fs::directory_iterator(kBf16)) {
    if (f.path().extension() == ".safetensors" && f.path().filename().string().rfind("model", 0) == 0) input.merge(testing::ReadRawSafetensors(f.path()));
  }
  std::vector<std::map<std::string, RawTensor>> ranks;
  for (int64_t r = 0; r < n; ++r) ranks.push_back(testing::ReadRawSafetensors(out / formats::mp::RankFileName(r, n)));
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));
  const int64_t experts_per_rank = 8 / n;
  size_t placed = 0;
  for (const auto& [hf, t] : input) {
    const std::string demo = Expected(hf);
    const size_t es = t.bytes.size() / std::max<int64_t>(1, [&] { int64_t c = 1; for (int64_t d : t.shape) c *= d; return c; }());
    const size_t e = demo.find(".experts.");
    for (int64_t r = 0; r < n; ++r) {
      auto it = ranks[r].find(demo);
      if (e != std::string::npos) {  // routed expert: whole, on the rank owning its range
        const int64_t id = std::stoll(demo.substr(e + 9));
        ASSERT_EQ(it != ranks[r].end(), id / experts_per_rank == r) << demo << " rank " << r;
        if (it != ranks[r].end()) {
          EXPECT_EQ(it->second.bytes, t.bytes) << demo;
        }
        continue;
      }
      ASSERT_NE(it, ranks[r].end()) << demo << " missing on rank " << r;
      const int dim = SplitDim(demo);
      EXPECT_EQ(it->second.bytes, dim < 0 ? t.bytes : Slice(t, dim, r, n, es)) << demo << " rank " << r;
      EXPECT_EQ(it->second.dtype, t.dtype) << demo;
    }
    ++placed;
  }
  size_t held = 0;
  for (const auto& rank : ranks) held += rank.size();
  EXPECT_EQ(placed, input.size());
  EXPECT_GT(held, 0u);
}

INSTANTIATE_TEST_SUITE_P(N, ShardTest, ::testing::Values(1, 2, 4));

TEST(ShardPass, DropsMtpLayersAndRenamesAsConvertPy) {
  auto model = formats::ReadHfFolder(kBf16);
  ASSERT_TRUE(model.ok());
  // An MTP layer (index num_hidden_layers = 3), as DeepSeek-V3 ships layer 61.
  const TensorEntry* norm = model->tensors.Find("model.layers.0.input_layernorm.weight");
  ASSERT_NE(norm, nullptr);
  TensorEntry mtp = *norm;
  mtp.name = "model.layers.3.input_layernorm.weight";
  ASSERT_TRUE(model->tensors.Add(mtp).ok());
  PassManager pm;
  pm.Add(CreateShardPass({.n = 2}));
  ASSERT_TRUE(pm.Run(*model).ok());
  EXPECT_EQ(model->tensors.Find("layers.3.attn_norm.weight"), nullptr);
  EXPECT_EQ(model->layout, "mp");
  EXPECT_EQ(model->mp_ranks, 2);
  // convert.py's names for a few kinds, and their placements.
  const TensorEntry* router_bias = model->tensors.Find("layers.1.ffn.gate.bias");
  ASSERT_NE(router_bias, nullptr);
  EXPECT_EQ(router_bias->placement.kind, Placement::Kind::kReplicated);
  const TensorEntry* wo = model->tensors.Find("layers.0.attn.wo.weight");
  ASSERT_NE(wo, nullptr);
  EXPECT_EQ(wo->placement.kind, Placement::Kind::kSplit);
  EXPECT_EQ(wo->placement.dim, 1);
  const TensorEntry* expert = model->tensors.Find("layers.1.ffn.experts.5.w3.weight");
  ASSERT_NE(expert, nullptr);
  EXPECT_EQ(expert->placement.kind, Placement::Kind::kOneRank);
  EXPECT_EQ(expert->placement.rank, 1);  // 8 experts / 2 ranks: 4..7 on rank 1
  const TensorEntry* shared = model->tensors.Find("layers.1.ffn.shared_experts.w2.weight");
  ASSERT_NE(shared, nullptr);
  EXPECT_EQ(shared->placement.dim, 1);
  EXPECT_NE(model->tensors.Find("embed.weight"), nullptr);
  EXPECT_NE(model->tensors.Find("head.weight"), nullptr);
  EXPECT_NE(model->tensors.Find("layers.0.attn.kv_norm.weight"), nullptr);
}

TEST(ShardPass, RefusesNTheShapesDoNotAllow) {
  const fs::path out = fs::path(::testing::TempDir()) / "shard-bad";
  fs::remove_all(out);
  // FP8: the 640-wide dense MLP has 5 scale blocks, so dim 1 of down_proj's scale cannot halve.
  absl::Status s = Shard(kFp8, 2, out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("weight_scale_inv"), std::string::npos) << s;
  EXPECT_NE(s.message().find("dim"), std::string::npos) << s;
  // 8 heads would be needed for N = 8 (the fixture has 4).
  s = Shard(kBf16, 8, out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("num_attention_heads"), std::string::npos) << s;
  EXPECT_FALSE(fs::exists(out / formats::mp::RankFileName(0, 2)));
  EXPECT_FALSE(fs::exists(out / formats::mp::RankFileName(0, 8)));
  // FP8 with N = 1 keeps FP8 weights and their scales.
  ASSERT_TRUE(Shard(kFp8, 1, out).ok());
  auto rank0 = testing::ReadRawSafetensors(out / formats::mp::RankFileName(0, 1));
  ASSERT_TRUE(rank0.count("layers.0.ffn.w2.scale"));
  EXPECT_EQ(rank0.at("layers.0.ffn.w2.weight").dtype, "F8_E4M3");
}

}  // namespace
}  // namespace quantc::passes
