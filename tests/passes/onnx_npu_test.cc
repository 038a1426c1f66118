// onnx-npu's contract and the QNN rules checker: the lowered pipeline has four graphs, the NPU-side
// ones static and passing CheckNpuRules; hand-broken copies fail it with the rule named; the pass
// refuses group-quantized weights and a missing calibration text. (Numerics: the pipeline in
// onnxruntime against quantc's NPU target is ctest npu_pipeline_in_onnxruntime.)
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/ir/npu_rules.h"
#include "lib/pass/pass_manager.h"
#include "lib/support/status_macros.h"
#include "passes/int_quant.h"
#include "passes/onnx_npu.h"
#include "tests/status_matchers.h"

namespace quantc::passes {
namespace {
namespace fs = std::filesystem;
using ::quantc::testing::IsOk;
using ::quantc::testing::StatusIs;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const fs::path kData = QUANTC_TESTDATA_DIR;

absl::StatusOr<Model> Lower(const std::string& scheme, const std::vector<int32_t>* calibration) {
  QC_ASSIGN_OR_RETURN(Model m, formats::ReadHfFolder(kData / "tiny-qwen2-bf16"));
  PassManager pm;
  pm.Add(CreateIntQuantPass({.scheme = scheme}));
  pm.Add(CreateOnnxNpuPass({.chunk = 16, .cache = 64, .samples = 1, .ctx = 32}));
  if (calibration) pm.set_calibration(calibration);
  QC_RETURN_IF_ERROR(pm.Run(m));
  return m;
}

std::vector<int32_t> Tokens() {
  std::vector<int32_t> t(64);
  for (int i = 0; i < 64; ++i) t[i] = (i * 37) % 4000;
  return t;
}

const Graph& Named(const Model& m, std::string_view name) {
  for (const Graph& g : m.graphs) {
    if (g.name == name) return g;
  }
  static const Graph none;
  return none;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

TEST(OnnxNpuTest, FourGraphsAndTheNpuOnesFollowQnnRules) {
  const std::vector<int32_t> calib = Tokens();
  auto m = Lower("int4", &calib);
  ASSERT_THAT(m.status(), IsOk());
  std::vector<std::string> names;
  for (const Graph& g : m->graphs) names.push_back(g.name);
  EXPECT_THAT(names, ::testing::ElementsAre("embeddings", "context", "iterator", "lm_head"));
  for (const char* npu : {"context", "iterator"}) EXPECT_THAT(CheckNpuRules(*m, Named(*m, npu)), IsEmpty()) << npu;
  EXPECT_EQ(Named(*m, "context").inputs[0].dims[1].value, 16);  // inputs_embeds [1, chunk, hidden]
  EXPECT_EQ(Named(*m, "iterator").inputs[0].dims[1].value, 1);
  const TensorEntry* w = m->tensors.Find("model.layers.0.mlp.down_proj.weight_int4");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->info.dtype, DType::kI4);
  EXPECT_EQ(w->info.shape, (Shape{1120, 384}));  // [K, N]
  // The CPU-side models are not NPU graphs: the checker says why.
  EXPECT_THAT(Joined(CheckNpuRules(*m, Named(*m, "lm_head"))), HasSubstr("MatMulNBits): not an operator the NPU pipeline runs"));
}

TEST(OnnxNpuTest, HandBrokenGraphsFailTheRules) {
  const std::vector<int32_t> calib = Tokens();
  auto lowered = Lower("int4", &calib);
  ASSERT_THAT(lowered.status(), IsOk());
  auto broken = [&](auto edit) {
    Model m = *lowered;
    Graph g = Named(m, "context");
    edit(m, g);
    return Joined(CheckNpuRules(m, g));
  };
  // A blocked weight.
  EXPECT_THAT(broken([](Model&, Graph& g) {
                for (GraphNode& n : g.nodes) {
                  if (n.op_type == "DequantizeLinear" && n.inputs[0].ends_with("_int4")) {
                    n.attributes.push_back({"block_size", int64_t{32}});
                    break;
                  }
                }
              }),
              HasSubstr("per channel (1-D scale [N], axis 1), not blocked"));
  // A symbolic dimension.
  EXPECT_THAT(broken([](Model&, Graph& g) { g.inputs[0].dims[1] = GraphDim::Symbol("sequence_length"); }),
              HasSubstr("symbolic dimension 'sequence_length'"));
  // An op whose output skips its QuantizeLinear.
  EXPECT_THAT(broken([](Model&, Graph& g) {
                std::string sig;
                for (GraphNode& n : g.nodes) {
                  if (n.op_type == "Sigmoid" && sig.empty()) sig = n.outputs[0];
                }
                for (GraphNode& n : g.nodes) {
                  if (n.op_type == "Mul" && n.name.ends_with("/act_fn/Mul")) { n.inputs[1] = sig; break; }
                }
              }),
              HasSubstr("not a QDQ node unit"));
  // 8-bit signed activations.
  EXPECT_THAT(broken([](Model& m, Graph& g) {
                for (GraphNode& n : g.nodes) {
                  if (n.op_type == "QuantizeLinear") {
                    TensorEntry* z = m.tensors.FindMutable(n.inputs[2]);
                    z->info.dtype = DType::kI16;
                    break;
                  }
                }
              }),
              HasSubstr("uint8 or uint16"));
}

TEST(OnnxNpuTest, RefusesGroupsAndMissingCalibration) {
  const std::vector<int32_t> calib = Tokens();
  EXPECT_THAT(Lower("int4-g32", &calib).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("int4 symmetric per-channel weights")));
  EXPECT_THAT(Lower("int4", nullptr).status(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--calib")));
}

}  // namespace
}  // namespace quantc::passes
