#include "passes/onnx_npu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "lib/arch/adapter.h"
#include "lib/arch/model_spec.h"
#include "lib/ir/packed_int.h"
#include "lib/kernels/hadamard/hadamard.h"
#include "lib/kernels/int_quant/int_quant.h"
#include "lib/runner/graph_eval.h"
#include "lib/runner/npu_pipeline.h"
#include "lib/runner/rope.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/util/onnx_builder.h"
#include "passes/util/tensor_sources.h"

namespace quantc::passes {
namespace {

using arch::Role;
using arch::TensorRole;
using runner::GraphTensor;

struct QParams {
  float scale = 1.0f;
  int64_t zero = 0;
};

// Asymmetric parameters for [lo, hi] on [0, qmax] (onnxruntime's compute_scale_zp): the range
// always holds 0 and is at least `min_range` wide (QNN's MinimumRealRange 1e-4).
QParams AsymmetricParams(float lo, float hi, int64_t qmax, float min_range = 1e-4f) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  if (hi - lo < min_range) hi = lo + min_range;
  QParams p;
  p.scale = (hi - lo) / static_cast<float>(qmax);
  p.zero = std::clamp<int64_t>(static_cast<int64_t>(std::nearbyint(-lo / p.scale)), 0, qmax);
  return p;
}

std::vector<uint8_t> ScalarBytes(const void* p, size_t n) {
  std::vector<uint8_t> b(n);
  std::memcpy(b.data(), p, n);
  return b;
}

class NpuLowering {
 public:
  NpuLowering(const Model& model, const arch::ModelSpec& spec, const OnnxNpuOptions& o)
      : in_(model), spec_(spec), o_(o), b_(model, DType::kF32, o.accuracy_level) {}

  absl::Status Lower(const std::vector<int32_t>& calibration, std::vector<Graph>& graphs) {
    QC_RETURN_IF_ERROR(Tables());
    // The float twins (no activation Q/DQ) run the calibration text; their value names are the
    // final graphs' names, so the ranges they record key the final Q/DQ parameters.
    calibrating_ = true;
    QC_RETURN_IF_ERROR(Embeddings());
    Graph embeddings_twin = b_.TakeGraph("embeddings");
    QC_RETURN_IF_ERROR(Body(o_.chunk));
    Graph context_twin = b_.TakeGraph("context");
    QC_RETURN_IF_ERROR(Calibrate(embeddings_twin, context_twin, calibration));
    for (const auto& [value, key] : renamed_) {
      if (auto it = ranges_.find(key); it != ranges_.end()) ranges_[value] = it->second;
    }
    calibrating_ = false;
    QC_RETURN_IF_ERROR(Embeddings());
    graphs.push_back(b_.TakeGraph("embeddings"));
    QC_RETURN_IF_ERROR(Body(o_.chunk));
    graphs.push_back(b_.TakeGraph("context"));
    QC_RETURN_IF_ERROR(Body(1));
    graphs.push_back(b_.TakeGraph("iterator"));
    QC_RETURN_IF_ERROR(LmHead());
    graphs.push_back(b_.TakeGraph("lm_head"));
    return absl::OkStatus();
  }

  OnnxBuilder& builder() { return b_; }

 private:
  // ---- constants ---------------------------------------------------------------------------------

  // Rows of the RoPE tables: every position the model was trained for (the pipeline slides its
  // cache over longer texts, positions keep counting).
  int64_t RopePositions() const { return std::max(o_.cache, spec_.max_position_embeddings); }

  // Row-wise symmetric block-32 RTN of a float [rows, cols] matrix (quant.py's quantizer, FP32
  // scales), packed as MatMulNBits / GatherBlockQuantized read uint8 data: code + 2^(bits-1).
  absl::Status BlockQuantize(const TensorEntry& e, int bits, const std::string& data, const std::string& scales, Shape data_shape) {
    QC_ASSIGN_OR_RETURN(std::vector<float> w, ReadAllAsF32(*e.source, e.info));
    const int64_t rows = e.info.shape[0], cols = e.info.shape[1], blocks = cols / 32;
    kernels::int_quant::IntScheme scheme{.bits = bits, .group = 32, .symmetric = true};
    std::vector<uint8_t> q(static_cast<size_t>(rows * cols * bits / 8), 0);
    std::vector<float> s(static_cast<size_t>(rows * blocks));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const float* x = &w[r * cols + blk * 32];
        const auto p = kernels::int_quant::FitParams(scheme, x, 32, DType::kF32);
        s[r * blocks + blk] = p.scale;
        for (int64_t j = 0; j < 32; ++j) {
          const int32_t code = kernels::int_quant::QuantizeCode(p, kernels::int_quant::MaxQ(scheme), x[j]);
          const int64_t at = r * cols + blk * 32 + j;
          if (bits == 8) q[at] = static_cast<uint8_t>(code);
          else q[at / 2] |= static_cast<uint8_t>(code << (4 * (at % 2)));
        }
      }
    }
    QC_RETURN_IF_ERROR(b_.AddOwned(data, {DType::kU8, std::move(data_shape)}, std::move(q), "block-quantized"));
    return b_.AddOwned(scales, {DType::kF32, {rows, blocks}}, ScalarBytes(s.data(), s.size() * 4), "block scales");
  }

  // Tensors the graphs share: rope caches, the quantized embedding table and head.
  absl::Status Tables() {
    const TensorEntry* embed = b_.Find({Role::kEmbedding});
    const TensorEntry* head = b_.Find({Role::kLmHead});
    if (head == nullptr) head = embed;  // tied
    for (const TensorEntry* e : {embed, head}) {
      if (e == nullptr || !IsDenseFloat(e->info.dtype) || e->info.shape.size() != 2 || e->info.shape[1] % 32 != 0) {
        return absl::InvalidArgumentError(StrCat("onnx-npu: tensor ", e ? e->name : "embed_tokens/lm_head",
                                                 ": needs a float [rows, cols] matrix with cols a multiple of 32"));
      }
    }
    const int64_t hidden = spec_.hidden_size, vocab = embed->info.shape[0];
    QC_RETURN_IF_ERROR(BlockQuantize(*embed, 4, "model.embed_tokens.weight_q4", "model.embed_tokens.weight_scales", {vocab, hidden / 2}));
    QC_RETURN_IF_ERROR(BlockQuantize(*head, static_cast<int>(o_.lm_head_bits), "lm_head.weight_q", "lm_head.weight_scales",
                                     {head->info.shape[0], hidden / 32, 32 * o_.lm_head_bits / 8}));
    // RoPE tables; each graph reads them as uint16 constants behind a DequantizeLinear (every
    // float the NPU reads is DQ'd).
    runner::Rope(spec_.rope).Tables(RopePositions(), cos_, sin_);
    if (spec_.online_hadamard.down_proj > 0) QC_RETURN_IF_ERROR(HadamardTable(spec_.online_hadamard.down_proj));
    return absl::OkStatus();
  }

  // rotate r4's online Hadamard before down_proj, y = H x with H = (1/√n)·H_n (lib/kernels/hadamard,
  // the runner's transform), as a MatMul weight W [n, n] = Hᵀ: every entry is ±1/√n, so INT4 codes
  // ±1 with the per-channel scale 1/√n hold it exactly (QNN runs it as one more int4 MatMul).
  absl::Status HadamardTable(int64_t n) {
    QC_ASSIGN_OR_RETURN(kernels::hadamard::Plan plan, kernels::hadamard::MakePlan(n));
    std::vector<uint8_t> codes(static_cast<size_t>((n * n + 1) / 2), 0);
    std::vector<float> row(n);
    for (int64_t k = 0; k < n; ++k) {  // row k of W = H e_k
      std::fill(row.begin(), row.end(), 0.0f);
      row[k] = 1.0f;
      kernels::hadamard::Apply(plan, row.data(), 1);
      for (int64_t j = 0; j < n; ++j) {
        const int64_t at = k * n + j;
        const uint8_t nibble = row[j] > 0 ? 0x1 : 0xF;  // +1 / -1 in two's complement
        codes[at / 2] |= static_cast<uint8_t>(nibble << (4 * (at % 2)));
      }
    }
    const std::vector<float> scale(n, static_cast<float>(1.0 / std::sqrt(static_cast<double>(n))));
    QC_RETURN_IF_ERROR(b_.AddOwned("online_hadamard.down_proj_int4", {DType::kI4, {n, n}}, std::move(codes), "hadamard"));
    QC_RETURN_IF_ERROR(b_.AddOwned("online_hadamard.down_proj_scale", {DType::kF32, {n}}, ScalarBytes(scale.data(), n * 4), "hadamard"));
    return b_.AddOwned("online_hadamard.down_proj_zero_point", {DType::kI4, {n}}, std::vector<uint8_t>((n + 1) / 2, 0), "zeros");
  }

  // A float constant stored with `bits` (8 or 16) per tensor, asymmetric, behind a DequantizeLinear.
  absl::StatusOr<std::string> ConstQuantized(const std::string& name, const std::vector<float>& v, Shape shape, int bits) {
    const int64_t qmax = (int64_t{1} << bits) - 1;
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    const QParams p = AsymmetricParams(*lo, *hi, qmax, 0.0f);
    const DType t = bits == 8 ? DType::kU8 : DType::kU16;
    std::vector<uint8_t> bytes(v.size() * bits / 8);
    for (size_t i = 0; i < v.size(); ++i) {
      const int64_t q = std::clamp<int64_t>(static_cast<int64_t>(std::nearbyint(v[i] / p.scale)) + p.zero, 0, qmax);
      if (bits == 8) bytes[i] = static_cast<uint8_t>(q);
      else { const uint16_t u = static_cast<uint16_t>(q); std::memcpy(&bytes[2 * i], &u, 2); }
    }
    const std::string data = StrCat(name, "_quantized");
    if (b_.tensors().Find(data) == nullptr) {
      QC_RETURN_IF_ERROR(b_.AddOwned(data, {t, std::move(shape)}, std::move(bytes), "quantized constant"));
      QC_RETURN_IF_ERROR(AddParams(name, p, t));
    }
    return b_.Node("DequantizeLinear", StrCat(name, "/DequantizeLinear"), {data, StrCat(name, "_scale"), StrCat(name, "_zero_point")},
                   {{"axis", int64_t{0}}});
  }
  absl::StatusOr<std::string> ConstU16(const std::string& name, const std::vector<float>& v, Shape shape) {
    return ConstQuantized(name, v, std::move(shape), 16);
  }

  // `prefix`_scale (F32) and `prefix`_zero_point (`t`: U8 or U16) scalars.
  absl::Status AddParams(const std::string& prefix, const QParams& p, DType t) {
    QC_RETURN_IF_ERROR(b_.AddOwned(StrCat(prefix, "_scale"), {DType::kF32, {}}, ScalarBytes(&p.scale, 4), "qparam"));
    if (t == DType::kU8) {
      const uint8_t z = static_cast<uint8_t>(p.zero);
      return b_.AddOwned(StrCat(prefix, "_zero_point"), {t, {}}, ScalarBytes(&z, 1), "qparam");
    }
    const uint16_t z = static_cast<uint16_t>(p.zero);
    return b_.AddOwned(StrCat(prefix, "_zero_point"), {t, {}}, ScalarBytes(&z, 2), "qparam");
  }

  // ---- activations -------------------------------------------------------------------------------

  // Graph dims: -1 is the symbolic "sequence_length" (the CPU-side models), the rest fixed.
  static std::vector<GraphDim> Dims(const Shape& dims) {
    std::vector<GraphDim> d;
    for (int64_t x : dims) d.push_back(x < 0 ? GraphDim::Symbol("sequence_length") : GraphDim::Fixed(x));
    return d;
  }
  Shape KvShape() const { return {1, spec_.num_kv_heads, o_.cache, spec_.head_dim}; }

  QParams ActivationParams(const std::string& key) const {
    auto it = ranges_.find(key);
    return it == ranges_.end() ? AsymmetricParams(0, 0, 65535) : AsymmetricParams(it->second.first, it->second.second, 65535);
  }
  // Registers uint16 parameters for `key` (once) and returns the names of scale and zero point.
  std::pair<std::string, std::string> Params(const std::string& key, std::optional<QParams> fixed = std::nullopt) {
    const std::string prefix = StrCat(key, "/q");
    if (b_.tensors().Find(StrCat(prefix, "_scale")) == nullptr) (void)AddParams(prefix, fixed ? *fixed : ActivationParams(key), DType::kU16);
    return {StrCat(prefix, "_scale"), StrCat(prefix, "_zero_point")};
  }
  // The activation `v` through a uint16 Q→DQ pair (calibrating: `v` itself, its range recorded).
  std::string Act(const std::string& v, std::optional<QParams> fixed = std::nullopt) {
    if (calibrating_) return v;
    const auto [scale, zero] = Params(v, fixed);
    const std::string q = b_.Node("QuantizeLinear", StrCat(v, "/QuantizeLinear"), {v, scale, zero}, {{"axis", int64_t{0}}});
    return b_.Node("DequantizeLinear", StrCat(v, "/DequantizeLinear"), {q, scale, zero}, {{"axis", int64_t{0}}});
  }
  // A graph output `key`: uint16 through a QuantizeLinear (calibrating: float, named `key`).
  void Output(const std::string& v, const std::string& key, const Shape& dims) {
    std::vector<GraphDim> d = Dims(dims);
    if (calibrating_) {
      renamed_.emplace_back(v, key);  // the final graph reads `v` (under its own name) too
      for (auto it = b_.graph().nodes.rbegin(); it != b_.graph().nodes.rend(); ++it) {
        for (std::string& out : it->outputs) {
          if (out == v) out = key;
        }
      }
      b_.graph().outputs.push_back({key, DType::kF32, std::move(d)});
      return;
    }
    const auto [scale, zero] = Params(key);
    b_.graph().Add("QuantizeLinear", StrCat(key, "/QuantizeLinear"), {v, scale, zero}, {key}, {{"axis", int64_t{0}}});
    b_.graph().outputs.push_back({key, DType::kU16, std::move(d)});
  }
  // A graph input `key` of the pipeline: uint16 dequantized with `key`'s parameters (calibrating: float).
  std::string Input(const std::string& key, const Shape& dims) {
    b_.graph().inputs.push_back({key, calibrating_ ? DType::kF32 : DType::kU16, Dims(dims)});
    if (calibrating_) return key;
    const auto [scale, zero] = Params(key);
    return b_.Node("DequantizeLinear", StrCat(key, "/DequantizeLinear"), {key, scale, zero}, {{"axis", int64_t{0}}});
  }
  // The range key of a past input is its present output's.
  std::string PastInput(int64_t layer, const char* kind) {
    const std::string past = StrCat("past_key_values.", layer, ".", kind), present = StrCat("present.", layer, ".", kind);
    b_.graph().inputs.push_back({past, calibrating_ ? DType::kF32 : DType::kU16, Dims(KvShape())});
    if (calibrating_) return past;
    const auto [scale, zero] = Params(present);
    return b_.Node("DequantizeLinear", StrCat(past, "/DequantizeLinear"), {past, scale, zero}, {{"axis", int64_t{0}}});
  }

  // ---- weights -----------------------------------------------------------------------------------

  // An int4 per-channel weight: DequantizeLinear(INT4 [K, N], scale [N], zero INT4 [N], axis 1).
  absl::StatusOr<std::string> Weight(const TensorRole& role) {
    const std::string name = arch::HfTensorName(role);
    const std::string dq = StrCat(name, "/DequantizeLinear/output_0");
    if (b_.tensors().Find(StrCat(name, "_int4")) == nullptr) {
      auto e = FindPackedInt(in_.tensors, name);
      if (!e) {
        return absl::InvalidArgumentError(StrCat("onnx-npu: tensor ", name, " is not int4 per-channel codes (run int-quant(scheme=int4) "
                                                 "or gptq(scheme=int4) first: the NPU takes per-channel int4 weights)"));
      }
      if (!packed_config_) {
        QC_ASSIGN_OR_RETURN(packed_config_, PackedIntConfigOf(in_));
      }
      QC_ASSIGN_OR_RETURN(auto shape, CheckPackedInt(name, *e, *packed_config_));
      if (packed_config_->bits != 4 || !packed_config_->symmetric || packed_config_->group_size != -1) {
        return absl::InvalidArgumentError(StrCat("onnx-npu: tensor ", name, ": the NPU takes int4 symmetric per-channel weights "
                                                 "(scheme int4), not groups or asymmetric codes"));
      }
      const auto [n, k] = shape;
      QC_RETURN_IF_ERROR(b_.tensors().Add({StrCat(name, "_int4"), {DType::kI4, {k, n}}, MakeInt4TransposeSource(e->packed->source, n, k),
                                           e->packed->origin, {}}));
      QC_RETURN_IF_ERROR(b_.tensors().Add({StrCat(name, "_scale"), {DType::kF32, {n}},
                                           MakeCastSource(e->scale->source, e->scale->info, DType::kF32), e->scale->origin, {}}));
      QC_RETURN_IF_ERROR(b_.AddOwned(StrCat(name, "_zero_point"), {DType::kI4, {n}}, std::vector<uint8_t>((n + 1) / 2, 0), "zeros"));
    }
    b_.graph().Add("DequantizeLinear", StrCat(name, "/DequantizeLinear"),
                   {StrCat(name, "_int4"), StrCat(name, "_scale"), StrCat(name, "_zero_point")}, {dq}, {{"axis", int64_t{1}}});
    return dq;
  }

  absl::StatusOr<std::string> Linear(const std::string& p, const std::string& x, Role role, int64_t layer, std::optional<Role> bias = {}) {
    QC_ASSIGN_OR_RETURN(std::string w, Weight({role, layer}));
    std::string y = Act(b_.Node("MatMul", StrCat(p, "/MatMul"), {x, w}));
    if (!bias) return y;
    QC_ASSIGN_OR_RETURN(std::string b, FloatConst({*bias, layer}, 1.0f));
    return Act(b_.Node("Add", StrCat(p, "/Add"), {y, b}));
  }

  // A model float tensor (bias, norm) times `factor`, as uint8 behind a DequantizeLinear.
  absl::StatusOr<std::string> FloatConst(const TensorRole& role, float factor) {
    const TensorEntry* e = b_.Find(role);
    if (e == nullptr) return absl::NotFoundError(StrCat("tensor ", arch::HfTensorName(role), " is missing"));
    QC_ASSIGN_OR_RETURN(std::vector<float> v, ReadAllAsF32(*e->source, e->info));
    for (float& x : v) x *= factor;
    return ConstQuantized(e->name, v, e->info.shape, 8);
  }

  // RMSNorm as LpNormalization(x) · (γ·√H): eps dropped, as QNN's L2-norm form has none.
  absl::StatusOr<std::string> Norm(const std::string& p, const std::string& x, const TensorRole& gamma) {
    const std::string l2 = Act(b_.Node("LpNormalization", StrCat(p, "/LpNormalization"), {x}, {{"axis", int64_t{-1}}, {"p", int64_t{2}}}));
    QC_ASSIGN_OR_RETURN(std::string g, FloatConst(gamma, static_cast<float>(std::sqrt(static_cast<double>(spec_.hidden_size)))));
    return Act(b_.Node("Mul", StrCat(p, "/Mul"), {l2, g}));
  }

  // ---- graphs ------------------------------------------------------------------------------------

  absl::Status Embeddings() {
    b_.graph().inputs.push_back({"input_ids", DType::kI64, {GraphDim::Fixed(1), GraphDim::Symbol("sequence_length")}});
    const std::string e = b_.Node("GatherBlockQuantized", "/model/embed_tokens/GatherBlockQuantized",
                                  {"model.embed_tokens.weight_q4", "input_ids", "model.embed_tokens.weight_scales"},
                                  {{"gather_axis", int64_t{0}}, {"quantize_axis", int64_t{1}}, {"block_size", int64_t{32}}, {"bits", int64_t{4}}},
                                  std::string(kMsDomain));
    Output(e, "inputs_embeds", {1, -1, spec_.hidden_size});
    return absl::OkStatus();
  }

  absl::Status Body(int64_t s) {
    std::string x = Input("inputs_embeds", {1, s, spec_.hidden_size});
    std::vector<std::pair<std::string, std::string>> past;
    for (int64_t l = 0; l < spec_.num_layers; ++l) {
      std::string key = PastInput(l, "key");
      past.emplace_back(std::move(key), PastInput(l, "value"));
    }
    b_.graph().inputs.push_back({"past_seq_len", DType::kI32, {GraphDim::Fixed(1), GraphDim::Fixed(1)}});
    b_.graph().inputs.push_back({"total_seq_len", DType::kI32, {}});
    // Absolute positions: once the cache slides, they run ahead of the buffer's row indices.
    b_.graph().inputs.push_back({"position_ids", DType::kI64, {GraphDim::Fixed(1), GraphDim::Fixed(s)}});
    const bool bias = b_.Find({Role::kQBias, 0}) != nullptr;
    auto maybe = [&](Role r) { return bias ? std::optional<Role>(r) : std::nullopt; };
    const double scale = runner::Rope(spec_.rope).softmax_scale_factor() / std::sqrt(static_cast<double>(spec_.head_dim));
    const Shape cache_shape = {RopePositions(), spec_.rope.dim / 2};
    QC_ASSIGN_OR_RETURN(const std::string cos, ConstU16("cos_cache", cos_, cache_shape));
    QC_ASSIGN_OR_RETURN(const std::string sin, ConstU16("sin_cache", sin_, cache_shape));
    for (int64_t l = 0; l < spec_.num_layers; ++l) {
      const std::string p = StrCat("/model/layers.", l);
      QC_ASSIGN_OR_RETURN(std::string h, Norm(StrCat(p, "/input_layernorm"), x, {Role::kAttnNorm, l}));
      QC_ASSIGN_OR_RETURN(std::string q, Linear(StrCat(p, "/attn/q_proj"), h, Role::kQ, l, maybe(Role::kQBias)));
      QC_ASSIGN_OR_RETURN(std::string k, Linear(StrCat(p, "/attn/k_proj"), h, Role::kK, l, maybe(Role::kKBias)));
      QC_ASSIGN_OR_RETURN(std::string v, Linear(StrCat(p, "/attn/v_proj"), h, Role::kV, l, maybe(Role::kVBias)));
      const auto outs = b_.NodeN("GroupQueryAttention", StrCat(p, "/attn/GroupQueryAttention"),
                                 {q, k, v, past[l].first, past[l].second, "past_seq_len", "total_seq_len", cos, sin, "position_ids"}, 3,
                                 {{"num_heads", spec_.num_heads},
                                  {"kv_num_heads", spec_.num_kv_heads},
                                  {"scale", static_cast<float>(scale)},
                                  {"do_rotary", int64_t{1}},
                                  {"rotary_interleaved", int64_t{0}},
                                  {"local_window_size", int64_t{-1}}},
                                 std::string(kMsDomain));
      Output(outs[1], StrCat("present.", l, ".key"), KvShape());
      Output(outs[2], StrCat("present.", l, ".value"), KvShape());
      QC_ASSIGN_OR_RETURN(std::string o, Linear(StrCat(p, "/attn/o_proj"), Act(outs[0]), Role::kO, l));
      x = Act(b_.Node("Add", StrCat(p, "/attn_residual"), {x, o}));
      QC_ASSIGN_OR_RETURN(std::string h2, Norm(StrCat(p, "/post_attention_layernorm"), x, {Role::kFfnNorm, l}));
      QC_ASSIGN_OR_RETURN(std::string g, Linear(StrCat(p, "/mlp/gate_proj"), h2, Role::kGate, l));
      const std::string sig = Act(b_.Node("Sigmoid", StrCat(p, "/mlp/act_fn/Sigmoid"), {g}), QParams{1.0f / 65536.0f, 0});
      const std::string silu = Act(b_.Node("Mul", StrCat(p, "/mlp/act_fn/Mul"), {g, sig}));
      QC_ASSIGN_OR_RETURN(std::string u, Linear(StrCat(p, "/mlp/up_proj"), h2, Role::kUp, l));
      std::string prod = Act(b_.Node("Mul", StrCat(p, "/mlp/Mul"), {silu, u}));
      if (spec_.online_hadamard.down_proj > 0) {
        const std::string h = b_.Node("DequantizeLinear", StrCat(p, "/mlp/online_hadamard/DequantizeLinear"),
                                      {"online_hadamard.down_proj_int4", "online_hadamard.down_proj_scale",
                                       "online_hadamard.down_proj_zero_point"},
                                      {{"axis", int64_t{1}}});
        prod = Act(b_.Node("MatMul", StrCat(p, "/mlp/online_hadamard/MatMul"), {prod, h}));
      }
      QC_ASSIGN_OR_RETURN(std::string d, Linear(StrCat(p, "/mlp/down_proj"), prod, Role::kDown, l));
      x = Act(b_.Node("Add", StrCat(p, "/mlp_residual"), {x, d}));
    }
    QC_ASSIGN_OR_RETURN(std::string out, Norm("/model/norm", x, {Role::kFinalNorm}));
    Output(out, "hidden_states", {1, s, spec_.hidden_size});
    return absl::OkStatus();
  }

  absl::Status LmHead() {
    const std::string h = Input("hidden_states", {1, -1, spec_.hidden_size});
    b_.graph().Add("MatMulNBits", "/lm_head/MatMulNBits", {h, "lm_head.weight_q", "lm_head.weight_scales"}, {"logits"},
                   {{"K", spec_.hidden_size}, {"N", spec_.vocab_size}, {"bits", o_.lm_head_bits}, {"block_size", int64_t{32}},
                    {"accuracy_level", o_.accuracy_level}},
                   std::string(kMsDomain));
    b_.graph().outputs.push_back({"logits", DType::kF32, {GraphDim::Fixed(1), GraphDim::Symbol("sequence_length"), GraphDim::Fixed(spec_.vocab_size)}});
    return absl::OkStatus();
  }

  // ---- calibration -------------------------------------------------------------------------------

  absl::Status Calibrate(const Graph& embeddings, const Graph& context, const std::vector<int32_t>& tokens) {
    const int64_t s = o_.chunk, window = std::min(o_.ctx, o_.cache) / s * s;
    if (window <= 0) return absl::InvalidArgumentError("onnx-npu: ctx and cache must hold at least one chunk");
    if (static_cast<int64_t>(tokens.size()) < window) {
      return absl::InvalidArgumentError(StrCat("onnx-npu: ", tokens.size(), " calibration tokens, fewer than one window of ", window));
    }
    Model view;
    view.tensors = b_.tensors();
    runner::GraphEvaluator embed(view, embeddings), body(view, context);
    // Every node output's range, by value name (the embeddings' output is named inputs_embeds).
    auto record = [&](const std::string& name, const GraphTensor& t) {
      if (!t.is_float() || t.f.empty()) return;
      const auto [lo, hi] = std::minmax_element(t.f.begin(), t.f.end());
      auto [it, fresh] = ranges_.try_emplace(name, *lo, *hi);
      if (!fresh) it->second = {std::min(it->second.first, *lo), std::max(it->second.second, *hi)};
    };
    const runner::GraphObserver observer = [&](const GraphNode& n, const std::vector<const GraphTensor*>& outs) {
      size_t k = 0;
      for (const std::string& name : n.outputs) {
        if (!name.empty() && k < outs.size()) record(name, *outs[k++]);
      }
    };
    const int64_t windows = std::min<int64_t>(o_.samples, static_cast<int64_t>(tokens.size()) / window);
    const Shape kv_shape = KvShape();
    for (int64_t w = 0; w < windows; ++w) {
      std::map<std::string, GraphTensor> cache;  // the float twin's KV buffers, past_key_values.* by name
      for (int64_t l = 0; l < spec_.num_layers; ++l) {
        for (const char* kind : {"key", "value"}) {
          GraphTensor zeros = GraphTensor::Float(kv_shape, {});
          zeros.f.assign(zeros.size(), 0.0f);
          cache[StrCat("past_key_values.", l, ".", kind)] = std::move(zeros);
        }
      }
      // Full chunks from an empty buffer: lib/runner/npu_pipeline.h's protocol without padding or sliding.
      for (int64_t c = 0; c < window; c += s) {
        std::vector<int64_t> ids(tokens.begin() + w * window + c, tokens.begin() + w * window + c + s);
        QC_ASSIGN_OR_RETURN(auto e, embed.Run({{"input_ids", GraphTensor::Int(DType::kI64, {1, s}, ids)}}, &observer));
        std::map<std::string, GraphTensor> feeds;
        for (auto& [name, t] : cache) feeds[name] = std::move(t);
        feeds["inputs_embeds"] = std::move(e["inputs_embeds"]);
        runner::SetNpuStepInputs(feeds, c, s, c);
        QC_ASSIGN_OR_RETURN(auto out, body.Run(std::move(feeds), &observer));
        runner::CarryPresents(out, cache);
      }
    }
    return absl::OkStatus();
  }

 private:
  const Model& in_;
  const arch::ModelSpec& spec_;
  const OnnxNpuOptions& o_;
  OnnxBuilder b_;
  bool calibrating_ = false;
  std::map<std::string, std::pair<float, float>> ranges_;          // value -> [min, max] over calibration
  std::vector<std::pair<std::string, std::string>> renamed_;      // (value, output key) in the twins
  std::optional<PackedIntConfig> packed_config_;
  std::vector<float> cos_, sin_;  // RoPE tables [RopePositions(), rope_dim / 2]
};

class OnnxNpuPass final : public Pass {
 public:
  explicit OnnxNpuPass(OnnxNpuOptions options) : options_(std::move(options)) {}
  std::string_view Name() const override { return "onnx-npu"; }
  void BindOptions(OptionBinder& b) override { OnnxNpuOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    static constexpr std::string_view kTypes[] = {"qwen2", "llama"};
    QC_ASSIGN_OR_RETURN(arch::ModelSpec spec, CheckLowerable(model, "onnx-npu", kTypes));
    if (options_.lm_head_bits != 4 && options_.lm_head_bits != 8) return absl::InvalidArgumentError("onnx-npu: lm-head-bits must be 4 or 8");
    if (options_.chunk <= 0 || options_.cache < options_.chunk) return absl::InvalidArgumentError("onnx-npu: need 0 < chunk <= cache");
    if (ctx.calibration == nullptr) {
      return absl::InvalidArgumentError("onnx-npu calibrates the uint16 activation ranges: give calibration text (--calib FILE)");
    }
    if (spec.online_hadamard.expert_down_proj > 0 || spec.online_hadamard.shared_down_proj > 0) {
      return absl::UnimplementedError("onnx-npu: online Hadamards of experts (MoE models are not lowered)");
    }
    if (spec.head_dim % 16 != 0 || spec.rope.dim != spec.head_dim || spec.hidden_size % 32 != 0) {
      return absl::UnimplementedError(StrCat("onnx-npu: head_dim ", spec.head_dim, ", hidden ", spec.hidden_size,
                                             " (GroupQueryAttention needs head_dim % 16 == 0, the tables hidden % 32 == 0)"));
    }
    NpuLowering lowering(model, spec, options_);
    std::vector<Graph> graphs;
    QC_RETURN_IF_ERROR(lowering.Lower(*ctx.calibration, graphs));
    if (ctx.stats) {
      for (const Graph& g : graphs) ctx.stats->Add(StrCat(g.name, "-nodes"), static_cast<int64_t>(g.nodes.size()));
    }
    model.tensors = std::move(lowering.builder().tensors());
    model.graphs = std::move(graphs);
    model.layout = "onnx";
    return absl::OkStatus();
  }

 private:
  OnnxNpuOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateOnnxNpuPass(OnnxNpuOptions options) { return std::make_unique<OnnxNpuPass>(std::move(options)); }

}  // namespace quantc::passes
