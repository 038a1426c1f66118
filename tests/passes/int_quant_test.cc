// int-quant end to end: each BF16 fixture converted with a scheme, written, and read back by the
// test's own safetensors parser. Every quantized weight's packed codes (extracted bit by bit),
// BF16 scales, zero points and shape must equal the float64 transcription of quant.py
// (tests/testing/int_quant_reference.h) applied to the fixture's BF16 weights; every other tensor
// is unchanged; config.json carries compressed-tensors' quantization_config. The runner on the
// written model must give the logits it gives on the fixture with the test's own dequantized
// weights (F32), and a perplexity above BF16's but within a bound. Refusals name the tensor.
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/pass/pass_manager.h"
#include "lib/runner/eval.h"
#include "lib/runner/runner.h"
#include "lib/tokenizer/tokenizer.h"
#include "passes/gguf_layout.h"
#include "passes/int_quant.h"
#include "tests/status_matchers.h"
#include "tests/testing/int_quant_reference.h"
#include "tests/testing/raw_safetensors.h"

namespace quantc::passes {
namespace {
namespace fs = std::filesystem;
using ::quantc::testing::RawTensor;
using ::quantc::testing::RefIntParams;
using ::quantc::testing::StatusIs;
using ::testing::HasSubstr;

const fs::path kData = QUANTC_TESTDATA_DIR;

struct Case {
  std::string fixture, scheme;
  int bits;
  int64_t group;  // 0: per channel
  bool symmetric;
  double max_ppl_increase;  // relative; 0: perplexity not measured for this case
};

// The test's own list of Linear weights (the router "mlp.gate.weight" is not one); lm_head stays.
bool IsQuantizedLinear(const std::string& name) {
  for (const char* s : {"q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight", "q_a_proj.weight",
                        "q_b_proj.weight", "kv_a_proj_with_mqa.weight", "kv_b_proj.weight", "gate_proj.weight",
                        "up_proj.weight", "down_proj.weight"}) {
    if (name.ends_with(s)) return true;
  }
  return false;
}

float Bf16(const uint8_t* p) {
  uint32_t u = static_cast<uint32_t>(p[0] | (p[1] << 8)) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<uint32_t> Words(const RawTensor& t) {
  std::vector<uint32_t> w(t.bytes.size() / 4);
  std::memcpy(w.data(), t.bytes.data(), t.bytes.size());
  return w;
}

std::vector<float> Logits(const Model& model, const std::vector<int32_t>& ids) {
  auto r = runner::Runner::Create(model);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  std::vector<float> logits(ids.size() * (*r)->spec().vocab_size);
  auto cache = (*r)->NewCache();
  EXPECT_TRUE((*r)->Forward(ids, *cache, logits).ok());
  return logits;
}

std::vector<int32_t> GoldenPrompt(const fs::path& dir) {
  const auto g = testing::ReadRawSafetensors(dir / "golden.safetensors");
  const RawTensor& ids = g.at("input_ids");
  std::vector<int32_t> prompt(ids.shape[1]);
  std::memcpy(prompt.data(), ids.bytes.data(), prompt.size() * 4);
  return prompt;
}

class IntQuantTest : public ::testing::TestWithParam<Case> {
 protected:
  fs::path OutDir() {
    std::string name = GetParam().fixture + "-" + GetParam().scheme;
    fs::path dir = fs::path(::testing::TempDir()) / ("int_quant_" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
  }
};

TEST_P(IntQuantTest, WritesQuantPyCodesAsCompressedTensorsAndRunsThem) {
  const Case& c = GetParam();
  const fs::path in = kData / c.fixture;
  auto original = formats::ReadHfFolder(in);
  ASSERT_TRUE(original.ok()) << original.status();
  Model model = *original;
  PassManager pm;
  pm.Add(CreateIntQuantPass({.scheme = c.scheme}));
  const absl::Status run = pm.Run(model);
  ASSERT_TRUE(run.ok()) << run;
  const fs::path out = OutDir();
  ASSERT_TRUE(formats::WriteHfFolder(model, out, {}).ok());

  const auto before = testing::ReadRawCheckpoint(in);
  const auto after = testing::ReadRawCheckpoint(out);
  const int maxq = (1 << c.bits) - 1;
  Model reference = *original;  // the fixture with the test's own dequantized weights, in F32
  int64_t quantized = 0;
  for (const auto& [name, w] : before) {
    if (!IsQuantizedLinear(name)) {
      ASSERT_TRUE(after.contains(name)) << name;
      EXPECT_EQ(after.at(name).dtype, w.dtype) << name;
      EXPECT_EQ(after.at(name).bytes, w.bytes) << name;
      continue;
    }
    ++quantized;
    EXPECT_FALSE(after.contains(name)) << name;
    ASSERT_EQ(w.dtype, "BF16");
    const int64_t rows = w.shape[0], cols = w.shape[1];
    const int64_t group = c.group > 0 ? c.group : cols, groups = (cols + group - 1) / group;  // last may be ragged
    const RawTensor& packed = after.at(name + "_packed");
    const RawTensor& scale = after.at(name + "_scale");
    const RawTensor& shape = after.at(name + "_shape");
    EXPECT_EQ(packed.dtype, "I32") << name;
    EXPECT_EQ(packed.shape, (std::vector<int64_t>{rows, (cols * c.bits + 31) / 32})) << name;
    EXPECT_EQ(scale.dtype, "BF16") << name;
    EXPECT_EQ(scale.shape, (std::vector<int64_t>{rows, groups})) << name;
    EXPECT_EQ(shape.dtype, "I64") << name;
    EXPECT_EQ(shape.shape, std::vector<int64_t>{2}) << name;
    int64_t dims[2];
    std::memcpy(dims, shape.bytes.data(), 16);
    EXPECT_EQ(dims[0], rows) << name;
    EXPECT_EQ(dims[1], cols) << name;
    ASSERT_EQ(after.contains(name + "_zero_point"), !c.symmetric) << name;
    std::vector<uint32_t> zero_words;
    if (!c.symmetric) {
      const RawTensor& zp = after.at(name + "_zero_point");
      EXPECT_EQ(zp.dtype, "I32") << name;
      ASSERT_EQ(zp.shape, (std::vector<int64_t>{(rows * c.bits + 31) / 32, groups})) << name;
      zero_words = Words(zp);
    }
    const std::vector<uint32_t> words = Words(packed);
    const int64_t row_words = (cols * c.bits + 31) / 32;
    std::vector<float> dequant(rows * cols);
    std::vector<float> row(cols);
    int64_t mismatches = 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < cols; ++j) row[j] = Bf16(w.bytes.data() + 2 * (r * cols + j));
      const std::vector<uint32_t> rw(words.begin() + r * row_words, words.begin() + (r + 1) * row_words);
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t end = std::min(cols, (g + 1) * group);
        const RefIntParams p = testing::RefFit(row.data() + g * group, end - g * group, c.bits, c.symmetric, false,
                                               testing::ScaleStorage::kBF16);
        mismatches += double(Bf16(scale.bytes.data() + 2 * (r * groups + g))) != p.scale;
        if (!c.symmetric) {
          std::vector<uint32_t> column;  // column g of the [words, groups] zero-point matrix
          for (int64_t k = 0; k < (rows * c.bits + 31) / 32; ++k) column.push_back(zero_words[k * groups + g]);
          mismatches += testing::RefUnpack(column, r, c.bits) != p.zero;
        }
        for (int64_t j = g * group; j < end; ++j) {
          const int q = testing::RefCode(p, maxq, row[j]);
          mismatches += testing::RefUnpack(rw, j, c.bits) != q;
          dequant[r * cols + j] = static_cast<float>(testing::RefDequant(p, q));
        }
      }
    }
    EXPECT_EQ(mismatches, 0) << name;
    TensorEntry* e = reference.tensors.FindMutable(name);
    std::vector<uint8_t> bytes(dequant.size() * 4);
    std::memcpy(bytes.data(), dequant.data(), bytes.size());
    e->info.dtype = DType::kF32;
    e->source = std::make_shared<OwnedTensorSource>(std::move(bytes));
  }
  EXPECT_GT(quantized, 0);

  std::ifstream config_file(out / "config.json");
  const nlohmann::json qc = nlohmann::json::parse(config_file)["quantization_config"];
  EXPECT_EQ(qc["quant_method"], "compressed-tensors");
  EXPECT_EQ(qc["format"], "pack-quantized");
  EXPECT_EQ(qc["quantization_status"], "compressed");
  EXPECT_EQ(qc["ignore"], nlohmann::json::array({"lm_head"}));
  const nlohmann::json& wq = qc["config_groups"]["group_0"]["weights"];
  EXPECT_EQ(qc["config_groups"]["group_0"]["targets"], nlohmann::json::array({"Linear"}));
  EXPECT_EQ(wq["num_bits"], c.bits);
  EXPECT_EQ(wq["type"], "int");
  EXPECT_EQ(wq["symmetric"], c.symmetric);
  EXPECT_EQ(wq["strategy"], c.group > 0 ? "group" : "channel");
  EXPECT_EQ(wq["group_size"], c.group > 0 ? nlohmann::json(c.group) : nlohmann::json());
  EXPECT_TRUE(wq["actorder"].is_null());
  EXPECT_EQ(wq["dynamic"], false);

  // The runner on the written model computes with exactly the test's dequantized weights.
  auto written = formats::ReadHfFolder(out);
  ASSERT_TRUE(written.ok()) << written.status();
  const std::vector<int32_t> prompt = GoldenPrompt(in);
  const std::vector<float> got = Logits(*written, prompt), want = Logits(reference, prompt);
  ASSERT_EQ(got.size(), want.size());
  double diff = 0, scale_of = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::fabs(double(got[i]) - want[i]));
    scale_of = std::max(scale_of, std::fabs(double(want[i])));
  }
  EXPECT_LE(diff, 1e-5 * scale_of) << "max |logit difference| " << diff;
  // The same through the pass's lazy sources, without writing.
  const std::vector<float> lazy = Logits(model, prompt);
  EXPECT_EQ(lazy, got);

  if (c.max_ppl_increase > 0) {
    auto tok = tokenizer::Tokenizer::FromFile(in / "tokenizer.json");
    ASSERT_TRUE(tok.ok()) << tok.status();
    std::ifstream text_file(kData / "valid.txt");
    const std::string text((std::istreambuf_iterator<char>(text_file)), std::istreambuf_iterator<char>());
    auto ids = (*tok)->Encode(text, /*add_special_tokens=*/false);
    ASSERT_TRUE(ids.ok());
    auto quant_runner = runner::Runner::Create(*written);
    auto bf16_runner = runner::Runner::Create(*original);
    ASSERT_TRUE(quant_runner.ok() && bf16_runner.ok());
    auto result = runner::Evaluate(**quant_runner, bf16_runner->get(), *ids, {.ctx = 512, .max_tokens = 2048});
    ASSERT_TRUE(result.ok()) << result.status();
    const double increase = result->ppl / result->ref->ref_ppl - 1;
    RecordProperty("ppl", std::to_string(result->ppl));
    RecordProperty("bf16_ppl", std::to_string(result->ref->ref_ppl));
    EXPECT_GT(increase, 0) << "ppl " << result->ppl << " vs BF16 " << result->ref->ref_ppl;
    EXPECT_LT(increase, c.max_ppl_increase) << "ppl " << result->ppl << " vs BF16 " << result->ref->ref_ppl;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, IntQuantTest,
    ::testing::Values(Case{"tiny-llama-bf16", "int4-g128", 4, 128, true, 0.10},
                      Case{"tiny-llama-bf16", "int4", 4, 0, true, 0.15},
                      Case{"tiny-llama-bf16", "int8", 8, 0, true, 0.005},
                      Case{"tiny-llama-bf16", "int4-g128-asym", 4, 128, false, 0},
                      Case{"tiny-llama-bf16", "int3-g64", 3, 64, true, 0},
                      Case{"tiny-qwen2-bf16", "int4", 4, 0, true, 0},
                      Case{"tiny-qwen2-bf16", "int4-g128", 4, 128, true, 0},  // down_proj: 8 groups + one of 96
                      Case{"tiny-qwen2-bf16", "int8", 8, 0, true, 0.005},
                      Case{"tiny-qwen2-bf16", "int4-g32-asym", 4, 32, false, 0},
                      // Ragged and asymmetric: down_proj's zero points [ceil(384 / 8), 9].
                      Case{"tiny-qwen2-bf16", "int4-g128-asym", 4, 128, false, 0},
                      Case{"tiny-deepseek-v3-bf16", "int4-g32", 4, 32, true, 0}),
    [](const auto& info) {
      std::string s = info.param.fixture + "_" + info.param.scheme;
      for (char& ch : s) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      return s;
    });

absl::Status RunIntQuant(Model& model, IntQuantOptions options) {
  PassManager pm;
  pm.Add(CreateIntQuantPass(std::move(options)));
  return pm.Run(model);
}

TEST(IntQuant, RaggedLastGroupIsKeptAndNoted) {
  // tiny-qwen2's down_proj reads 1120 columns: 8 groups of 128 and a ragged one of 96, with its
  // own scale ([out, 9]); vLLM needs whole groups, so the pass says so.
  auto qwen = formats::ReadHfFolder(kData / "tiny-qwen2-bf16");
  ASSERT_TRUE(qwen.ok());
  PassManager pm;
  pm.Add(CreateIntQuantPass({.scheme = "int4-g128"}));
  ASSERT_TRUE(pm.Run(*qwen).ok());
  const TensorEntry* scale = qwen->tensors.Find("model.layers.0.mlp.down_proj.weight_scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(scale->info.shape, (Shape{384, 9}));
  ASSERT_EQ(pm.notes().size(), 1u);
  EXPECT_THAT(pm.notes()[0], AllOf(HasSubstr("int-quant: 6 weights have a ragged last group"), HasSubstr("vLLM")));
  // Leaving them out still works, and they are listed in ignore.
  auto again = formats::ReadHfFolder(kData / "tiny-qwen2-bf16");
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(RunIntQuant(*again, {.scheme = "int4-g128", .ignore = "lm_head|down_proj"}).ok());
  EXPECT_TRUE(again->tensors.Find("model.layers.0.mlp.down_proj.weight") != nullptr);
  EXPECT_EQ(again->config["quantization_config"]["ignore"].size(), 1u + 6u);
}

TEST(IntQuant, RefusesWhatItCannotStart) {
  auto fp8 = formats::ReadHfFolder(kData / "tiny-qwen2-fp8");
  ASSERT_TRUE(fp8.ok());
  EXPECT_THAT(RunIntQuant(*fp8, {}), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("run fp8-to-bf16")));

  auto gguf = formats::ReadHfFolder(kData / "tiny-llama-bf16");
  ASSERT_TRUE(gguf.ok());
  PassManager pm;
  pm.Add(CreateGgufLayoutPass());
  pm.Add(CreateIntQuantPass());
  EXPECT_THAT(pm.Run(*gguf), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("gguf layout")));

  auto twice = formats::ReadHfFolder(kData / "tiny-llama-bf16");
  ASSERT_TRUE(twice.ok());
  ASSERT_TRUE(RunIntQuant(*twice, {.scheme = "int8"}).ok());
  EXPECT_THAT(RunIntQuant(*twice, {.scheme = "int8"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already has quantization_config")));

  auto bad = formats::ReadHfFolder(kData / "tiny-llama-bf16");
  ASSERT_TRUE(bad.ok());
  EXPECT_THAT(RunIntQuant(*bad, {.scheme = "int4-g12x"}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("int4-g12x")));
  // vLLM fuses q/k/v (and gate/up) into one layer: leaving out only k_proj is refused.
  EXPECT_THAT(RunIntQuant(*bad, {.ignore = "lm_head|k_proj"}),
              StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr("k_proj"), HasSubstr("q_proj"), HasSubstr("fuses"))));
}

// The runner reads what it can run and names what it cannot.
TEST(IntQuant, RunnerRefusesWhatItCannotRun) {
  auto base = formats::ReadHfFolder(kData / "tiny-llama-bf16");
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE(RunIntQuant(*base, {.scheme = "int4-g128"}).ok());
  const std::string w = "model.layers.0.self_attn.q_proj.weight";

  Model no_config = *base;
  no_config.config.erase("quantization_config");
  EXPECT_THAT(runner::Runner::Create(no_config), StatusIs(absl::StatusCode::kNotFound, HasSubstr("quantization_config")));

  Model g_idx = *base;
  ASSERT_TRUE(g_idx.tensors.Add({w + "_g_idx", {DType::kI32, {256}}, std::make_shared<OwnedTensorSource>(std::vector<uint8_t>(1024))}).ok());
  EXPECT_THAT(runner::Runner::Create(g_idx), StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("weight_g_idx")));

  Model stacked = *base;
  TensorEntry* shape = stacked.tensors.FindMutable(w + "_shape");
  shape->info.shape = {3};
  shape->source = std::make_shared<OwnedTensorSource>(std::vector<uint8_t>(24));
  EXPECT_THAT(runner::Runner::Create(stacked), StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("stacked 3-D")));

  Model no_scale = *base;
  no_scale.tensors.RemoveIf([&](const TensorEntry& e) { return e.name == w + "_scale"; });
  EXPECT_THAT(runner::Runner::Create(no_scale), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(w + "_scale")));

  Model wrong_bits = *base;
  wrong_bits.config["quantization_config"]["config_groups"]["group_0"]["weights"]["num_bits"] = 8;
  EXPECT_THAT(runner::Runner::Create(wrong_bits),
              StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr(".weight_packed"), HasSubstr("for int8"))));
}

}  // namespace
}  // namespace quantc::passes
