#include "lib/runner/layers.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lib/support/parallel.h"

namespace quantc::runner {

void RmsNorm(const float* x, int64_t n, int64_t width, const std::vector<float>& weight, double eps, float* out) {
  // ggml's arithmetic (rms_norm then mul): FP32 squares summed in double, the mean rounded to FP32,
  // scale = 1 / sqrtf(mean + eps) in FP32. More accurate than an FP32 sum, and bit-equal to
  // llama.cpp's, which matters when the next matmul rounds its inputs (a 1-ulp difference can flip
  // an activation code).
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = x + t * width;
    float* ot = out + t * width;
    double sum = 0;
    for (int64_t i = 0; i < width; ++i) sum += static_cast<double>(xt[i] * xt[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(width));
    const float scale = 1.0f / std::sqrt(mean + static_cast<float>(eps));
    for (int64_t i = 0; i < width; ++i) ot[i] = (xt[i] * scale) * weight[i];
  }
}

void Attend(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads, int64_t kv_heads,
            int64_t dk, int64_t dv, float scale, float* out) {
  const int64_t group = heads / kv_heads;
  ParallelFor(0, n * heads, /*min_per_thread=*/4, [&](int64_t job) {
    const int64_t t = job / heads, h = job % heads, kvh = h / group;
    const int64_t keys = pos0 + t + 1;  // causal: positions 0 .. pos0 + t
    const float* qh = q + (t * heads + h) * dk;
    std::vector<float> p(static_cast<size_t>(keys));
    float max_score = -INFINITY;
    for (int64_t j = 0; j < keys; ++j) {
      const float* kj = k + (j * kv_heads + kvh) * dk;
      float s = 0;
      for (int64_t d = 0; d < dk; ++d) s += qh[d] * kj[d];
      p[j] = s * scale;
      max_score = std::max(max_score, p[j]);
    }
    float denom = 0;
    for (float& x : p) denom += (x = std::exp(x - max_score));
    float* oh = out + (t * heads + h) * dv;
    std::fill(oh, oh + dv, 0.0f);
    for (int64_t j = 0; j < keys; ++j) {
      const float w = p[j] / denom;
      const float* vj = v + (j * kv_heads + kvh) * dv;
      for (int64_t d = 0; d < dv; ++d) oh[d] += w * vj[d];
    }
  });
}

void AttendLatent(const LatentAttention& a, const float* q, const float* latent, const float* k_pe,
                  const float* kv_b, int64_t n, int64_t pos0, float* out) {
  const int64_t qk = a.nope + a.rope, r = a.kv_lora;
  ParallelFor(0, n * a.heads, /*min_per_thread=*/4, [&](int64_t job) {
    const int64_t t = job / a.heads, h = job % a.heads;
    const int64_t keys = pos0 + t + 1;
    const float* qh = q + (t * a.heads + h) * qk;
    const float* w_k = kv_b + h * (a.nope + a.v) * r;  // [nope, kv_lora]
    const float* w_v = w_k + a.nope * r;               // [v, kv_lora]
    std::vector<float> q_lat(static_cast<size_t>(r), 0.0f), ctx(static_cast<size_t>(r), 0.0f);
    for (int64_t d = 0; d < a.nope; ++d) {
      for (int64_t c = 0; c < r; ++c) q_lat[c] += qh[d] * w_k[d * r + c];
    }
    std::vector<float> p(static_cast<size_t>(keys));
    float max_score = -INFINITY;
    for (int64_t j = 0; j < keys; ++j) {
      float s = 0;
      for (int64_t c = 0; c < r; ++c) s += q_lat[c] * latent[j * r + c];
      for (int64_t d = 0; d < a.rope; ++d) s += qh[a.nope + d] * k_pe[j * a.rope + d];
      p[j] = s * a.scale;
      max_score = std::max(max_score, p[j]);
    }
    float denom = 0;
    for (float& x : p) denom += (x = std::exp(x - max_score));
    for (int64_t j = 0; j < keys; ++j) {
      const float w = p[j] / denom;
      for (int64_t c = 0; c < r; ++c) ctx[c] += w * latent[j * r + c];
    }
    float* oh = out + (t * a.heads + h) * a.v;
    for (int64_t e = 0; e < a.v; ++e) {
      float s = 0;
      for (int64_t c = 0; c < r; ++c) s += w_v[e * r + c] * ctx[c];
      oh[e] = s;
    }
  });
}

void SwiGlu(const FfnWeights& w, const float* x, int64_t n, float* out) {
  const int64_t inter = w.gate->rows();
  std::vector<float> g(static_cast<size_t>(n * inter)), u(g.size());
  kernels::MatMul(*w.gate, x, n, g.data());
  kernels::MatMul(*w.up, x, n, u.data());
  for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  if (w.down_hadamard != nullptr) kernels::hadamard::Apply(*w.down_hadamard, g.data(), n);
  kernels::MatMul(*w.down, g.data(), n, out);
}

Routing Route(const arch::MoeSpec& spec, std::span<const float> logits, const std::vector<float>* bias) {
  const int64_t e_count = static_cast<int64_t>(logits.size());
  std::vector<float> scores(logits.begin(), logits.end());
  if (spec.scoring == arch::MoeScoring::kSigmoid) {
    for (float& s : scores) s = 1.0f / (1.0f + std::exp(-s));
  } else {
    const float m = *std::max_element(scores.begin(), scores.end());
    float sum = 0;
    for (float& s : scores) sum += (s = std::exp(s - m));
    for (float& s : scores) s /= sum;
  }
  std::vector<float> choice = scores;
  if (bias != nullptr) {
    for (int64_t e = 0; e < e_count; ++e) choice[e] += (*bias)[e];
  }
  // Rank groups by the sum of their two best biased scores; keep topk_group of them.
  const int64_t per_group = e_count / spec.n_group;
  if (spec.n_group > 1) {
    std::vector<std::pair<float, int64_t>> groups;
    for (int64_t g = 0; g < spec.n_group; ++g) {
      std::vector<float> members(choice.begin() + g * per_group, choice.begin() + (g + 1) * per_group);
      std::partial_sort(members.begin(), members.begin() + std::min<int64_t>(2, per_group), members.end(),
                        std::greater<>());
      float top2 = members[0] + (per_group > 1 ? members[1] : 0.0f);
      groups.emplace_back(top2, g);
    }
    std::stable_sort(groups.begin(), groups.end(), [](auto& a, auto& b) { return a.first > b.first; });
    std::vector<bool> keep(spec.n_group, false);
    for (int64_t i = 0; i < spec.topk_group; ++i) keep[groups[i].second] = true;
    // transformers masks the other groups' scores to 0.0 (not -inf) before the top-k.
    for (int64_t e = 0; e < e_count; ++e) {
      if (!keep[e / per_group]) choice[e] = 0.0f;
    }
  }
  std::vector<int64_t> order(e_count);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return choice[a] > choice[b]; });
  Routing r;
  r.experts.assign(order.begin(), order.begin() + spec.top_k);
  float sum = 0;
  for (int64_t e : r.experts) {
    r.weights.push_back(scores[e]);  // weights come from the unbiased scores
    sum += scores[e];
  }
  for (float& w : r.weights) {
    if (spec.norm_topk_prob) w /= (sum + 1e-20f);
    w *= static_cast<float>(spec.routed_scaling_factor);
  }
  return r;
}

void Moe(const arch::MoeSpec& spec, const MoeWeights& w, const float* x, int64_t n, int64_t hidden, float* out) {
  const int64_t e_count = w.router->rows();
  std::vector<float> logits(static_cast<size_t>(n * e_count));
  kernels::MatMul(*w.router, x, n, logits.data());
  // Tokens per expert, with their weights.
  std::vector<std::vector<std::pair<int64_t, float>>> routed(e_count);
  for (int64_t t = 0; t < n; ++t) {
    Routing r = Route(spec, std::span(logits).subspan(t * e_count, e_count), w.router_bias);
    for (size_t i = 0; i < r.experts.size(); ++i) routed[r.experts[i]].emplace_back(t, r.weights[i]);
  }
  std::fill(out, out + n * hidden, 0.0f);
  std::vector<float> xe, ye;
  for (int64_t e = 0; e < e_count; ++e) {
    const auto& tokens = routed[e];
    if (tokens.empty() || w.experts[e].gate == nullptr) continue;  // null: held by another rank
    const int64_t m = static_cast<int64_t>(tokens.size());
    xe.resize(static_cast<size_t>(m * hidden));
    ye.resize(xe.size());
    for (int64_t i = 0; i < m; ++i) std::copy_n(x + tokens[i].first * hidden, hidden, xe.data() + i * hidden);
    SwiGlu(w.experts[e], xe.data(), m, ye.data());
    for (int64_t i = 0; i < m; ++i) {
      float* o = out + tokens[i].first * hidden;
      for (int64_t d = 0; d < hidden; ++d) o[d] += tokens[i].second * ye[i * hidden + d];
    }
  }
  if (w.shared.gate != nullptr) {
    std::vector<float> shared(static_cast<size_t>(n * hidden));
    SwiGlu(w.shared, x, n, shared.data());
    for (size_t i = 0; i < shared.size(); ++i) out[i] += shared[i];
  }
}

}  // namespace quantc::runner
