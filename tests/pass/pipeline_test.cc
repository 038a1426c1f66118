// Textual pipelines: parsing, option binding, errors, and canonical printing.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/pass/pass_manager.h"
#include "lib/pass/pipeline.h"
#include "tests/status_matchers.h"

namespace quantc {
namespace {
using ::quantc::testing::IsOk;
using ::quantc::testing::StatusIs;
using ::testing::HasSubstr;

struct ToyOptions {
  int64_t bits = 4;
  double damp = 0.01;
  bool act_order = false;
  std::string type = "Q4_K";
  std::vector<int64_t> layers;
  static void Bind(OptionBinder& b, ToyOptions& o) {
    b.Int("bits", &o.bits, "bits per weight");
    b.Double("damp", &o.damp, "dampening");
    b.Bool("act-order", &o.act_order, "order columns");
    b.String("type", &o.type, "type");
    b.IntList("layers", &o.layers, "layers");
  }
};

class ToyPass final : public Pass {
 public:
  std::string_view Name() const override { return "toy"; }
  void BindOptions(OptionBinder& b) override { ToyOptions::Bind(b, options); }
  absl::Status Run(Model& model, PassContext& ctx) override {
    if (options.bits == 99) return absl::InvalidArgumentError("tensor 'x': 99 bits");
    ctx.stats->Add("runs", 1);
    model.config["toy"] = options.bits;
    return absl::OkStatus();
  }
  ToyOptions options;
};

class Plain final : public Pass {
 public:
  std::string_view Name() const override { return "plain"; }
  absl::Status Run(Model&, PassContext&) override { return absl::OkStatus(); }
};

constexpr PassInfo kRegistry[] = {
    {"toy", "a toy", []() -> std::unique_ptr<Pass> { return std::make_unique<ToyPass>(); }},
    {"plain", "no options", []() -> std::unique_ptr<Pass> { return std::make_unique<Plain>(); }},
};

TEST(Pipeline, ParsesOptionsAndPrintsCanonicalText) {
  auto p = ParsePipeline(" plain , toy(bits=3, act-order=true,layers=[1,2,3],damp=0.5)", kRegistry);
  ASSERT_THAT(p.status(), IsOk());
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ(PrintPass(*(*p)[0]), "plain");
  EXPECT_EQ(PrintPass(*(*p)[1]), "toy(bits=3,damp=0.5,act-order=true,type=Q4_K,layers=[1,2,3])");
  // The canonical text parses back to itself.
  auto again = ParsePipeline(PrintPass(*(*p)[1]), kRegistry);
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_EQ(PrintPass(*(*again)[0]), PrintPass(*(*p)[1]));
}

TEST(Pipeline, EmptyTextIsAnEmptyPipeline) {
  auto p = ParsePipeline("  ", kRegistry);
  ASSERT_THAT(p.status(), IsOk());
  EXPECT_TRUE(p->empty());
}

TEST(Pipeline, Errors) {
  EXPECT_THAT(ParsePipeline("nope", kRegistry), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown pass 'nope'")));
  EXPECT_THAT(ParsePipeline("toy(bitz=3)", kRegistry), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no option 'bitz'")));
  EXPECT_THAT(ParsePipeline("toy(bits=x)", kRegistry), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bits='x' is not an integer")));
  EXPECT_THAT(ParsePipeline("toy(bits=3", kRegistry), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unbalanced")));
  EXPECT_THAT(ParsePipeline("toy(bits)", kRegistry), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key=value")));
  EXPECT_THAT(ParsePipeline("plain,,toy", kRegistry), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty pass name")));
  EXPECT_THAT(ParsePipeline("toy(layers=1)", kRegistry), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a list")));
}

TEST(PassManager, RecordsPipelineStatsAndNamesTheFailingPass) {
  Model m;
  PassManager pm;
  auto p = ParsePipeline("toy(bits=5),plain", kRegistry);
  ASSERT_THAT(p.status(), IsOk());
  pm.AddAll(std::move(*p));
  ASSERT_THAT(pm.Run(m), IsOk());
  EXPECT_EQ(m.PipelineText(), "toy(bits=5,damp=0.01,act-order=false,type=Q4_K,layers=[]),plain");
  EXPECT_EQ(m.config["toy"], 5);
  EXPECT_EQ(pm.statistics()[0].second.counts().at("runs"), 1);

  PassManager bad;
  auto q = ParsePipeline("plain,toy(bits=99)", kRegistry);
  bad.AddAll(std::move(*q));
  EXPECT_THAT(bad.Run(m), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("in pass 'toy': tensor 'x'")));
}

TEST(PassManager, VerifierCatchesABrokenModel) {
  Model m;
  (void)m.tensors.Add({"a", {DType::kF32, {2}}, nullptr, "mem"});
  PassManager pm;
  pm.Add(std::make_unique<Plain>());
  EXPECT_THAT(pm.Run(m), StatusIs(absl::StatusCode::kInternal, HasSubstr("'a' has no data source")));
}

}  // namespace
}  // namespace quantc
