#include "passes/util/onnx_deepseek.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lib/runner/rope.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::passes {

using arch::Role;

std::string OnnxCausalMask(OnnxBuilder& b) {
  const std::string p = "/model/attn_mask_reformat";
  const std::string zero = b.ConstI64({0}, true), one = b.ConstI64({1}, true);
  // S (new tokens) and T (past + new) as scalars; the new tokens sit at positions P .. T-1.
  const std::string s = b.Node("Gather", StrCat(p, "/seq_len"), {b.Node("Shape", StrCat(p, "/ids_shape"), {"input_ids"}), one},
                               {{"axis", int64_t{0}}});
  const std::string t = b.Node("Gather", StrCat(p, "/total_len"), {b.Node("Shape", StrCat(p, "/mask_shape"), {"attention_mask"}), one},
                               {{"axis", int64_t{0}}});
  const std::string past = b.Node("Sub", StrCat(p, "/past_len"), {t, s});
  const std::string rows = b.Node("Add", StrCat(p, "/rows"), {b.Node("Range", StrCat(p, "/row_range"), {zero, s, one}), past});
  const std::string rows2 = b.Node("Unsqueeze", StrCat(p, "/rows_2d"), {rows, b.ConstI64({1})});
  const std::string cols = b.Node("Range", StrCat(p, "/col_range"), {zero, t, one});
  const std::string causal = b.Node("LessOrEqual", StrCat(p, "/causal"), {cols, rows2});  // [S, T]
  const std::string pad = b.Node("Unsqueeze", StrCat(p, "/pad_4d"),
                                 {b.Node("Cast", StrCat(p, "/pad"), {"attention_mask"}, {{"to", kOnnxBool}}), b.ConstI64({1, 2})});
  const std::string allowed = b.Node("And", StrCat(p, "/allowed"), {causal, pad});  // [B, 1, S, T]
  const float lowest = b.float_type() == DType::kF16 ? -65504.0f : std::numeric_limits<float>::lowest();
  return b.Node("Where", StrCat(p, "/additive"), {allowed, b.ConstFloat(0.0f), b.ConstFloat(lowest)});
}

absl::StatusOr<std::string> OnnxMlaAttention(OnnxBuilder& b, const arch::ModelSpec& spec, int64_t layer, const std::string& x,
                                             const std::string& mask) {
  const arch::MlaSpec& m = spec.mla;
  const int64_t heads = spec.num_heads, nope = m.qk_nope_head_dim, rope = m.qk_rope_head_dim, dv = m.v_head_dim;
  const std::string p = StrCat("/model/layers.", layer, "/attn");
  auto heads_first = [&](const std::string& name, const std::string& v, int64_t n, int64_t d) {  // [B,S,n*d] -> [B,n,S,d]
    const std::string r = b.Node("Reshape", StrCat(name, "/Reshape"), {v, b.ConstI64({0, 0, n, d})});
    return b.Node("Transpose", StrCat(name, "/Transpose"), {r}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
  };
  auto rotate = [&](const std::string& name, const std::string& v) {
    return b.Node("RotaryEmbedding", name, {v, "position_ids", "cos_cache", "sin_cache"}, {{"interleaved", int64_t{1}}},
                  std::string(kMsDomain));
  };

  std::string q;
  if (m.q_lora_rank > 0) {
    QC_ASSIGN_OR_RETURN(std::string qa, b.Linear(StrCat(p, "/q_a_proj"), x, {Role::kQA, layer}));
    QC_ASSIGN_OR_RETURN(std::string qa_norm, b.Initializer({Role::kQANorm, layer}));
    QC_ASSIGN_OR_RETURN(q, b.Linear(StrCat(p, "/q_b_proj"), b.RmsNorm(StrCat(p, "/q_a_layernorm"), qa, qa_norm, spec.rms_norm_eps),
                                    {Role::kQB, layer}));
  } else {
    QC_ASSIGN_OR_RETURN(q, b.Linear(StrCat(p, "/q_proj"), x, {Role::kQ, layer}));
  }
  const auto q_parts = b.NodeN("Split", StrCat(p, "/q_split"), {heads_first(StrCat(p, "/q"), q, heads, nope + rope), b.ConstI64({nope, rope})},
                               2, {{"axis", int64_t{3}}});
  const std::string q_pe = rotate(StrCat(p, "/q_rope"), q_parts[1]);

  QC_ASSIGN_OR_RETURN(std::string kv_a, b.Linear(StrCat(p, "/kv_a_proj_with_mqa"), x, {Role::kKVA, layer}));
  const auto kv_a_parts = b.NodeN("Split", StrCat(p, "/kv_a_split"), {kv_a, b.ConstI64({m.kv_lora_rank, rope})}, 2, {{"axis", int64_t{2}}});
  QC_ASSIGN_OR_RETURN(std::string kv_norm, b.Initializer({Role::kKVANorm, layer}));
  QC_ASSIGN_OR_RETURN(std::string kv, b.Linear(StrCat(p, "/kv_b_proj"),
                                               b.RmsNorm(StrCat(p, "/kv_a_layernorm"), kv_a_parts[0], kv_norm, spec.rms_norm_eps),
                                               {Role::kKVB, layer}));
  const auto kv_parts = b.NodeN("Split", StrCat(p, "/kv_split"), {heads_first(StrCat(p, "/kv"), kv, heads, nope + dv), b.ConstI64({nope, dv})},
                                2, {{"axis", int64_t{3}}});
  // The shared rope key: one head, rotated, broadcast to every head.
  const std::string k_pe = rotate(StrCat(p, "/k_rope"), heads_first(StrCat(p, "/k_pe"), kv_a_parts[1], 1, rope));
  const std::string k_pe_all = b.Node("Expand", StrCat(p, "/k_pe_expand"), {k_pe, b.Node("Shape", StrCat(p, "/q_pe_shape"), {q_pe})});

  const std::string q_full = b.Node("Concat", StrCat(p, "/q_concat"), {q_parts[0], q_pe}, {{"axis", int64_t{3}}});
  const std::string k_full = b.Node("Concat", StrCat(p, "/k_concat"), {kv_parts[0], k_pe_all}, {{"axis", int64_t{3}}});
  const std::string present_k = StrCat("present.", layer, ".key"), present_v = StrCat("present.", layer, ".value");
  b.graph().Add("Concat", StrCat(p, "/present_key"), {StrCat("past_key_values.", layer, ".key"), k_full}, {present_k},
                {{"axis", int64_t{2}}});
  b.graph().Add("Concat", StrCat(p, "/present_value"), {StrCat("past_key_values.", layer, ".value"), kv_parts[1]}, {present_v},
                {{"axis", int64_t{2}}});

  const double scale = runner::Rope(spec.rope).softmax_scale_factor() / std::sqrt(static_cast<double>(nope + rope));
  const std::string kt = b.Node("Transpose", StrCat(p, "/k_t"), {present_k}, {{"perm", std::vector<int64_t>{0, 1, 3, 2}}});
  const std::string scores = b.Node("Mul", StrCat(p, "/scale"), {b.Node("MatMul", StrCat(p, "/qk"), {q_full, kt}),
                                                                  b.ConstFloat(static_cast<float>(scale))});
  const std::string probs = b.Node("Softmax", StrCat(p, "/Softmax"), {b.Node("Add", StrCat(p, "/mask"), {scores, mask})},
                                   {{"axis", int64_t{-1}}});
  const std::string ctx = b.Node("Transpose", StrCat(p, "/ctx_t"), {b.Node("MatMul", StrCat(p, "/pv"), {probs, present_v})},
                                 {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
  const std::string merged = b.Node("Reshape", StrCat(p, "/ctx"), {ctx, b.ConstI64({0, 0, heads * dv})});
  return b.Linear(StrCat(p, "/o_proj"), merged, {Role::kO, layer});
}

absl::StatusOr<std::string> OnnxMoe(OnnxBuilder& b, const arch::ModelSpec& spec, int64_t layer, const std::string& x) {
  const arch::MoeSpec& m = spec.moe;
  const std::string p = StrCat("/model/layers.", layer, "/moe");
  const int64_t experts = m.n_routed_experts, per_group = experts / std::max<int64_t>(m.n_group, 1);
  QC_ASSIGN_OR_RETURN(std::string logits, b.Linear(StrCat(p, "/gate"), x, {Role::kRouter, layer}));
  const std::string scores = m.scoring == arch::MoeScoring::kSigmoid
                                 ? b.Node("Sigmoid", StrCat(p, "/scores"), {logits})
                                 : b.Node("Softmax", StrCat(p, "/scores"), {logits}, {{"axis", int64_t{-1}}});
  std::string choice = scores;
  if (b.Find({Role::kRouterBias, layer}) != nullptr) {
    QC_ASSIGN_OR_RETURN(std::string bias, b.Initializer({Role::kRouterBias, layer}));
    choice = b.Node("Add", StrCat(p, "/biased"), {scores, bias});
  }
  if (m.n_group > 1) {
    // Groups ranked by the sum of their two best biased scores; the others' scores become 0.0.
    const std::string grouped = b.Node("Reshape", StrCat(p, "/grouped"), {choice, b.ConstI64({0, 0, m.n_group, per_group})});
    const auto best = b.NodeN("TopK", StrCat(p, "/group_top"), {grouped, b.ConstI64({std::min<int64_t>(2, per_group)})}, 2,
                              {{"axis", int64_t{-1}}});
    const std::string group_score = b.Node("ReduceSum", StrCat(p, "/group_score"), {best[0], b.ConstI64({-1})}, {{"keepdims", int64_t{0}}});
    const auto kept = b.NodeN("TopK", StrCat(p, "/group_keep"), {group_score, b.ConstI64({m.topk_group})}, 2, {{"axis", int64_t{-1}}});
    const std::string zeros = b.Node("Mul", StrCat(p, "/group_zeros"), {group_score, b.ConstFloat(0.0f)});
    const std::string ones = b.Node("Expand", StrCat(p, "/group_ones"),
                                    {b.ConstFloat(1.0f), b.Node("Shape", StrCat(p, "/group_keep_shape"), {kept[1]})});
    const std::string group_mask = b.Node("ScatterElements", StrCat(p, "/group_mask"), {zeros, kept[1], ones}, {{"axis", int64_t{-1}}});
    const std::string expert_mask = b.Node(
        "Reshape", StrCat(p, "/expert_mask"),
        {b.Node("Expand", StrCat(p, "/group_mask_expand"),
                {b.Node("Unsqueeze", StrCat(p, "/group_mask_4d"), {group_mask, b.ConstI64({-1})}),
                 b.Node("Shape", StrCat(p, "/grouped_shape"), {grouped})}),
         b.ConstI64({0, 0, experts})});
    choice = b.Node("Mul", StrCat(p, "/masked"), {choice, expert_mask});
  }
  const auto top = b.NodeN("TopK", StrCat(p, "/topk"), {choice, b.ConstI64({m.top_k})}, 2, {{"axis", int64_t{-1}}});
  std::string weights = b.Node("GatherElements", StrCat(p, "/weights"), {scores, top[1]}, {{"axis", int64_t{-1}}});
  if (m.norm_topk_prob) {
    const std::string sum = b.Node("ReduceSum", StrCat(p, "/weight_sum"), {weights, b.ConstI64({-1})}, {{"keepdims", int64_t{1}}});
    weights = b.Node("Div", StrCat(p, "/normalized"), {weights, b.Node("Add", StrCat(p, "/weight_sum_eps"), {sum, b.ConstFloat(1e-20f)})});
  }
  weights = b.Node("Mul", StrCat(p, "/scaled"), {weights, b.ConstFloat(static_cast<float>(m.routed_scaling_factor))});
  const std::string gate = b.Node("ScatterElements", StrCat(p, "/gate_dense"),
                                  {b.Node("Mul", StrCat(p, "/gate_zeros"), {scores, b.ConstFloat(0.0f)}), top[1], weights},
                                  {{"axis", int64_t{-1}}});

  std::string sum;
  for (int64_t e = 0; e < experts; ++e) {
    const std::string name = StrCat(p, "/experts.", e);
    QC_ASSIGN_OR_RETURN(std::string y, b.SwiGlu(name, x, {Role::kExpertGate, layer, e}, {Role::kExpertUp, layer, e},
                                                {Role::kExpertDown, layer, e}));
    const std::string column = b.Node("Slice", StrCat(name, "/gate_column"), {gate, b.ConstI64({e}), b.ConstI64({e + 1}), b.ConstI64({-1})});
    const std::string weighted = b.Node("Mul", StrCat(name, "/weighted"), {y, column});
    sum = sum.empty() ? weighted : b.Node("Add", StrCat(name, "/sum"), {sum, weighted});
  }
  if (b.HasWeight({Role::kSharedGate, layer})) {
    QC_ASSIGN_OR_RETURN(std::string shared, b.SwiGlu(StrCat(p, "/shared_experts"), x, {Role::kSharedGate, layer},
                                                     {Role::kSharedUp, layer}, {Role::kSharedDown, layer}));
    sum = b.Node("Add", StrCat(p, "/with_shared"), {sum, shared});
  }
  return sum;
}

}  // namespace quantc::passes
