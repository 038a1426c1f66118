// onnx-decoder on the fixtures: the graph's I/O contract (transformers.js's names, only batch and
// sequence dims symbolic), one GroupQueryAttention per layer, float weights transposed to [in, out],
// RoPE caches equal to cos/sin of the config's frequencies computed here, and int4-g32 weights as
// MatMulNBits whose nibbles and scales, decoded by the test from onnxruntime's documented layout
// (W[k][n] = (q[n][k] - 8) · scale[n][k/32], element k of block b at nibble k % 2 of byte k / 2),
// reproduce the BF16 weight within about half a quantization step. Refusals are clear.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/pass/pass_manager.h"
#include "passes/fuse_norms.h"
#include "passes/gguf_layout.h"
#include "passes/int_quant.h"
#include "passes/onnx_decoder.h"
#include "passes/rotate.h"
#include "tests/status_matchers.h"
#include "tests/testing/model_logits.h"

namespace quantc::passes {
namespace {
namespace fs = std::filesystem;
using ::quantc::testing::IsOk;
using ::quantc::testing::StatusIs;
using ::quantc::testing::TensorValues;
using ::testing::HasSubstr;

const fs::path kData = QUANTC_TESTDATA_DIR;

Model Load(const std::string& fixture) {
  auto m = formats::ReadHfFolder(kData / fixture);
  EXPECT_THAT(m.status(), IsOk());
  return *std::move(m);
}

absl::Status RunPasses(Model& m, std::vector<std::unique_ptr<Pass>> passes) {
  PassManager pm;
  pm.AddAll(std::move(passes));
  return pm.Run(m);
}

std::vector<std::unique_ptr<Pass>> Passes(std::unique_ptr<Pass> a, std::unique_ptr<Pass> b = nullptr) {
  std::vector<std::unique_ptr<Pass>> v;
  v.push_back(std::move(a));
  if (b) v.push_back(std::move(b));
  return v;
}

std::vector<uint8_t> Bytes(const Model& m, const std::string& name) {
  const TensorEntry* e = m.tensors.Find(name);
  EXPECT_NE(e, nullptr) << name;
  return *ReadAll(*e->source, e->info.byte_size());
}

std::string Dims(const GraphValue& v) {
  std::string s;
  for (const GraphDim& d : v.dims) s += (s.empty() ? "" : ",") + (d.symbol.empty() ? std::to_string(d.value) : d.symbol);
  return s;
}

TEST(OnnxDecoderTest, Qwen2GraphContractAndWeights) {
  Model original = Load("tiny-qwen2-bf16");
  Model m = original;
  ASSERT_THAT(RunPasses(m, Passes(CreateOnnxDecoderPass())), IsOk());
  EXPECT_EQ(m.layout, "onnx");
  std::map<std::string, std::string> inputs, outputs;
  for (const auto& v : m.graphs[0].inputs) inputs[v.name] = Dims(v);
  for (const auto& v : m.graphs[0].outputs) outputs[v.name] = Dims(v);
  EXPECT_EQ(inputs["input_ids"], "batch_size,sequence_length");
  EXPECT_EQ(inputs["attention_mask"], "batch_size,total_sequence_length");
  EXPECT_EQ(inputs["past_key_values.5.value"], "batch_size,2,past_sequence_length,64");
  EXPECT_EQ(outputs["logits"], "batch_size,sequence_length,4096");
  EXPECT_EQ(outputs["present.0.key"], "batch_size,2,total_sequence_length,64");
  EXPECT_EQ(inputs.size(), 2u + 2 * 6);
  int gqa = 0;
  for (const auto& n : m.graphs[0].nodes) gqa += n.op_type == "GroupQueryAttention";
  EXPECT_EQ(gqa, 6);

  // q_proj [384 out, 384 in] -> [in, out], F32.
  const std::string q = "model.layers.2.self_attn.q_proj.weight";
  const std::vector<float> w = TensorValues(original, q), t = TensorValues(m, q);
  ASSERT_EQ(m.tensors.Find(q)->info.shape, (Shape{384, 384}));
  for (int64_t r : {0, 17, 383}) {
    for (int64_t c : {0, 5, 300}) EXPECT_EQ(t[c * 384 + r], w[r * 384 + c]);
  }
  // RoPE caches: cos/sin(p · theta^(-2i/64)).
  const double theta = original.config["rope_parameters"]["rope_theta"].get<double>();
  const std::vector<float> cos = TensorValues(m, "cos_cache"), sin = TensorValues(m, "sin_cache");
  ASSERT_EQ(m.tensors.Find("cos_cache")->info.shape, (Shape{4096, 32}));
  for (int64_t p : {0, 1, 63, 4095}) {
    for (int64_t i : {0, 7, 31}) {
      const double a = static_cast<float>(p) * static_cast<float>(std::pow(theta, -2.0 * i / 64));
      EXPECT_NEAR(cos[p * 32 + i], std::cos(a), 2e-6) << p << " " << i;
      EXPECT_NEAR(sin[p * 32 + i], std::sin(a), 2e-6) << p << " " << i;
    }
  }
}

TEST(OnnxDecoderTest, Int4WeightsBecomeMatMulNBitsOfTheSameValues) {
  Model original = Load("tiny-llama-bf16");
  Model m = original;
  ASSERT_THAT(RunPasses(m, Passes(CreateIntQuantPass({.scheme = "int4-g32"}), CreateOnnxDecoderPass({.dtype = "fp16"}))), IsOk());
  const std::string down = "model.layers.1.mlp.down_proj.weight";  // [256 out, 768 in]
  const GraphNode* node = nullptr;
  for (const auto& n : m.graphs[0].nodes) {
    if (n.op_type == "MatMulNBits" && n.inputs[1] == down + "_Q4") node = &n;
  }
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->domain, "com.microsoft");
  std::map<std::string, int64_t> attrs;
  for (const auto& a : node->attributes) attrs[a.name] = std::get<int64_t>(a.value);
  EXPECT_EQ(attrs["K"], 768);
  EXPECT_EQ(attrs["N"], 256);
  EXPECT_EQ(attrs["bits"], 4);
  EXPECT_EQ(attrs["block_size"], 32);
  EXPECT_EQ(m.tensors.Find(down + "_Q4")->info.shape, (Shape{256, 24, 16}));
  EXPECT_EQ(m.tensors.Find(down + "_scales")->info.dtype, DType::kF16);

  const std::vector<uint8_t> b = Bytes(m, down + "_Q4");
  const std::vector<float> scales = TensorValues(m, down + "_scales"), w = TensorValues(original, down);
  for (int64_t n = 0; n < 256; ++n) {
    for (int64_t k = 0; k < 768; ++k) {
      const uint8_t byte = b[n * 384 + k / 2];
      const int q = (k % 2 ? byte >> 4 : byte & 15) - 8;
      const float s = scales[n * 24 + k / 32];
      // Half a step, plus the clamp at +7 with a scale rounded down to BF16 (quant.py's symmetric
      // range is 15 steps over [-absmax, absmax]: 7.5 · 2^-8 more); a wrong nibble or block order is off by steps.
      ASSERT_LE(std::abs(q * s - w[n * 768 + k]), 0.54f * s) << n << " " << k;
    }
  }
  // lm_head stays float (int-quant leaves it out), transposed.
  EXPECT_EQ(m.tensors.Find("lm_head.weight")->info.shape, (Shape{256, 4096}));
}

TEST(OnnxDecoderTest, DeepseekMlaAndMoeInPlainOps) {
  Model m = Load("tiny-deepseek-v3-bf16");
  ASSERT_THAT(RunPasses(m, Passes(CreateOnnxDecoderPass())), IsOk());
  std::map<std::string, std::string> inputs;
  for (const auto& v : m.graphs[0].inputs) inputs[v.name] = Dims(v);
  EXPECT_EQ(inputs["position_ids"], "batch_size,sequence_length");
  // Every head's full key (32 nope + 16 rope) and value (32) are cached.
  EXPECT_EQ(inputs["past_key_values.2.key"], "batch_size,4,past_sequence_length,48");
  EXPECT_EQ(inputs["past_key_values.2.value"], "batch_size,4,past_sequence_length,32");
  std::map<std::string, int> ops;
  for (const auto& n : m.graphs[0].nodes) ++ops[n.op_type];
  EXPECT_EQ(ops["GroupQueryAttention"], 0);
  EXPECT_EQ(ops["RotaryEmbedding"], 2 * 3);  // q and k per layer
  EXPECT_EQ(ops["ScatterElements"], 2 * 2);  // group mask and dense gate per MoE layer (layers 1, 2)
  // Every routed expert of the MoE layers, the shared experts and layer 0's dense MLP.
  EXPECT_EQ(ops["Sigmoid"], 2 * (8 + 1) + 1 + 2);  // + the router's sigmoid per MoE layer
  EXPECT_NE(m.tensors.Find("model.layers.2.mlp.experts.7.down_proj.weight"), nullptr);
}

TEST(OnnxDecoderTest, RefusesWhatItCannotLower) {
  Model gguf = Load("tiny-llama-bf16");
  EXPECT_THAT(RunPasses(gguf, Passes(CreateGgufLayoutPass(), CreateOnnxDecoderPass())),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not layout 'gguf'")));
  Model bad_dtype = Load("tiny-qwen2-bf16");
  EXPECT_THAT(RunPasses(bad_dtype, Passes(CreateOnnxDecoderPass({.dtype = "bf16"}))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dtype 'bf16'")));
  Model asym = Load("tiny-qwen2-bf16");
  EXPECT_THAT(RunPasses(asym, Passes(CreateIntQuantPass({.scheme = "int4-g32-asym"}), CreateOnnxDecoderPass())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("model.layers.0.self_attn.q_proj.weight: int4 asymmetric")));
  Model r4 = Load("tiny-qwen2-bf16");
  std::vector<std::unique_ptr<Pass>> p;
  p.push_back(CreateFuseNormsPass());
  p.push_back(CreateRotatePass({.r4 = true}));
  p.push_back(CreateOnnxDecoderPass());
  EXPECT_THAT(RunPasses(r4, std::move(p)), StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("online Hadamard")));
}

}  // namespace
}  // namespace quantc::passes
