// The runner on models in llama.cpp's GGUF layout against transformers: each fixture converted by
// tests/testing/gguf_layout_reference.h (an independent copy of the converter's tensor
// transformations: permuted llama q/k rows, split MLA kv_b, stacked experts, rope_freqs, F32
// vectors), with its config rebuilt from the GGUF keys (arch::HfConfigFromGguf), reproduces the
// fixture's golden.safetensors within runner_golden_test's tolerances (logits 1e-3 absolute, hidden
// states 1e-3 relative RMS, incremental decoding 1e-4). Controls show the checks can fail: the llama
// model without its rope factors, or with q/k rows left unpermuted, departs from the golden. Block
// types: a model quantized to ggml types runs exactly like the same model holding the decoded
// weights in F32.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "formats/hf/hf_folder.h"
#include "gtest/gtest.h"
#include "tests/testing/runner_checks.h"
#include "lib/arch/gguf_layout.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/runner/runner.h"
#include "tests/testing/gguf_layout_reference.h"
#include "tests/testing/raw_safetensors.h"

namespace quantc::runner {
namespace {
namespace fs = std::filesystem;

absl::StatusOr<Model> ReadFixture(const std::string& fixture) {
  return formats::ReadHfFolder(fs::path(QUANTC_TESTDATA_DIR) / fixture);
}

// The fixture in GGUF layout with the config a GGUF file yields.
absl::StatusOr<Model> GgufFixture(const std::string& fixture) {
  auto hf = ReadFixture(fixture);
  if (!hf.ok()) return hf.status();
  auto gguf = testing::GgufLayoutReference(*hf);
  if (!gguf.ok()) return gguf.status();
  auto config = arch::HfConfigFromGguf(*gguf);
  if (!config.ok()) return config.status();
  gguf->config = *std::move(config);
  return gguf;
}

struct Golden {
  int64_t batch = 0, seq = 0;
  std::vector<int32_t> ids;
  std::vector<float> logits;
  std::map<int64_t, std::vector<float>> hidden;
};

Golden ReadGolden(const std::string& fixture) {
  auto raw = testing::ReadRawSafetensors(fs::path(QUANTC_TESTDATA_DIR) / fixture / "golden.safetensors");
  Golden g;
  const auto& ids = raw.at("input_ids");
  g.batch = ids.shape[0], g.seq = ids.shape[1];
  g.ids.resize(g.batch * g.seq);
  std::memcpy(g.ids.data(), ids.bytes.data(), g.ids.size() * 4);
  g.logits = testing::AsFloats(raw.at("logits"));
  for (int64_t n = 0; raw.count("hidden_states." + std::to_string(n)); ++n) {
    g.hidden[n] = testing::AsFloats(raw.at("hidden_states." + std::to_string(n)));
  }
  return g;
}

// Max |logit - golden| over the first prompt.
double LogitDeparture(const Model& model, const Golden& g) {
  auto runner = Runner::Create(model);
  EXPECT_TRUE(runner.ok()) << runner.status();
  if (!runner.ok()) return INFINITY;
  const int64_t vocab = (*runner)->spec().vocab_size;
  auto cache = (*runner)->NewCache();
  std::vector<float> logits(g.seq * vocab);
  EXPECT_TRUE((*runner)->Forward(std::span(g.ids).subspan(0, g.seq), *cache, logits).ok());
  double d = 0;
  for (size_t i = 0; i < logits.size(); ++i) d = std::max(d, std::fabs(double(logits[i]) - g.logits[i]));
  return d;
}

class RunnerGgufLayoutTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RunnerGgufLayoutTest, MatchesTransformers) {
  auto model = GgufFixture(GetParam());
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(model->layout, "gguf");
  ASSERT_EQ(model->tensors.Find("model.embed_tokens.weight"), nullptr);
  ASSERT_NE(model->tensors.Find("token_embd.weight"), nullptr);
  auto runner = Runner::Create(*model);
  ASSERT_TRUE(runner.ok()) << runner.status();
  const auto& spec = (*runner)->spec();
  if (spec.model_type == "llama") {
    // The scaling comes from rope_freqs.weight, not from the config.
    EXPECT_EQ(spec.rope.type, arch::RopeType::kDefault);
    EXPECT_TRUE(spec.rope.interleaved);
    ASSERT_NE(model->tensors.Find("rope_freqs.weight"), nullptr);
  }
  if (spec.mla.enabled()) {
    EXPECT_EQ(model->tensors.Find("blk.0.attn_kv_b.weight"), nullptr);
    ASSERT_NE(model->tensors.Find("blk.0.attn_k_b.weight"), nullptr);
  }
  if (spec.moe.enabled()) {
    const TensorEntry* exps = model->tensors.Find("blk." + std::to_string(spec.moe.first_k_dense_replace) + ".ffn_up_exps.weight");
    ASSERT_NE(exps, nullptr);
    EXPECT_EQ(exps->info.shape, (Shape{spec.moe.n_routed_experts, spec.moe.moe_intermediate_size, spec.hidden_size}));
  }

  const Golden g = ReadGolden(GetParam());
  const int64_t vocab = spec.vocab_size, hidden = spec.hidden_size, seq = g.seq;
  for (int64_t b = 0; b < g.batch; ++b) {
    std::span<const int32_t> prompt(g.ids.data() + b * seq, seq);
    auto cache = (*runner)->NewCache();
    std::vector<float> logits(seq * vocab);
    std::vector<std::vector<float>> hiddens(spec.num_layers + 1);
    absl::Status s = (*runner)->Forward(prompt, *cache, logits, [&](int64_t i, std::span<const float> h) {
      hiddens[i].assign(h.begin(), h.end());
    });
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_LE(testing::MaxAbsDiff(logits.data(), g.logits.data() + b * seq * vocab, seq * vocab), 1e-3)
        << "prompt " << b << " logits";
    for (int64_t n = 0; n <= spec.num_layers; ++n) {
      const std::vector<float>& want = g.hidden.at(n);
      EXPECT_LE(testing::RelativeRms(hiddens[n].data(), want.data() + b * seq * hidden, seq * hidden), 1e-3)
          << "prompt " << b << " hidden_states." << n;
    }
    testing::ExpectIncrementalMatchesFull(**runner, prompt, logits, vocab, b);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RunnerGgufLayoutTest,
                         ::testing::Values("tiny-qwen2-bf16", "tiny-llama-bf16", "tiny-deepseek-v3-bf16",
                                           "tiny-deepseek-v3-yarn"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The reference's rope_freqs for tiny-llama-bf16 equal the converter's, as torch 1.13 computed them
// running LlamaModel.generate_extra_tensors' code (float32 bits).
TEST(GgufLayoutReference, RopeFreqFactorsMatchTorch) {
  constexpr uint32_t kTorch[32] = {
      0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000,
      0x3fb00967, 0x40161353, 0x408d039e, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000,
      0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000,
      0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000, 0x41000000};
  auto hf = ReadFixture("tiny-llama-bf16");
  ASSERT_TRUE(hf.ok()) << hf.status();
  auto factors = testing::Llama3RopeFreqFactors(hf->config);
  ASSERT_TRUE(factors.has_value());
  ASSERT_EQ(factors->size(), 32u);
  for (size_t i = 0; i < 32; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &(*factors)[i], 4);
    EXPECT_EQ(bits, kTorch[i]) << "factor " << i << " = " << (*factors)[i];
  }
}

// A GGUF-layout model that kept its Hugging Face config (llama3 rope_parameters) next to
// rope_freqs.weight, as a pass may leave it: the scaling is applied once, not twice.
TEST(RunnerGgufLayout, LlamaWithHfConfigAppliesRopeScalingOnce) {
  auto hf = ReadFixture("tiny-llama-bf16");
  ASSERT_TRUE(hf.ok()) << hf.status();
  auto model = testing::GgufLayoutReference(*hf);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(model->config["rope_parameters"]["rope_type"], "llama3");
  EXPECT_LE(LogitDeparture(*model, ReadGolden("tiny-llama-bf16")), 1e-3);
}

// Controls: the comparison above detects a missing rope scaling and unpermuted q/k rows.
TEST(RunnerGgufLayout, ControlsDepartFromTheGolden) {
  const Golden g = ReadGolden("tiny-llama-bf16");
  {
    auto model = GgufFixture("tiny-llama-bf16");
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_EQ(model->tensors.RemoveIf([](const TensorEntry& e) { return e.name == "rope_freqs.weight"; }), 1u);
    EXPECT_GT(LogitDeparture(*model, g), 1e-2) << "without rope_freqs";
  }
  {
    auto model = GgufFixture("tiny-llama-bf16");
    auto hf = ReadFixture("tiny-llama-bf16");
    ASSERT_TRUE(model.ok() && hf.ok());
    for (int64_t l = 0; l < 4; ++l) {
      for (const char* w : {"q", "k"}) {
        TensorEntry* e = model->tensors.FindMutable("blk." + std::to_string(l) + ".attn_" + w + ".weight");
        const TensorEntry* orig = hf->tensors.Find("model.layers." + std::to_string(l) + ".self_attn." + w + "_proj.weight");
        ASSERT_TRUE(e != nullptr && orig != nullptr);
        e->source = orig->source;
      }
    }
    EXPECT_GT(LogitDeparture(*model, g), 1e-2) << "with Hugging Face q/k row order";
  }
}

// Every float matrix of `model` (2-D or stacked 3-D, not the F32 router) quantized row by row to
// `type` (Q8_0 where a row is not whole `type` blocks); `decoded` gets the same model with the
// decoded values as F32, which the runner must execute identically.
void Quantize(Model& model, DType type, Model& decoded) {
  namespace gq = kernels::ggml_quants;
  decoded.config = model.config;
  decoded.metadata = model.metadata;
  decoded.layout = model.layout;
  decoded.source_path = model.source_path;
  int quantized = 0;
  for (TensorEntry& e : model.tensors.mutable_entries()) {
    TensorEntry d = e;
    if (e.info.shape.size() >= 2 && e.info.dtype != DType::kF32) {
      auto values = ReadAllAsF32(*e.source, e.info);
      ASSERT_TRUE(values.ok()) << values.status();
      const int64_t cols = e.info.shape.back(), rows = static_cast<int64_t>(values->size()) / cols;
      const DType t = cols % Traits(type).block_elems == 0 ? type : DType::kQ8_0;
      const uint64_t row_bytes = gq::RowBytes(t, cols);
      std::vector<uint8_t> q(rows * row_bytes);
      std::vector<float> back(values->size());
      for (int64_t r = 0; r < rows; ++r) {
        gq::Reference(t).quantize(values->data() + r * cols, q.data() + r * row_bytes, cols, nullptr);
        gq::Reference(t).dequantize(q.data() + r * row_bytes, back.data() + r * cols, cols);
      }
      e.info.dtype = t;
      e.source = std::make_shared<OwnedTensorSource>(std::move(q));
      std::vector<uint8_t> f32(back.size() * 4);
      std::memcpy(f32.data(), back.data(), f32.size());
      d.info.dtype = DType::kF32;
      d.source = std::make_shared<OwnedTensorSource>(std::move(f32));
      ++quantized;
    }
    ASSERT_TRUE(decoded.tensors.Add(std::move(d)).ok());
  }
  EXPECT_GT(quantized, 10);
}

class RunnerGgufBlockTypesTest : public ::testing::TestWithParam<std::tuple<std::string, DType>> {};

TEST_P(RunnerGgufBlockTypesTest, RunsLikeTheDecodedWeights) {
  const auto& [fixture, type] = GetParam();
  auto model = GgufFixture(fixture);
  ASSERT_TRUE(model.ok()) << model.status();
  Model decoded;
  Quantize(*model, type, decoded);
  auto runner = Runner::Create(*model);
  auto reference = Runner::Create(decoded);
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE(reference.ok()) << reference.status();
  const Golden g = ReadGolden(fixture);
  const int64_t vocab = (*runner)->spec().vocab_size;
  std::span<const int32_t> prompt(g.ids.data(), g.seq);
  std::vector<float> got(g.seq * vocab), want(got.size());
  auto c1 = (*runner)->NewCache(), c2 = (*reference)->NewCache();
  ASSERT_TRUE((*runner)->Forward(prompt, *c1, got).ok());
  ASSERT_TRUE((*reference)->Forward(prompt, *c2, want).ok());
  double diff = 0, err = 0, ref = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, std::fabs(double(got[i]) - want[i]));
    err += (got[i] - double(g.logits[i])) * (got[i] - double(g.logits[i]));
    ref += double(g.logits[i]) * g.logits[i];
  }
  // Same FP32 values through the same MatMul: equal up to nothing but (absent) rounding.
  EXPECT_LE(diff, 1e-5);
  // Sanity: quantization moved the logits, but not into noise (relative RMS against transformers).
  const double departure = std::sqrt(err / ref);
  EXPECT_GT(departure, 1e-5);
  EXPECT_LT(departure, 0.5);
  std::printf("%s %s: logits' relative RMS departure from the golden %.4g\n", fixture.c_str(),
              std::string(Name(type)).c_str(), departure);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RunnerGgufBlockTypesTest,
                         ::testing::Combine(::testing::Values("tiny-llama-bf16", "tiny-deepseek-v3-bf16"),
                                            ::testing::Values(DType::kQ8_0, DType::kQ4_K)),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param) + "_" + std::string(Name(std::get<1>(info.param)));
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace quantc::runner
