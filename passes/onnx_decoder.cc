#include "passes/onnx_decoder.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "lib/arch/adapter.h"
#include "lib/arch/model_spec.h"
#include "lib/dtypes/float_convert.h"
#include "lib/ir/packed_int.h"
#include "lib/runner/rope.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/util/tensor_sources.h"

namespace quantc::passes {
namespace {

using arch::Role;
using arch::TensorRole;

constexpr std::string_view kMs = "com.microsoft";
constexpr int64_t kOnnxInt32 = 6;  // TensorProto.INT32, for Cast's `to`

// Builds the graph and its initializer table from an HF-layout model, one layer at a time.
class DecoderLowering {
 public:
  DecoderLowering(const Model& model, const arch::ModelSpec& spec, DType float_type, const OnnxDecoderOptions& options)
      : in_(model), spec_(spec), ft_(float_type), options_(options) {}

  absl::Status Lower() {
    graph_.opsets = {{"", 21}, {std::string(kMs), 1}};
    DeclareIo();
    QC_RETURN_IF_ERROR(Lengths());
    QC_RETURN_IF_ERROR(RopeCaches());
    QC_ASSIGN_OR_RETURN(std::string embed, Initializer({Role::kEmbedding}));
    const std::string embeds = Node("Gather", "/model/embed_tokens/Gather", {embed, "input_ids"});
    QC_ASSIGN_OR_RETURN(std::string norm0, Initializer({Role::kAttnNorm, 0}));
    std::string hidden = Node("SimplifiedLayerNormalization", "/model/layers.0/input_layernorm/LayerNorm", {embeds, norm0},
                              NormAttributes(true));
    std::string residual = embeds;
    for (int64_t layer = 0; layer < spec_.num_layers; ++layer) {
      const std::string p = StrCat("/model/layers.", layer);
      QC_ASSIGN_OR_RETURN(std::string attn, Attention(layer, hidden));
      QC_ASSIGN_OR_RETURN(std::string post_norm, Initializer({Role::kFfnNorm, layer}));
      std::tie(hidden, residual) = SkipNorm(StrCat(p, "/post_attention_layernorm"), attn, residual, post_norm, true);
      QC_ASSIGN_OR_RETURN(std::string mlp, Mlp(layer, hidden));
      const bool last = layer + 1 == spec_.num_layers;
      QC_ASSIGN_OR_RETURN(std::string next_norm,
                          Initializer(last ? TensorRole{Role::kFinalNorm} : TensorRole{Role::kAttnNorm, layer + 1}));
      std::tie(hidden, residual) = SkipNorm(last ? "/model/norm" : StrCat("/model/layers.", layer + 1, "/input_layernorm"),
                                            mlp, residual, next_norm, !last);
    }
    const TensorRole head = in_.tensors.Find(arch::HfTensorName({Role::kLmHead})) != nullptr ||
                                    FindPackedInt(in_.tensors, arch::HfTensorName({Role::kLmHead}))
                                ? TensorRole{Role::kLmHead}
                                : TensorRole{Role::kEmbedding};  // tied: the embedding, transposed
    QC_ASSIGN_OR_RETURN(std::string logits, Linear("/lm_head", hidden, head));
    graph_.nodes.back().outputs = {"logits"};
    (void)logits;
    return absl::OkStatus();
  }

  Graph& graph() { return graph_; }
  TensorTable& tensors() { return out_; }
  const std::set<std::string>& consumed() const { return consumed_; }

 private:
  GraphDim Batch() const { return GraphDim::Symbol("batch_size"); }

  void DeclareIo() {
    graph_.inputs.push_back({"input_ids", DType::kI64, {Batch(), GraphDim::Symbol("sequence_length")}});
    graph_.inputs.push_back({"attention_mask", DType::kI64, {Batch(), GraphDim::Symbol("total_sequence_length")}});
    auto kv = [&](std::string name, std::string length) {
      return GraphValue{std::move(name), ft_,
                        {Batch(), GraphDim::Fixed(spec_.num_kv_heads), GraphDim::Symbol(std::move(length)),
                         GraphDim::Fixed(spec_.head_dim)}};
    };
    graph_.outputs.push_back({"logits", ft_, {Batch(), GraphDim::Symbol("sequence_length"), GraphDim::Fixed(spec_.vocab_size)}});
    for (int64_t i = 0; i < spec_.num_layers; ++i) {
      for (const char* kind : {"key", "value"}) {
        graph_.inputs.push_back(kv(StrCat("past_key_values.", i, ".", kind), "past_sequence_length"));
        graph_.outputs.push_back(kv(StrCat("present.", i, ".", kind), "total_sequence_length"));
      }
    }
  }

  // A node with one output named "<name>/output_0", as the genai builder names them.
  std::string Node(std::string op, std::string name, std::vector<std::string> inputs, std::vector<GraphAttribute> attrs = {},
                   std::string domain = "") {
    std::string out = StrCat(name, "/output_0");
    graph_.Add(std::move(op), std::move(name), std::move(inputs), {out}, std::move(attrs), std::move(domain));
    return out;
  }

  // An int64 constant (1-D, or a scalar when `scalar`), shared by name.
  std::string ConstI64(std::vector<int64_t> values, bool scalar = false) {
    std::string name = StrCat("/model/constants/INT64/", scalar ? "" : "[", StrJoin(values, ","), scalar ? "" : "]");
    if (out_.Find(name) == nullptr) {
      std::vector<uint8_t> bytes(values.size() * 8);
      std::memcpy(bytes.data(), values.data(), bytes.size());
      TensorInfo info{DType::kI64, scalar ? Shape{} : Shape{static_cast<int64_t>(values.size())}};
      (void)out_.Add({name, info, std::make_shared<OwnedTensorSource>(std::move(bytes), "constant"), "onnx-decoder", {}});
    }
    return name;
  }

  // seqlens_k = ReduceSum(attention_mask) - 1 and total_sequence_length = Shape(mask)[1], int32.
  absl::Status Lengths() {
    const std::string p = "/model/attn_mask_reformat/attn_mask_subgraph";
    std::string sum = Node("ReduceSum", StrCat(p, "/ReduceSum"), {"attention_mask", ConstI64({1})}, {{"keepdims", int64_t{0}}});
    std::string minus = Node("Sub", StrCat(p, "/Sub"), {sum, ConstI64({1}, true)});
    seqlens_ = Node("Cast", StrCat(p, "/Sub/Cast"), {minus}, {{"to", kOnnxInt32}});
    std::string shape = Node("Shape", StrCat(p, "/Shape"), {"attention_mask"});
    std::string total = Node("Gather", StrCat(p, "/Gather"), {shape, ConstI64({1}, true)}, {{"axis", int64_t{0}}});
    total_ = Node("Cast", StrCat(p, "/Gather/Cast"), {total}, {{"to", kOnnxInt32}});
    return absl::OkStatus();
  }

  // cos_cache / sin_cache [positions, rope_dim / 2] from the model's rope (llama3 scaling included).
  absl::Status RopeCaches() {
    const int64_t positions = options_.max_positions > 0 ? options_.max_positions
                                                         : in_.config.value("max_position_embeddings", int64_t{4096});
    const int64_t half = spec_.rope.dim / 2;
    runner::Rope rope(spec_.rope);
    std::vector<float> cos(static_cast<size_t>(positions * half)), sin(cos.size());
    for (int64_t pos = 0; pos < positions; ++pos) rope.CosSin(pos, &cos[pos * half], &sin[pos * half]);
    const TensorInfo info{ft_, {positions, half}};
    for (auto [name, values] : {std::pair{"cos_cache", &cos}, std::pair{"sin_cache", &sin}}) {
      std::vector<uint8_t> bytes(info.byte_size());
      for (size_t i = 0; i < values->size(); ++i) {
        if (ft_ == DType::kF32) {
          std::memcpy(&bytes[i * 4], &(*values)[i], 4);
        } else {
          const uint16_t h = F32ToF16((*values)[i]);
          std::memcpy(&bytes[i * 2], &h, 2);
        }
      }
      QC_RETURN_IF_ERROR(out_.Add({name, info, std::make_shared<OwnedTensorSource>(std::move(bytes), "rope"), "onnx-decoder", {}}));
    }
    return absl::OkStatus();
  }

  const TensorEntry* Find(const TensorRole& role) const { return in_.tensors.Find(arch::HfTensorName(role)); }

  // A float tensor of the model (norm, bias, embedding) in the graph's float type, under its name.
  absl::StatusOr<std::string> Initializer(const TensorRole& role) {
    const TensorEntry* e = Find(role);
    if (e == nullptr) return absl::NotFoundError(StrCat("tensor ", arch::HfTensorName(role), " is missing"));
    if (!IsDenseFloat(e->info.dtype)) {
      return absl::InvalidArgumentError(StrCat("tensor ", e->name, ": ", Name(e->info.dtype), " (expected F32, F16 or BF16)"));
    }
    consumed_.insert(e->name);
    if (out_.Find(e->name) == nullptr) {
      auto source = e->info.dtype == ft_ ? e->source : MakeCastSource(e->source, e->info, ft_);
      QC_RETURN_IF_ERROR(out_.Add({e->name, TensorInfo{ft_, e->info.shape}, std::move(source), e->origin, {}}));
    }
    return e->name;
  }

  // y = x · Wᵀ (+ bias): MatMul over the transposed weight, or MatMulNBits over int4 codes.
  absl::StatusOr<std::string> Linear(const std::string& name, const std::string& x, const TensorRole& role,
                                     std::optional<TensorRole> bias = std::nullopt) {
    const std::string weight = arch::HfTensorName(role);
    std::string y;
    if (auto packed = FindPackedInt(in_.tensors, weight)) {
      QC_ASSIGN_OR_RETURN(y, PackedLinear(name, x, weight, *packed));
    } else {
      const TensorEntry* e = Find(role);
      if (e == nullptr) return absl::NotFoundError(StrCat("tensor ", weight, " is missing"));
      if (!IsDenseFloat(e->info.dtype) || e->info.shape.size() != 2) {
        return absl::InvalidArgumentError(StrCat("tensor ", e->name, ": ", Name(e->info.dtype), " ", ShapeToString(e->info.shape),
                                                 " (expected an F32/F16/BF16 matrix or int4 pack-quantized weights)"));
      }
      consumed_.insert(e->name);
      const int64_t rows = e->info.shape[0], cols = e->info.shape[1];
      // [out, in] -> [in, out] (a head split with one head, transposed), then the graph's float type.
      std::shared_ptr<const TensorSource> source = MakeHeadSplitSource(e->source, e->info, 1, rows, 0, 0, true);
      const TensorInfo transposed{e->info.dtype, {cols, rows}};
      if (e->info.dtype != ft_) source = MakeCastSource(std::move(source), transposed, ft_);
      const std::string init = role.role == Role::kEmbedding ? "lm_head.weight" : weight;  // tied head
      QC_RETURN_IF_ERROR(out_.Add({init, TensorInfo{ft_, {cols, rows}}, std::move(source), e->origin, {}}));
      y = Node("MatMul", StrCat(name, "/MatMul"), {x, init});
    }
    if (!bias) return y;
    QC_ASSIGN_OR_RETURN(std::string b, Initializer(*bias));
    return Node("Add", StrCat(name, "/Add"), {y, b});
  }

  absl::StatusOr<std::string> PackedLinear(const std::string& name, const std::string& x, const std::string& weight,
                                           const PackedIntEntries& e) {
    if (!packed_config_) {
      QC_ASSIGN_OR_RETURN(packed_config_, PackedIntConfigOf(in_));
    }
    const PackedIntConfig& c = *packed_config_;
    QC_ASSIGN_OR_RETURN(auto shape, CheckPackedInt(weight, e, c));
    const auto [n, k] = shape;
    const int64_t block = c.group_size;
    if (c.bits != 4 || !c.symmetric || block < 16 || (block & (block - 1)) != 0 || k % block != 0) {
      return absl::InvalidArgumentError(StrCat(
          "tensor ", weight, ": int", c.bits, c.symmetric ? "" : " asymmetric", " group ", block, " over ", k,
          " inputs; ONNX MatMulNBits here takes int4 symmetric groups of a power of two >= 16 dividing the input "
          "width (use --type int4-g32, as transformers.js q4 models do)"));
    }
    for (const TensorEntry* t : {e.packed, e.scale, e.shape}) consumed_.insert(t->name);
    // compressed-tensors packs each row's codes low nibble first, the layout of MatMulNBits' B
    // [N, k_blocks, block/2] exactly; its unsigned code is the signed value + 8, MatMulNBits'
    // default zero point.
    const std::string b = StrCat(weight, "_Q4"), scales = StrCat(weight, "_scales");
    QC_RETURN_IF_ERROR(out_.Add({b, TensorInfo{DType::kU8, {n, k / block, block / 2}}, e.packed->source, e.packed->origin, {}}));
    auto scale_source = e.scale->info.dtype == ft_ ? e.scale->source : MakeCastSource(e.scale->source, e.scale->info, ft_);
    QC_RETURN_IF_ERROR(out_.Add({scales, TensorInfo{ft_, {n, k / block}}, std::move(scale_source), e.scale->origin, {}}));
    return Node("MatMulNBits", StrCat(name, "/MatMulNBits"), {x, b, scales},
                {{"K", k}, {"N", n}, {"bits", int64_t{4}}, {"block_size", block}, {"accuracy_level", options_.accuracy_level}},
                std::string(kMs));
  }

  std::vector<GraphAttribute> NormAttributes(bool standard) const {
    std::vector<GraphAttribute> a = {{"epsilon", static_cast<float>(spec_.rms_norm_eps)}};
    if (standard) a.insert(a.begin(), {"axis", int64_t{-1}}), a.push_back({"stash_type", int64_t{1}});
    return a;
  }

  // (normalized x + residual, x + residual): SkipSimplifiedLayerNormalization, outputs [out, "", "", sum].
  std::pair<std::string, std::string> SkipNorm(const std::string& name, const std::string& x, const std::string& residual,
                                               const std::string& gamma, bool keep_sum) {
    const std::string node = StrCat(name, "/SkipLayerNorm");
    std::string out = StrCat(node, "/output_0"), sum = keep_sum ? StrCat(node, "/output_3") : "";
    std::vector<std::string> outputs = {out};
    if (keep_sum) outputs = {out, "", "", sum};
    graph_.Add("SkipSimplifiedLayerNormalization", node, {x, residual, gamma}, std::move(outputs), NormAttributes(false),
               std::string(kMs));
    return {out, sum};
  }

  absl::StatusOr<std::string> Attention(int64_t layer, const std::string& x) {
    const std::string p = StrCat("/model/layers.", layer, "/attn");
    const bool bias = Find({Role::kQBias, layer}) != nullptr;
    auto maybe = [&](Role r) { return bias ? std::optional<TensorRole>({r, layer}) : std::nullopt; };
    QC_ASSIGN_OR_RETURN(std::string q, Linear(StrCat(p, "/q_proj"), x, {Role::kQ, layer}, maybe(Role::kQBias)));
    QC_ASSIGN_OR_RETURN(std::string k, Linear(StrCat(p, "/k_proj"), x, {Role::kK, layer}, maybe(Role::kKBias)));
    QC_ASSIGN_OR_RETURN(std::string v, Linear(StrCat(p, "/v_proj"), x, {Role::kV, layer}, maybe(Role::kVBias)));
    const std::string node = StrCat(p, "/GroupQueryAttention");
    const std::string out = StrCat(node, "/output_0");
    const float scale = static_cast<float>(spec_.rope.type == arch::RopeType::kYarn
                                               ? runner::Rope(spec_.rope).softmax_scale_factor() / std::sqrt(double(spec_.head_dim))
                                               : 1.0 / std::sqrt(double(spec_.head_dim)));
    graph_.Add("GroupQueryAttention", node,
               {q, k, v, StrCat("past_key_values.", layer, ".key"), StrCat("past_key_values.", layer, ".value"), seqlens_,
                total_, "cos_cache", "sin_cache"},
               {out, StrCat("present.", layer, ".key"), StrCat("present.", layer, ".value")},
               {{"num_heads", spec_.num_heads},
                {"kv_num_heads", spec_.num_kv_heads},
                {"scale", scale},
                {"do_rotary", int64_t{1}},
                {"rotary_interleaved", int64_t{0}},
                {"local_window_size", int64_t{-1}}},
               std::string(kMs));
    return Linear(StrCat(p, "/o_proj"), out, {Role::kO, layer});
  }

  absl::StatusOr<std::string> Mlp(int64_t layer, const std::string& x) {
    const std::string p = StrCat("/model/layers.", layer, "/mlp");
    QC_ASSIGN_OR_RETURN(std::string gate, Linear(StrCat(p, "/gate_proj"), x, {Role::kGate, layer}));
    QC_ASSIGN_OR_RETURN(std::string up, Linear(StrCat(p, "/up_proj"), x, {Role::kUp, layer}));
    std::string sig = Node("Sigmoid", StrCat(p, "/act_fn/Sigmoid"), {gate});
    std::string silu = Node("Mul", StrCat(p, "/act_fn/Mul"), {gate, sig});
    std::string prod = Node("Mul", StrCat(p, "/Mul"), {silu, up});
    return Linear(StrCat(p, "/down_proj"), prod, {Role::kDown, layer});
  }

  const Model& in_;
  const arch::ModelSpec& spec_;
  DType ft_;
  const OnnxDecoderOptions& options_;
  Graph graph_;
  TensorTable out_;
  std::set<std::string> consumed_;
  std::string seqlens_, total_;
  std::optional<PackedIntConfig> packed_config_;
};

class OnnxDecoderPass final : public Pass {
 public:
  explicit OnnxDecoderPass(OnnxDecoderOptions options) : options_(std::move(options)) {}
  std::string_view Name() const override { return "onnx-decoder"; }
  void BindOptions(OptionBinder& b) override { OnnxDecoderOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    if (model.layout != "hf") {
      return absl::FailedPreconditionError(StrCat("onnx-decoder needs a Hugging Face layout model, not layout '", model.layout, "'"));
    }
    const std::string type = model.model_type();
    if (type != "qwen2" && type != "llama") {
      return absl::UnimplementedError(StrCat("onnx-decoder: model_type '", type, "' (qwen2 and llama are supported)"));
    }
    if (options_.dtype != "fp32" && options_.dtype != "fp16") {
      return absl::InvalidArgumentError(StrCat("onnx-decoder: dtype '", options_.dtype, "' (expected fp32 or fp16)"));
    }
    QC_ASSIGN_OR_RETURN(arch::ModelSpec spec, arch::ParseModelSpec(model.config));
    if (spec.online_hadamard.any()) {
      return absl::UnimplementedError(
          "onnx-decoder: the model needs an online Hadamard before down_proj (rotate r4), which this ONNX decoder "
          "does not emit; rotate without r4");
    }
    if (spec.head_dim % 16 != 0 || spec.rope.dim != spec.head_dim) {
      return absl::UnimplementedError(StrCat("onnx-decoder: head_dim ", spec.head_dim, " rotated over ", spec.rope.dim,
                                             " dims; onnxruntime's GroupQueryAttention needs a multiple of 16, all rotated"));
    }
    DecoderLowering lowering(model, spec, options_.dtype == "fp16" ? DType::kF16 : DType::kF32, options_);
    QC_RETURN_IF_ERROR(lowering.Lower());
    int64_t left_out = 0;
    std::string first;
    for (const TensorEntry& e : model.tensors.entries()) {
      if (lowering.consumed().contains(e.name)) continue;
      if (left_out++ == 0) first = e.name;
    }
    if (left_out > 0 && ctx.notes) {
      ctx.notes->push_back(StrCat("onnx-decoder: ", left_out, " tensor(s) the decoder graph does not read were left out (", first,
                                  left_out > 1 ? ", ..." : "", ")"));
    }
    if (ctx.stats) {
      ctx.stats->Add("graph-nodes", static_cast<int64_t>(lowering.graph().nodes.size()));
      ctx.stats->Add("initializers", static_cast<int64_t>(lowering.tensors().size()));
    }
    model.tensors = std::move(lowering.tensors());
    model.graph = std::move(lowering.graph());
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
