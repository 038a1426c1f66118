#include "passes/onnx_decoder.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "lib/arch/adapter.h"
#include "lib/arch/model_spec.h"
#include "lib/ir/packed_int.h"
#include "lib/runner/rope.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/util/onnx_builder.h"
#include "passes/util/onnx_deepseek.h"

namespace quantc::passes {
namespace {

using arch::Role;
using arch::TensorRole;

// The decoder skeleton shared by both attention forms: embeddings, per layer RMSNorm → attention →
// SkipSimplifiedLayerNormalization (residual add + the next norm) → MLP or MoE → skip-norm, and
// the head. qwen2 / llama use GroupQueryAttention (RoPE inside, lengths from the mask);
// deepseek_v3 writes MLA out in plain ops (passes/util/onnx_deepseek.h).
class DecoderLowering {
 public:
  DecoderLowering(const Model& model, const arch::ModelSpec& spec, DType float_type, const OnnxDecoderOptions& options)
      : in_(model), spec_(spec), b_(model, float_type, options.accuracy_level), options_(options) {}

  absl::Status Lower() {
    DeclareIo();
    QC_RETURN_IF_ERROR(RopeCaches());
    std::string mask;
    if (spec_.mla.enabled()) {
      mask = OnnxCausalMask(b_);
    } else {
      Lengths();
    }
    QC_ASSIGN_OR_RETURN(std::string embed, b_.Initializer({Role::kEmbedding}));
    const std::string embeds = b_.Node("Gather", "/model/embed_tokens/Gather", {embed, "input_ids"});
    QC_ASSIGN_OR_RETURN(std::string norm0, b_.Initializer({Role::kAttnNorm, 0}));
    std::string hidden = b_.RmsNorm("/model/layers.0/input_layernorm", embeds, norm0, spec_.rms_norm_eps);
    std::string residual = embeds;
    for (int64_t layer = 0; layer < spec_.num_layers; ++layer) {
      const std::string p = StrCat("/model/layers.", layer);
      std::string attn;
      if (spec_.mla.enabled()) {
        QC_ASSIGN_OR_RETURN(attn, OnnxMlaAttention(b_, spec_, layer, hidden, mask));
      } else {
        QC_ASSIGN_OR_RETURN(attn, GqaAttention(layer, hidden));
      }
      QC_ASSIGN_OR_RETURN(std::string post_norm, b_.Initializer({Role::kFfnNorm, layer}));
      std::tie(hidden, residual) = SkipNorm(StrCat(p, "/post_attention_layernorm"), attn, residual, post_norm, true);
      std::string mlp;
      if (spec_.moe.IsMoeLayer(layer)) {
        QC_ASSIGN_OR_RETURN(mlp, OnnxMoe(b_, spec_, layer, hidden));
      } else {
        QC_ASSIGN_OR_RETURN(mlp, b_.SwiGlu(StrCat(p, "/mlp"), hidden, {Role::kGate, layer}, {Role::kUp, layer}, {Role::kDown, layer}));
      }
      const bool last = layer + 1 == spec_.num_layers;
      QC_ASSIGN_OR_RETURN(std::string next_norm,
                          b_.Initializer(last ? TensorRole{Role::kFinalNorm} : TensorRole{Role::kAttnNorm, layer + 1}));
      std::tie(hidden, residual) = SkipNorm(last ? "/model/norm" : StrCat("/model/layers.", layer + 1, "/input_layernorm"),
                                            mlp, residual, next_norm, !last);
    }
    // A tied head reads the embedding, transposed.
    const Role head = b_.HasWeight({Role::kLmHead}) ? Role::kLmHead : Role::kEmbedding;
    QC_ASSIGN_OR_RETURN(std::string logits, b_.Linear("/lm_head", hidden, {head}, std::nullopt, "logits"));
    (void)logits;
    return absl::OkStatus();
  }

  OnnxBuilder& builder() { return b_; }

 private:
  GraphDim Batch() const { return GraphDim::Symbol("batch_size"); }

  // transformers.js's decoder contract; MLA caches every head's full key and value (kv heads =
  // heads, key width qk_head_dim, value width v_head_dim) and reads position_ids.
  void DeclareIo() {
    Graph& g = b_.graph();
    g.inputs.push_back({"input_ids", DType::kI64, {Batch(), GraphDim::Symbol("sequence_length")}});
    g.inputs.push_back({"attention_mask", DType::kI64, {Batch(), GraphDim::Symbol("total_sequence_length")}});
    if (spec_.mla.enabled()) g.inputs.push_back({"position_ids", DType::kI64, {Batch(), GraphDim::Symbol("sequence_length")}});
    const bool mla = spec_.mla.enabled();
    const int64_t kv_heads = mla ? spec_.num_heads : spec_.num_kv_heads;
    const int64_t key_dim = mla ? spec_.mla.qk_nope_head_dim + spec_.mla.qk_rope_head_dim : spec_.head_dim;
    const int64_t value_dim = mla ? spec_.mla.v_head_dim : spec_.head_dim;
    const DType ft = b_.float_type();
    g.outputs.push_back({"logits", ft, {Batch(), GraphDim::Symbol("sequence_length"), GraphDim::Fixed(spec_.vocab_size)}});
    for (int64_t i = 0; i < spec_.num_layers; ++i) {
      for (const char* kind : {"key", "value"}) {
        const int64_t d = kind[0] == 'k' ? key_dim : value_dim;
        for (const auto& [name, length] : {std::pair{StrCat("past_key_values.", i, ".", kind), "past_sequence_length"},
                                           std::pair{StrCat("present.", i, ".", kind), "total_sequence_length"}}) {
          GraphValue v{name, ft, {Batch(), GraphDim::Fixed(kv_heads), GraphDim::Symbol(length), GraphDim::Fixed(d)}};
          (name.starts_with("past") ? g.inputs : g.outputs).push_back(std::move(v));
        }
      }
    }
  }

  // seqlens_k = ReduceSum(attention_mask) - 1 and total_sequence_length = Shape(mask)[1], int32,
  // as onnxruntime-genai derives GroupQueryAttention's lengths.
  void Lengths() {
    const std::string p = "/model/attn_mask_reformat/attn_mask_subgraph";
    const std::string sum = b_.Node("ReduceSum", StrCat(p, "/ReduceSum"), {"attention_mask", b_.ConstI64({1})}, {{"keepdims", int64_t{0}}});
    const std::string minus = b_.Node("Sub", StrCat(p, "/Sub"), {sum, b_.ConstI64({1}, true)});
    seqlens_ = b_.Node("Cast", StrCat(p, "/Sub/Cast"), {minus}, {{"to", kOnnxInt32}});
    const std::string shape = b_.Node("Shape", StrCat(p, "/Shape"), {"attention_mask"});
    const std::string total = b_.Node("Gather", StrCat(p, "/Gather"), {shape, b_.ConstI64({1}, true)}, {{"axis", int64_t{0}}});
    total_ = b_.Node("Cast", StrCat(p, "/Gather/Cast"), {total}, {{"to", kOnnxInt32}});
  }

  // cos_cache / sin_cache [positions, rope_dim / 2] from the model's rope (llama3 / yarn scaling
  // included), as lib/runner applies it.
  absl::Status RopeCaches() {
    int64_t positions = spec_.max_position_embeddings > 0 ? spec_.max_position_embeddings : 4096;
    if (options_.max_positions > 0) positions = options_.max_positions;
    const int64_t half = spec_.rope.dim / 2;
    std::vector<float> cos, sin;
    runner::Rope(spec_.rope).Tables(positions, cos, sin);
    QC_RETURN_IF_ERROR(b_.AddFloats("cos_cache", {positions, half}, cos, "rope"));
    return b_.AddFloats("sin_cache", {positions, half}, sin, "rope");
  }

  // (normalized x + residual, x + residual): SkipSimplifiedLayerNormalization, outputs [out, "", "", sum].
  std::pair<std::string, std::string> SkipNorm(const std::string& name, const std::string& x, const std::string& residual,
                                               const std::string& gamma, bool keep_sum) {
    const std::string node = StrCat(name, "/SkipLayerNorm");
    const std::string out = StrCat(node, "/output_0"), sum = keep_sum ? StrCat(node, "/output_3") : "";
    std::vector<std::string> outputs = {out};
    if (keep_sum) outputs = {out, "", "", sum};
    b_.graph().Add("SkipSimplifiedLayerNormalization", node, {x, residual, gamma}, std::move(outputs),
                   {{"epsilon", static_cast<float>(spec_.rms_norm_eps)}}, std::string(kMsDomain));
    return {out, sum};
  }

  absl::StatusOr<std::string> GqaAttention(int64_t layer, const std::string& x) {
    const std::string p = StrCat("/model/layers.", layer, "/attn");
    const bool bias = b_.Find({Role::kQBias, layer}) != nullptr;
    auto maybe = [&](Role r) { return bias ? std::optional<TensorRole>({r, layer}) : std::nullopt; };
    QC_ASSIGN_OR_RETURN(std::string q, b_.Linear(StrCat(p, "/q_proj"), x, {Role::kQ, layer}, maybe(Role::kQBias)));
    QC_ASSIGN_OR_RETURN(std::string k, b_.Linear(StrCat(p, "/k_proj"), x, {Role::kK, layer}, maybe(Role::kKBias)));
    QC_ASSIGN_OR_RETURN(std::string v, b_.Linear(StrCat(p, "/v_proj"), x, {Role::kV, layer}, maybe(Role::kVBias)));
    const std::string node = StrCat(p, "/GroupQueryAttention");
    const std::string out = StrCat(node, "/output_0");
    const double scale = runner::Rope(spec_.rope).softmax_scale_factor() / std::sqrt(static_cast<double>(spec_.head_dim));
    b_.graph().Add("GroupQueryAttention", node,
                   {q, k, v, StrCat("past_key_values.", layer, ".key"), StrCat("past_key_values.", layer, ".value"), seqlens_,
                    total_, "cos_cache", "sin_cache"},
                   {out, StrCat("present.", layer, ".key"), StrCat("present.", layer, ".value")},
                   {{"num_heads", spec_.num_heads},
                    {"kv_num_heads", spec_.num_kv_heads},
                    {"scale", static_cast<float>(scale)},
                    {"do_rotary", int64_t{1}},
                    {"rotary_interleaved", int64_t{spec_.rope.interleaved ? 1 : 0}},
                    {"local_window_size", int64_t{-1}}},
                   std::string(kMsDomain));
    return b_.Linear(StrCat(p, "/o_proj"), out, {Role::kO, layer});
  }

  const Model& in_;
  const arch::ModelSpec& spec_;
  OnnxBuilder b_;
  const OnnxDecoderOptions& options_;
  std::string seqlens_, total_;
};

class OnnxDecoderPass final : public Pass {
 public:
  explicit OnnxDecoderPass(OnnxDecoderOptions options) : options_(std::move(options)) {}
  std::string_view Name() const override { return "onnx-decoder"; }
  void BindOptions(OptionBinder& b) override { OnnxDecoderOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    static constexpr std::string_view kTypes[] = {"qwen2", "llama", "deepseek_v3"};
    QC_ASSIGN_OR_RETURN(arch::ModelSpec spec, CheckLowerable(model, "onnx-decoder", kTypes));
    if (options_.dtype != "fp32" && options_.dtype != "fp16") {
      return absl::InvalidArgumentError(StrCat("onnx-decoder: dtype '", options_.dtype, "' (expected fp32 or fp16)"));
    }
    if (spec.online_hadamard.any()) {
      return absl::UnimplementedError(
          "onnx-decoder: the model needs an online Hadamard before down_proj (rotate r4), which this ONNX decoder "
          "does not emit; rotate without r4");
    }
    if (!spec.mla.enabled() && (spec.head_dim % 16 != 0 || spec.rope.dim != spec.head_dim)) {
      return absl::UnimplementedError(StrCat("onnx-decoder: head_dim ", spec.head_dim, " rotated over ", spec.rope.dim,
                                             " dims; onnxruntime's GroupQueryAttention needs a multiple of 16, all rotated"));
    }
    DecoderLowering lowering(model, spec, options_.dtype == "fp16" ? DType::kF16 : DType::kF32, options_);
    QC_RETURN_IF_ERROR(lowering.Lower());
    int64_t left_out = 0;
    std::string first;
    for (const TensorEntry& e : model.tensors.entries()) {
      if (lowering.builder().consumed().contains(e.name)) continue;
      if (left_out++ == 0) first = e.name;
    }
    if (left_out > 0 && ctx.notes) {
      ctx.notes->push_back(StrCat("onnx-decoder: ", left_out, " tensor(s) the decoder graph does not read were left out (", first,
                                  left_out > 1 ? ", ..." : "", ")"));
    }
    if (ctx.stats) {
      ctx.stats->Add("graph-nodes", static_cast<int64_t>(lowering.builder().graph().nodes.size()));
      ctx.stats->Add("initializers", static_cast<int64_t>(lowering.builder().tensors().size()));
    }
    model.tensors = std::move(lowering.builder().tensors());
    model.graphs = {std::move(lowering.builder().graph())};
    model.layout = "onnx";
    return absl::OkStatus();
  }

 private:
  OnnxDecoderOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateOnnxDecoderPass(OnnxDecoderOptions options) {
  return std::make_unique<OnnxDecoderPass>(std::move(options));
}

}  // namespace quantc::passes
