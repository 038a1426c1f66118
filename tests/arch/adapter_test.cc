// Adapters: names <-> roles round-trip, every fixture tensor has a role (scales aside), and
// config.json errors name the key; quantc's online-Hadamard block is read.
#include <filesystem>

#include "formats/hf/hf_folder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/arch/adapter.h"
#include "tests/status_matchers.h"

namespace quantc::arch {
namespace {
using ::quantc::testing::StatusIs;
using ::testing::HasSubstr;

TEST(HfNames, RoundTripEveryRole) {
  for (int r = 0; r <= static_cast<int>(Role::kSharedDown); ++r) {
    const Role role = static_cast<Role>(r);
    const bool global = role == Role::kEmbedding || role == Role::kFinalNorm || role == Role::kLmHead;
    const bool expert = role == Role::kExpertGate || role == Role::kExpertUp || role == Role::kExpertDown;
    TensorRole tr{role, global ? -1 : 12, expert ? 255 : -1};
    std::string name = HfTensorName(tr);
    ASSERT_FALSE(name.empty()) << r;
    EXPECT_EQ(HfRoleOf(name), tr) << name;
  }
  EXPECT_EQ(HfTensorName({Role::kExpertUp, 3, 7}), "model.layers.3.mlp.experts.7.up_proj.weight");
  EXPECT_EQ(HfRoleOf("model.layers.3.self_attn.q_proj.weight_scale_inv"), std::nullopt);
  // compressed-tensors pack-quantized: the packed codes carry the weight's role, companions none.
  EXPECT_EQ(HfRoleOf("model.layers.3.mlp.experts.7.up_proj.weight_packed"), (TensorRole{Role::kExpertUp, 3, 7}));
  EXPECT_EQ(HfRoleOf("lm_head.weight_packed"), TensorRole{Role::kLmHead});
  EXPECT_EQ(HfRoleOf("model.layers.3.self_attn.q_proj.weight_scale"), std::nullopt);
  EXPECT_EQ(HfRoleOf("model.layers.3.self_attn.q_proj.weight_shape"), std::nullopt);
  EXPECT_EQ(HfRoleOf("model.layers.x.self_attn.q_proj.weight"), std::nullopt);
  EXPECT_EQ(HfRoleOf("model.layers.1.mlp.experts.q.up_proj.weight"), std::nullopt);
}

TEST(Adapters, EveryFixtureTensorHasARole) {
  for (const char* fixture : {"tiny-qwen2-bf16", "tiny-llama-fp8", "tiny-deepseek-v3-fp8"}) {
    auto model = formats::ReadHfFolder(std::filesystem::path(QUANTC_TESTDATA_DIR) / fixture);
    ASSERT_TRUE(model.ok()) << model.status();
    auto adapter = AdapterFor(model->model_type());
    ASSERT_TRUE(adapter.ok()) << adapter.status();
    for (const TensorEntry& e : model->tensors.entries()) {
      if (e.name.ends_with("_scale_inv")) continue;
      auto role = (*adapter)->RoleOf(e.name);
      ASSERT_TRUE(role.has_value()) << fixture << ": " << e.name;
      EXPECT_EQ((*adapter)->TensorName(*role), e.name);
    }
  }
}

TEST(Adapters, UnknownArchitectureListsTheSupportedOnes) {
  EXPECT_THAT(AdapterFor("mixtral"), StatusIs(absl::StatusCode::kNotFound,
                                              AllOf(HasSubstr("mixtral"), HasSubstr("qwen2, llama, deepseek_v3"))));
}

TEST(ModelSpec, ErrorsNameTheKey) {
  nlohmann::ordered_json c = {{"model_type", "llama"}, {"vocab_size", 10}, {"hidden_size", 8}, {"intermediate_size", 16},
                              {"num_hidden_layers", 1}, {"num_attention_heads", 2}, {"num_key_value_heads", 3}};
  EXPECT_THAT(ParseModelSpec(c), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_key_value_heads")));
  c["num_key_value_heads"] = 1;
  c["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  EXPECT_THAT(ParseModelSpec(c), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'dynamic' is not supported")));
  c.erase("rope_scaling");
  c.erase("hidden_size");
  EXPECT_THAT(ParseModelSpec(c), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'hidden_size' is missing")));
}

// The released DeepSeek-V3 config form: top-level rope_theta, rope_scaling with "type": "yarn",
// scoring_func and topk_method spelled out.
TEST(ModelSpec, ReadsReleasedDeepseekConfig) {
  nlohmann::ordered_json c = nlohmann::ordered_json::parse(R"({
    "model_type": "deepseek_v3", "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128,
    "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "n_group": 8, "topk_group": 4,
    "first_k_dense_replace": 3, "norm_topk_prob": true, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid",
    "topk_method": "noaux_tc", "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "num_nextn_predict_layers": 1, "rms_norm_eps": 1e-06,
    "max_position_embeddings": 163840, "rope_theta": 10000,
    "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                     "original_max_position_embeddings": 4096, "type": "yarn"}})");
  auto s = ParseModelSpec(c);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->rope.type, RopeType::kYarn);
  EXPECT_EQ(s->rope.factor, 40);
  EXPECT_EQ(s->rope.original_max_position_embeddings, 4096);
  EXPECT_EQ(s->rope.dim, 64);
  EXPECT_TRUE(s->rope.interleaved);
  EXPECT_EQ(s->moe.scoring, MoeScoring::kSigmoid);
  EXPECT_EQ(s->moe.n_group, 8);
  EXPECT_EQ(s->num_mtp_layers, 1);
  EXPECT_TRUE(s->moe.IsMoeLayer(3));
  EXPECT_FALSE(s->moe.IsMoeLayer(2));
}

// rotate(r4)'s record: every width read; an unknown transform or field refused (a consumer that
// skipped it would compute another function); widths must be positive integers.
TEST(ModelSpec, ReadsTheOnlineHadamard) {
  nlohmann::ordered_json c = {{"model_type", "llama"}, {"vocab_size", 10}, {"hidden_size", 8}, {"intermediate_size", 16},
                              {"num_hidden_layers", 1}, {"num_attention_heads", 2}};
  c["quantc"]["online_hadamard"]["down_proj"] = {{"size", 16}, {"expert_size", 4}, {"shared_expert_size", 8}};
  auto s = ParseModelSpec(c);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->online_hadamard.down_proj, 16);
  EXPECT_EQ(s->online_hadamard.expert_down_proj, 4);
  EXPECT_EQ(s->online_hadamard.shared_down_proj, 8);
  c["quantc"]["online_hadamard"]["down_proj"]["size"] = -16;
  EXPECT_THAT(ParseModelSpec(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("'quantc.online_hadamard.down_proj.size' must be a positive integer")));
  c["quantc"]["online_hadamard"]["down_proj"] = {{"sizes", 16}};
  EXPECT_THAT(ParseModelSpec(c), StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("down_proj.sizes' is not supported")));
  c["quantc"]["online_hadamard"] = {{"o_proj", {{"size", 8}}}};
  EXPECT_THAT(ParseModelSpec(c), StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("before o_proj is not supported")));
}

}  // namespace
}  // namespace quantc::arch
