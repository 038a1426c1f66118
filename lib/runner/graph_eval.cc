#include "lib/runner/graph_eval.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::runner {
namespace {

using Inputs = std::vector<const GraphTensor*>;
using Outputs = std::vector<GraphTensor>;

int64_t Product(const Shape& s, size_t from = 0, size_t to = SIZE_MAX) {
  int64_t n = 1;
  for (size_t i = from; i < std::min(to, s.size()); ++i) n *= s[i];
  return n;
}

int64_t IntAttr(const GraphNode& n, std::string_view name, int64_t dflt) {
  for (const auto& a : n.attributes) {
    if (a.name == name) return std::get<int64_t>(a.value);
  }
  return dflt;
}
float FloatAttr(const GraphNode& n, std::string_view name, float dflt) {
  for (const auto& a : n.attributes) {
    if (a.name == name) return std::get<float>(a.value);
  }
  return dflt;
}

absl::Status NodeError(const GraphNode& n, std::string_view what) {
  return absl::InvalidArgumentError(StrCat("node '", n.name, "' (", n.op_type, "): ", what));
}

// Integer range of a quantized type.
std::pair<int64_t, int64_t> RangeOf(DType t) {
  switch (t) {
    case DType::kU8: return {0, 255};
    case DType::kI8: return {-128, 127};
    case DType::kU16: return {0, 65535};
    case DType::kI16: return {-32768, 32767};
    case DType::kU4: return {0, 15};
    case DType::kI4: return {-8, 7};
    default: return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
  }
}

// Numpy broadcasting of two shapes; the output shape and, per output element, each input's index.
Shape Broadcast(const Shape& a, const Shape& b) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i + a.size() >= r ? a[i + a.size() - r] : 1, db = i + b.size() >= r ? b[i + b.size() - r] : 1;
    out[i] = std::max(da, db);
  }
  return out;
}
int64_t BroadcastIndex(const Shape& out, int64_t flat, const Shape& in) {
  int64_t idx = 0, stride = 1;
  for (size_t k = 0; k < in.size(); ++k) {
    const size_t od = out.size() - 1 - k, id = in.size() - 1 - k;
    int64_t before = 1;
    for (size_t j = od + 1; j < out.size(); ++j) before *= out[j];
    const int64_t coord = (flat / before) % out[od];
    if (in[id] != 1) idx += coord * stride;
    stride *= in[id];
  }
  return idx;
}

template <typename F>
absl::StatusOr<Outputs> Binary(const GraphNode& n, const Inputs& in, F op) {
  if (!in[0]->is_float() || !in[1]->is_float()) return NodeError(n, "integer operands are not supported");
  GraphTensor out;
  out.shape = Broadcast(in[0]->shape, in[1]->shape);
  const int64_t size = Product(out.shape);
  out.f.resize(size);
  const bool same = in[0]->shape == out.shape && in[1]->shape == out.shape;
  for (int64_t k = 0; k < size; ++k) {
    const float a = in[0]->f[same ? k : BroadcastIndex(out.shape, k, in[0]->shape)];
    const float b = in[1]->f[same ? k : BroadcastIndex(out.shape, k, in[1]->shape)];
    out.f[k] = op(a, b);
  }
  return Outputs{std::move(out)};
}

absl::StatusOr<Outputs> Sigmoid(const Inputs& in) {
  GraphTensor out = GraphTensor::Float(in[0]->shape, in[0]->f);
  for (float& v : out.f) v = 1.0f / (1.0f + std::exp(-v));
  return Outputs{std::move(out)};
}

absl::StatusOr<Outputs> LpNormalization(const GraphNode& n, const Inputs& in) {
  if (IntAttr(n, "p", 2) != 2 || (IntAttr(n, "axis", -1) != -1 && IntAttr(n, "axis", -1) != int64_t(in[0]->shape.size()) - 1)) {
    return NodeError(n, "only p = 2 over the last axis");
  }
  GraphTensor out = GraphTensor::Float(in[0]->shape, in[0]->f);
  const int64_t d = in[0]->shape.back();
  for (int64_t r = 0; r < out.size() / d; ++r) {
    float* x = &out.f[r * d];
    double ss = 0;
    for (int64_t k = 0; k < d; ++k) ss += double(x[k]) * x[k];
    const float norm = static_cast<float>(std::sqrt(ss));
    if (norm > 0) {
      for (int64_t k = 0; k < d; ++k) x[k] /= norm;
    }
  }
  return Outputs{std::move(out)};
}

// y = (x - zero) * scale, per tensor or along `axis`.
absl::StatusOr<Outputs> Dequantize(const GraphNode& n, const Inputs& in) {
  const GraphTensor& x = *in[0];
  const GraphTensor& scale = *in[1];
  const GraphTensor* zero = in.size() > 2 ? in[2] : nullptr;
  if (x.is_float()) return NodeError(n, "float input");
  int64_t axis = IntAttr(n, "axis", 1);
  if (axis < 0) axis += static_cast<int64_t>(x.shape.size());
  const bool per_tensor = scale.size() == 1;
  if (!per_tensor && (scale.shape.size() != 1 || scale.shape[0] != x.shape[axis])) return NodeError(n, "scale is neither per tensor nor per axis");
  const int64_t inner = Product(x.shape, axis + 1), dim = per_tensor ? 1 : x.shape[axis];
  GraphTensor out;
  out.shape = x.shape;
  out.f.resize(x.size());
  for (int64_t k = 0; k < x.size(); ++k) {
    const int64_t c = per_tensor ? 0 : (k / inner) % dim;
    const int64_t z = zero ? zero->i[c] : 0;
    out.f[k] = static_cast<float>(x.i[k] - z) * scale.f[c];
  }
  return Outputs{std::move(out)};
}

// y = saturate(round_half_even(x / scale) + zero), per tensor.
absl::StatusOr<Outputs> Quantize(const GraphNode& n, const Inputs& in) {
  const GraphTensor& x = *in[0];
  if (in[1]->size() != 1) return NodeError(n, "only per-tensor activation quantization");
  const float scale = in[1]->f[0];
  const DType type = in.size() > 2 ? in[2]->dtype : static_cast<DType>(DType::kU8);
  const int64_t zero = in.size() > 2 ? in[2]->i[0] : 0;
  const auto [lo, hi] = RangeOf(type);
  GraphTensor out;
  out.dtype = type;
  out.shape = x.shape;
  out.i.resize(x.size());
  for (int64_t k = 0; k < x.size(); ++k) {
    const float q = std::nearbyint(x.f[k] / scale);  // FE_TONEAREST: half to even
    out.i[k] = std::clamp(static_cast<int64_t>(q) + zero, lo, hi);
  }
  return Outputs{std::move(out)};
}

// A [..., K] · B [K, N].
absl::StatusOr<Outputs> MatMul(const GraphNode& n, const Inputs& in) {
  const GraphTensor& a = *in[0];
  const GraphTensor& b = *in[1];
  if (b.shape.size() != 2 || a.shape.back() != b.shape[0]) return NodeError(n, "shapes do not match (B must be [K, N])");
  const int64_t k = b.shape[0], nn = b.shape[1], rows = a.size() / k;
  GraphTensor out;
  out.shape = a.shape;
  out.shape.back() = nn;
  out.f.assign(rows * nn, 0.0f);
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    float* y = &out.f[r * nn];
    for (int64_t j = 0; j < k; ++j) {
      const float av = a.f[r * k + j];
      const float* brow = &b.f[j * nn];
      for (int64_t c = 0; c < nn; ++c) y[c] += av * brow[c];
    }
  }
  return Outputs{std::move(out)};
}

absl::StatusOr<Outputs> MatMulNBits(const GraphNode& n, const Inputs& in) {
  const int64_t K = IntAttr(n, "K", 0), N = IntAttr(n, "N", 0), bits = IntAttr(n, "bits", 4), bs = IntAttr(n, "block_size", 0);
  if ((bits != 4 && bits != 8) || bs <= 0 || (in.size() > 3 && in[3] != nullptr)) return NodeError(n, "only 4/8 bits without zero points");
  const int64_t blocks = (K + bs - 1) / bs, blob = bs * bits / 8, zero = int64_t{1} << (bits - 1);
  const GraphTensor& a = *in[0];
  const GraphTensor& q = *in[1];
  const GraphTensor& scales = *in[2];
  if (a.shape.back() != K) return NodeError(n, "A's last dimension is not K");
  const int64_t rows = a.size() / K;
  GraphTensor out;
  out.shape = a.shape;
  out.shape.back() = N;
  out.f.assign(rows * N, 0.0f);
  // One output column at a time: its K weights decoded once, then dotted with every row of A.
#pragma omp parallel
  {
    std::vector<float> w(K);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < N; ++c) {
      for (int64_t k = 0; k < K; ++k) {
        const int64_t b = k / bs, within = k % bs;
        const int64_t byte = q.i[(c * blocks + b) * blob + (bits == 4 ? within / 2 : within)];
        const int64_t code = bits == 8 ? byte : (within % 2 ? byte >> 4 : byte & 15);
        w[k] = static_cast<float>(code - zero) * scales.f[c * blocks + b];
      }
      for (int64_t r = 0; r < rows; ++r) {
        const float* x = &a.f[r * K];
        float acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += x[k] * w[k];
        out.f[r * N + c] = acc;
      }
    }
  }
  return Outputs{std::move(out)};
}

absl::StatusOr<Outputs> GatherBlockQuantized(const GraphNode& n, const Inputs& in) {
  const GraphTensor& data = *in[0];
  const GraphTensor& ids = *in[1];
  const GraphTensor& scales = *in[2];
  const int64_t bs = IntAttr(n, "block_size", 32), bits = IntAttr(n, "bits", 4);
  if (IntAttr(n, "gather_axis", 0) != 0 || data.shape.size() != 2 || in.size() > 3) return NodeError(n, "only gather_axis 0, 2-D data, no zero points");
  const bool packed = data.dtype == DType::kU8;
  const int64_t hidden = packed ? data.shape[1] * 8 / bits : data.shape[1], zero = packed ? int64_t{1} << (bits - 1) : 0;
  const int64_t blocks = (hidden + bs - 1) / bs;
  GraphTensor out;
  out.shape = ids.shape;
  out.shape.push_back(hidden);
  out.f.resize(ids.size() * hidden);
  for (int64_t t = 0; t < ids.size(); ++t) {
    const int64_t row = ids.i[t];
    if (row < 0 || row >= data.shape[0]) continue;  // out of range: zeros, as onnxruntime does
    for (int64_t h = 0; h < hidden; ++h) {
      int64_t code;
      if (packed && bits == 4) {
        const int64_t byte = data.i[row * data.shape[1] + h / 2];
        code = h % 2 ? byte >> 4 : byte & 15;
      } else {
        code = data.i[row * data.shape[1] + h];
      }
      out.f[t * hidden + h] = static_cast<float>(code - zero) * scales.f[row * blocks + h / bs];
    }
  }
  return Outputs{std::move(out)};
}

// GroupQueryAttention with separate q/k/v [B, S, heads·D] and a past/present buffer.
absl::StatusOr<Outputs> GroupQueryAttention(const GraphNode& n, const Inputs& in) {
  const int64_t heads = IntAttr(n, "num_heads", 0), kv_heads = IntAttr(n, "kv_num_heads", 0);
  const bool rotary = IntAttr(n, "do_rotary", 0) != 0, interleaved = IntAttr(n, "rotary_interleaved", 0) != 0;
  if (in.size() < 7 || !in[1] || !in[2] || !in[3] || !in[4]) return NodeError(n, "needs separate q, k, v and a past buffer");
  if (IntAttr(n, "local_window_size", -1) != -1) return NodeError(n, "local_window_size is not supported");
  const GraphTensor &q = *in[0], &k = *in[1], &v = *in[2], &past_k = *in[3], &past_v = *in[4], &seqlens = *in[5];
  const int64_t batch = q.shape[0], s = q.shape[1], d = past_k.shape[3], buffer = past_k.shape[2];
  const float scale = FloatAttr(n, "scale", 0.0f) != 0.0f ? FloatAttr(n, "scale", 0.0f) : 1.0f / std::sqrt(float(d));
  const int64_t total_max = in[6]->i[0];
  const int64_t present_len = std::max(buffer, total_max);
  const GraphTensor* cos = in.size() > 8 ? in[7] : nullptr;
  const GraphTensor* sin = in.size() > 8 ? in[8] : nullptr;
  const GraphTensor* positions = in.size() > 9 ? in[9] : nullptr;
  if (rotary && (!cos || !sin)) return NodeError(n, "do_rotary needs cos_cache and sin_cache");
  const int64_t half = rotary ? cos->shape[1] : 0;

  GraphTensor out, pk, pv;
  out.shape = {batch, s, heads * d};
  out.f.assign(batch * s * heads * d, 0.0f);
  for (GraphTensor* p : {&pk, &pv}) {
    p->shape = {batch, kv_heads, present_len, d};
    p->f.assign(batch * kv_heads * present_len * d, 0.0f);
  }
  auto rotate = [&](float* x, int64_t pos) {
    for (int64_t i = 0; i < half; ++i) {
      const float c = cos->f[pos * half + i], sn = sin->f[pos * half + i];
      float& a = interleaved ? x[2 * i] : x[i];
      float& b = interleaved ? x[2 * i + 1] : x[i + half];
      const float x0 = a, x1 = b;
      a = x0 * c - x1 * sn;
      b = x1 * c + x0 * sn;
    }
  };
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t total = seqlens.i[b] + 1, past = total - s;
    if (past < 0 || total > present_len) return NodeError(n, StrCat("seqlens_k ", seqlens.i[b], " does not fit ", s, " new tokens in ", present_len));
    // Present = past (its first `past` rows), then the new keys and values.
    for (int64_t h = 0; h < kv_heads; ++h) {
      for (int64_t t = 0; t < std::min(buffer, present_len); ++t) {
        const int64_t from = ((b * kv_heads + h) * buffer + t) * d, to = ((b * kv_heads + h) * present_len + t) * d;
        std::copy_n(&past_k.f[from], d, &pk.f[to]);
        std::copy_n(&past_v.f[from], d, &pv.f[to]);
      }
      for (int64_t j = 0; j < s; ++j) {
        const int64_t to = ((b * kv_heads + h) * present_len + past + j) * d, from = (b * s + j) * kv_heads * d + h * d;
        std::copy_n(&k.f[from], d, &pk.f[to]);
        std::copy_n(&v.f[from], d, &pv.f[to]);
        if (rotary) rotate(&pk.f[to], positions ? positions->i[b * s + j] : past + j);
      }
    }
    std::vector<float> qh(d), scores(present_len);
    for (int64_t j = 0; j < s; ++j) {
      for (int64_t h = 0; h < heads; ++h) {
        std::copy_n(&q.f[(b * s + j) * heads * d + h * d], d, qh.data());
        if (rotary) rotate(qh.data(), positions ? positions->i[b * s + j] : past + j);
        const int64_t kvh = h / (heads / kv_heads), last = past + j;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t t = 0; t <= last; ++t) {
          const float* key = &pk.f[((b * kv_heads + kvh) * present_len + t) * d];
          float dot = 0;
          for (int64_t e = 0; e < d; ++e) dot += qh[e] * key[e];
          scores[t] = dot * scale;
          mx = std::max(mx, scores[t]);
        }
        double sum = 0;
        for (int64_t t = 0; t <= last; ++t) sum += (scores[t] = std::exp(scores[t] - mx));
        float* o = &out.f[(b * s + j) * heads * d + h * d];
        for (int64_t t = 0; t <= last; ++t) {
          const float p = static_cast<float>(scores[t] / sum);
          const float* val = &pv.f[((b * kv_heads + kvh) * present_len + t) * d];
          for (int64_t e = 0; e < d; ++e) o[e] += p * val[e];
        }
      }
    }
  }
  return Outputs{std::move(out), std::move(pk), std::move(pv)};
}

absl::StatusOr<Outputs> Evaluate(const GraphNode& n, const Inputs& in) {
  const std::string& op = n.op_type;
  if (op == "Add") return Binary(n, in, [](float a, float b) { return a + b; });
  if (op == "Sub") return Binary(n, in, [](float a, float b) { return a - b; });
  if (op == "Mul") return Binary(n, in, [](float a, float b) { return a * b; });
  if (op == "Sigmoid") return Sigmoid(in);
  if (op == "LpNormalization") return LpNormalization(n, in);
  if (op == "DequantizeLinear") return Dequantize(n, in);
  if (op == "QuantizeLinear") return Quantize(n, in);
  if (op == "MatMul") return MatMul(n, in);
  if (op == "MatMulNBits") return MatMulNBits(n, in);
  if (op == "GatherBlockQuantized") return GatherBlockQuantized(n, in);
  if (op == "GroupQueryAttention") return GroupQueryAttention(n, in);
  return absl::UnimplementedError(StrCat("node '", n.name, "': operator ", op, " is not in quantc's graph evaluator"));
}

}  // namespace

int64_t GraphTensor::size() const { return Product(shape); }

GraphTensor GraphTensor::Float(Shape shape, std::vector<float> values) {
  GraphTensor t;
  t.shape = std::move(shape);
  t.f = std::move(values);
  return t;
}

GraphTensor GraphTensor::Int(DType dtype, Shape shape, std::vector<int64_t> values) {
  GraphTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.i = std::move(values);
  return t;
}

GraphEvaluator::GraphEvaluator(const Model& model, const Graph& graph) : model_(model), graph_(graph) {}
GraphEvaluator::~GraphEvaluator() = default;

absl::StatusOr<const GraphTensor*> GraphEvaluator::Constant(const std::string& name) {
  if (auto it = constants_.find(name); it != constants_.end()) return it->second.get();
  const TensorEntry* e = model_.tensors.Find(name);
  if (e == nullptr) return nullptr;
  auto t = std::make_unique<GraphTensor>();
  t->dtype = e->info.dtype;
  t->shape = e->info.shape;
  if (Traits(e->info.dtype).is_float) {
    QC_ASSIGN_OR_RETURN(t->f, ReadAllAsF32(*e->source, e->info));
  } else {
    QC_ASSIGN_OR_RETURN(std::vector<uint8_t> raw, ReadAll(*e->source, e->info.byte_size()));
    const int64_t n = static_cast<int64_t>(e->info.num_elements());
    t->i.resize(n);
    for (int64_t k = 0; k < n; ++k) {
      switch (e->info.dtype) {
        case DType::kU8: case DType::kBool: t->i[k] = raw[k]; break;
        case DType::kI8: t->i[k] = static_cast<int8_t>(raw[k]); break;
        case DType::kU16: { uint16_t v; std::memcpy(&v, &raw[2 * k], 2); t->i[k] = v; break; }
        case DType::kI16: { int16_t v; std::memcpy(&v, &raw[2 * k], 2); t->i[k] = v; break; }
        case DType::kI32: { int32_t v; std::memcpy(&v, &raw[4 * k], 4); t->i[k] = v; break; }
        case DType::kI64: { int64_t v; std::memcpy(&v, &raw[8 * k], 8); t->i[k] = v; break; }
        case DType::kU4: t->i[k] = (raw[k / 2] >> (4 * (k % 2))) & 15; break;
        case DType::kI4: { const int64_t u = (raw[k / 2] >> (4 * (k % 2))) & 15; t->i[k] = u >= 8 ? u - 16 : u; break; }
        default: return absl::UnimplementedError(StrCat("tensor ", name, ": ", Name(e->info.dtype), " in the graph evaluator"));
      }
    }
  }
  return (constants_[name] = std::move(t)).get();
}

absl::StatusOr<std::map<std::string, GraphTensor>> GraphEvaluator::Run(std::map<std::string, GraphTensor> feeds,
                                                                       const GraphObserver* observer) {
  std::map<std::string, GraphTensor> values;
  for (const GraphValue& v : graph_.inputs) {
    auto it = feeds.find(v.name);
    if (it == feeds.end()) return absl::InvalidArgumentError(StrCat("graph input '", v.name, "' is not fed"));
    values[v.name] = std::move(it->second);
  }
  for (const GraphNode& n : graph_.nodes) {
    // A node of constants only (a weight's DequantizeLinear) is evaluated once and kept.
    if (auto f = folded_.find(n.name); f != folded_.end()) {
      for (size_t k = 0; k < n.outputs.size() && k < f->second.size(); ++k) {
        if (!n.outputs[k].empty()) values[n.outputs[k]] = f->second[k];
      }
      continue;
    }
    bool constant = true;
    Inputs in;
    for (const std::string& name : n.inputs) {
      if (name.empty()) {
        in.push_back(nullptr);
        continue;
      }
      if (auto it = values.find(name); it != values.end()) {
        in.push_back(&it->second);
        constant = false;
        continue;
      }
      QC_ASSIGN_OR_RETURN(const GraphTensor* c, Constant(name));
      if (c == nullptr) return absl::InvalidArgumentError(StrCat("node '", n.name, "' reads '", name, "', which is not computed"));
      in.push_back(c);
    }
    QC_ASSIGN_OR_RETURN(Outputs outs, Evaluate(n, in));
    if (constant && n.op_type == "DequantizeLinear") folded_[n.name] = outs;
    std::vector<const GraphTensor*> observed;
    for (size_t k = 0; k < outs.size() && k < n.outputs.size(); ++k) {
      if (n.outputs[k].empty()) continue;
      GraphTensor& stored = values[n.outputs[k]] = std::move(outs[k]);
      observed.push_back(&stored);
    }
    if (observer) (*observer)(n, observed);
  }
  std::map<std::string, GraphTensor> result;
  for (const GraphValue& v : graph_.outputs) {
    auto it = values.find(v.name);
    if (it == values.end()) return absl::InvalidArgumentError(StrCat("graph output '", v.name, "' is not computed"));
    result[v.name] = std::move(it->second);
  }
  return result;
}

}  // namespace quantc::runner
