#include "lib/runner/runner.h"

#include <cmath>
#include <map>

#include "lib/arch/gguf_layout.h"
#include "lib/runner/layers.h"
#include "lib/runner/rope.h"
#include "lib/runner/weights.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::runner {

using arch::Role;
using kernels::MatMul;
using kernels::WeightMatrix;

struct LayerWeights {
  const std::vector<float>* attn_norm = nullptr;
  const std::vector<float>* ffn_norm = nullptr;
  // GQA attention (q also serves MLA without q_lora_rank)
  const WeightMatrix *q = nullptr, *k = nullptr, *v = nullptr, *o = nullptr;
  const std::vector<float> *q_bias = nullptr, *k_bias = nullptr, *v_bias = nullptr;
  // MLA
  const WeightMatrix *q_a = nullptr, *q_b = nullptr, *kv_a = nullptr, *kv_b = nullptr;
  // GGUF layout: kv_b split per head, k_b [heads, kv_lora, nope] (transposed) and v_b [heads, v, kv_lora]
  const WeightMatrix *k_b = nullptr, *v_b = nullptr;
  const std::vector<float> *q_a_norm = nullptr, *kv_a_norm = nullptr;
  // FFN: dense or MoE
  FfnWeights ffn;
  bool moe = false;
  MoeWeights moe_weights;
};

struct Runner::Impl {
  arch::ModelSpec spec;
  const arch::ArchAdapter* adapter = nullptr;
  std::unique_ptr<Weights> weights;
  std::unique_ptr<Rope> rope;
  const WeightMatrix* embedding = nullptr;
  const WeightMatrix* lm_head = nullptr;
  const std::vector<float>* final_norm = nullptr;
  std::vector<LayerWeights> layers;
  // An mp rank: its slice of the vocabulary starts at vocab_offset; absent routed experts are
  // another rank's.
  bool mp_rank = false;
  int64_t vocab_offset = 0;
  // rotate(r4)'s online Hadamards on the down projections' inputs, by width.
  std::map<int64_t, kernels::hadamard::Plan> down_hadamard;


  absl::Status LoadLayer(int64_t l, LayerWeights& lw);
  // Gives f the online Hadamard of `width` (0: none) after checking its down matrix is that wide.
  absl::Status AttachDownHadamard(FfnWeights& f, int64_t width, const arch::TensorRole& down) const;
  void Attention(const LayerWeights& lw, const float* x, int64_t n, int64_t pos0, KvCache::Layer& cache, float* out) const;
  void MlaAttention(const LayerWeights& lw, const float* x, int64_t n, int64_t pos0, KvCache::Layer& cache,
                    float* out) const;
};

namespace {

// Optional weights: null when the checkpoint lacks them (biases, for instance).
template <typename T>
absl::Status Optional(absl::StatusOr<T> found, T* out) {
  if (found.ok()) *out = *found;
  else if (!absl::IsNotFound(found.status())) return found.status();
  return absl::OkStatus();
}

void AppendRows(std::vector<float>& cache, const float* rows, int64_t count) { cache.insert(cache.end(), rows, rows + count); }

}  // namespace

absl::Status Runner::Impl::LoadLayer(int64_t l, LayerWeights& lw) {
  Weights& w = *weights;
  QC_ASSIGN_OR_RETURN(lw.attn_norm, w.Vector(Role::kAttnNorm, l));
  QC_ASSIGN_OR_RETURN(lw.ffn_norm, w.Vector(Role::kFfnNorm, l));
  QC_ASSIGN_OR_RETURN(lw.o, w.Matrix(Role::kO, l));
  if (spec.mla.enabled()) {
    if (spec.mla.q_lora_rank > 0) {
      QC_ASSIGN_OR_RETURN(lw.q_a, w.Matrix(Role::kQA, l));
      QC_ASSIGN_OR_RETURN(lw.q_a_norm, w.Vector(Role::kQANorm, l));
      QC_ASSIGN_OR_RETURN(lw.q_b, w.Matrix(Role::kQB, l));
    } else {
      QC_ASSIGN_OR_RETURN(lw.q, w.Matrix(Role::kQ, l));
    }
    QC_ASSIGN_OR_RETURN(lw.kv_a, w.Matrix(Role::kKVA, l));
    QC_ASSIGN_OR_RETURN(lw.kv_a_norm, w.Vector(Role::kKVANorm, l));
    const arch::MlaSpec& m = spec.mla;
    const int64_t heads = spec.num_heads;
    auto check = [&](const WeightMatrix* mat, arch::Role role, int64_t rows, int64_t cols) -> absl::Status {
      if (mat->rows() == rows && mat->cols() == cols) return absl::OkStatus();
      return absl::InvalidArgumentError(StrCat("tensor '", adapter->TensorName({role, l}), "' is [", mat->rows(), ", ",
                                               mat->cols(), "] as a matrix, expected [", rows, ", ", cols, "]"));
    };
    if (w.Has(Role::kKB, l)) {
      QC_ASSIGN_OR_RETURN(lw.k_b, w.Matrix(Role::kKB, l));
      QC_ASSIGN_OR_RETURN(lw.v_b, w.Matrix(Role::kVB, l));
      QC_RETURN_IF_ERROR(check(lw.k_b, Role::kKB, heads * m.kv_lora_rank, m.qk_nope_head_dim));
      QC_RETURN_IF_ERROR(check(lw.v_b, Role::kVB, heads * m.v_head_dim, m.kv_lora_rank));
    } else {
      QC_ASSIGN_OR_RETURN(lw.kv_b, w.Matrix(Role::kKVB, l));
      QC_RETURN_IF_ERROR(check(lw.kv_b, Role::kKVB, heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank));
    }
  } else {
    QC_ASSIGN_OR_RETURN(lw.q, w.Matrix(Role::kQ, l));
    QC_ASSIGN_OR_RETURN(lw.k, w.Matrix(Role::kK, l));
    QC_ASSIGN_OR_RETURN(lw.v, w.Matrix(Role::kV, l));
    if (spec.attention_bias) {
      QC_ASSIGN_OR_RETURN(lw.q_bias, w.Vector(Role::kQBias, l));
      QC_ASSIGN_OR_RETURN(lw.k_bias, w.Vector(Role::kKBias, l));
      QC_ASSIGN_OR_RETURN(lw.v_bias, w.Vector(Role::kVBias, l));
    }
  }
  lw.moe = spec.moe.IsMoeLayer(l);
  if (!lw.moe) {
    QC_ASSIGN_OR_RETURN(lw.ffn.gate, w.Matrix(Role::kGate, l));
    QC_ASSIGN_OR_RETURN(lw.ffn.up, w.Matrix(Role::kUp, l));
    QC_ASSIGN_OR_RETURN(lw.ffn.down, w.Matrix(Role::kDown, l));
    return AttachDownHadamard(lw.ffn, spec.online_hadamard.down_proj, {Role::kDown, l});
  }
  MoeWeights& m = lw.moe_weights;
  QC_ASSIGN_OR_RETURN(m.router, w.Matrix(Role::kRouter, l));
  QC_RETURN_IF_ERROR(Optional(w.Vector(Role::kRouterBias, l), &m.router_bias));
  for (int64_t e = 0; e < spec.moe.n_routed_experts; ++e) {
    FfnWeights f;
    if (mp_rank && !w.Has(Role::kExpertGate, l, e)) {  // another rank's expert
      m.experts.push_back(f);
      continue;
    }
    QC_ASSIGN_OR_RETURN(f.gate, w.Matrix(Role::kExpertGate, l, e));
    QC_ASSIGN_OR_RETURN(f.up, w.Matrix(Role::kExpertUp, l, e));
    QC_ASSIGN_OR_RETURN(f.down, w.Matrix(Role::kExpertDown, l, e));
    QC_RETURN_IF_ERROR(AttachDownHadamard(f, spec.online_hadamard.expert_down_proj, {Role::kExpertDown, l, e}));
    m.experts.push_back(f);
  }
  if (spec.moe.n_shared_experts > 0) {
    QC_ASSIGN_OR_RETURN(m.shared.gate, w.Matrix(Role::kSharedGate, l));
    QC_ASSIGN_OR_RETURN(m.shared.up, w.Matrix(Role::kSharedUp, l));
    QC_ASSIGN_OR_RETURN(m.shared.down, w.Matrix(Role::kSharedDown, l));
    QC_RETURN_IF_ERROR(AttachDownHadamard(m.shared, spec.online_hadamard.shared_down_proj, {Role::kSharedDown, l}));
  }
  return absl::OkStatus();
}

absl::Status Runner::Impl::AttachDownHadamard(FfnWeights& f, int64_t width, const arch::TensorRole& down) const {
  if (width == 0) return absl::OkStatus();
  if (f.down->cols() != width) {
    return absl::InvalidArgumentError(StrCat("tensor '", adapter->TensorName(down), "' takes ", f.down->cols(),
                                             " inputs, but config.json's quantc.online_hadamard says ", width));
  }
  f.down_hadamard = &down_hadamard.at(width);
  return absl::OkStatus();
}

void Runner::Impl::Attention(const LayerWeights& lw, const float* x, int64_t n, int64_t pos0, KvCache::Layer& cache,
                             float* out) const {
  const int64_t hd = spec.head_dim, heads = spec.num_heads, kvh = spec.num_kv_heads;
  std::vector<float> q(static_cast<size_t>(n * heads * hd)), k(static_cast<size_t>(n * kvh * hd)), v(k.size());
  MatMul(*lw.q, x, n, q.data(), lw.q_bias ? lw.q_bias->data() : nullptr);
  MatMul(*lw.k, x, n, k.data(), lw.k_bias ? lw.k_bias->data() : nullptr);
  MatMul(*lw.v, x, n, v.data(), lw.v_bias ? lw.v_bias->data() : nullptr);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < heads; ++h) rope->Apply(q.data() + (t * heads + h) * hd, pos0 + t);
    for (int64_t h = 0; h < kvh; ++h) rope->Apply(k.data() + (t * kvh + h) * hd, pos0 + t);
  }
  AppendRows(cache.k, k.data(), static_cast<int64_t>(k.size()));
  AppendRows(cache.v, v.data(), static_cast<int64_t>(v.size()));
  std::vector<float> attn(static_cast<size_t>(n * heads * hd));
  const float scale = static_cast<float>(rope->softmax_scale_factor() / std::sqrt(static_cast<double>(hd)));
  Attend(q.data(), cache.k.data(), cache.v.data(), n, pos0, heads, kvh, hd, hd, scale, attn.data());
  MatMul(*lw.o, attn.data(), n, out);
}

// Multi-head latent attention with the latent cache: per token the cache holds the normalized
// latent (KvCache::Layer::k, [kv_lora]) and the rotated k_pe (::v, [rope]); the attention itself
// is absorbed into latent space (layers.h AttendLatent).
void Runner::Impl::MlaAttention(const LayerWeights& lw, const float* x, int64_t n, int64_t pos0,
                                KvCache::Layer& cache, float* out) const {
  const arch::MlaSpec& m = spec.mla;
  const int64_t heads = spec.num_heads, nope = m.qk_nope_head_dim, rd = m.qk_rope_head_dim, vd = m.v_head_dim;
  const int64_t qk = nope + rd;
  std::vector<float> q(static_cast<size_t>(n * heads * qk));
  if (lw.q_a != nullptr) {
    std::vector<float> qa(static_cast<size_t>(n * m.q_lora_rank));
    MatMul(*lw.q_a, x, n, qa.data());
    RmsNorm(qa.data(), n, m.q_lora_rank, *lw.q_a_norm, spec.rms_norm_eps, qa.data());
    MatMul(*lw.q_b, qa.data(), n, q.data());
  } else {
    MatMul(*lw.q, x, n, q.data());
  }
  const int64_t kva_width = m.kv_lora_rank + rd;
  std::vector<float> kva(static_cast<size_t>(n * kva_width));
  MatMul(*lw.kv_a, x, n, kva.data());
  std::vector<float> latent(static_cast<size_t>(n * m.kv_lora_rank)), k_pe(static_cast<size_t>(n * rd));
  for (int64_t t = 0; t < n; ++t) {
    std::copy_n(kva.data() + t * kva_width, m.kv_lora_rank, latent.data() + t * m.kv_lora_rank);
    std::copy_n(kva.data() + t * kva_width + m.kv_lora_rank, rd, k_pe.data() + t * rd);
    rope->Apply(k_pe.data() + t * rd, pos0 + t);
    for (int64_t h = 0; h < heads; ++h) rope->Apply(q.data() + (t * heads + h) * qk + nope, pos0 + t);
  }
  RmsNorm(latent.data(), n, m.kv_lora_rank, *lw.kv_a_norm, spec.rms_norm_eps, latent.data());
  AppendRows(cache.k, latent.data(), static_cast<int64_t>(latent.size()));
  AppendRows(cache.v, k_pe.data(), static_cast<int64_t>(k_pe.size()));
  // kv_b in FP32 for this call only: the per-head key and value up-projections.
  const int64_t lora = m.kv_lora_rank;
  std::vector<float> kv_b(static_cast<size_t>(heads * (nope + vd) * lora));
  if (lw.kv_b != nullptr) {
    lw.kv_b->DequantRows(0, lw.kv_b->rows(), kv_b.data());
  } else {
    // From GGUF's split form: head h's key rows are k_b[h] transposed, its value rows v_b[h].
    std::vector<float> k_b(static_cast<size_t>(heads * lora * nope));
    lw.k_b->DequantRows(0, lw.k_b->rows(), k_b.data());
    for (int64_t h = 0; h < heads; ++h) {
      float* kv_h = kv_b.data() + h * (nope + vd) * lora;
      const float* k_h = k_b.data() + h * lora * nope;
      for (int64_t d = 0; d < nope; ++d) {
        for (int64_t c = 0; c < lora; ++c) kv_h[d * lora + c] = k_h[c * nope + d];
      }
      lw.v_b->DequantRows(h * vd, (h + 1) * vd, kv_h + nope * lora);
    }
  }
  std::vector<float> attn(static_cast<size_t>(n * heads * vd));
  const float scale = static_cast<float>(rope->softmax_scale_factor() / std::sqrt(static_cast<double>(qk)));
  AttendLatent({heads, nope, rd, vd, m.kv_lora_rank, scale}, q.data(), cache.k.data(), cache.v.data(), kv_b.data(), n,
               pos0, attn.data());
  MatMul(*lw.o, attn.data(), n, out);
}

Runner::Runner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runner::~Runner() = default;
const arch::ModelSpec& Runner::spec() const { return impl_->spec; }

void KvCache::Clear() {
  for (Layer& l : layers_) l.k.clear(), l.v.clear();
  length_ = 0;
}

std::unique_ptr<KvCache> Runner::NewCache() const {
  auto cache = std::make_unique<KvCache>();
  cache->layers_.resize(impl_->spec.num_layers);
  return cache;
}

absl::StatusOr<std::unique_ptr<Runner>> Runner::Create(const Model& model, RunnerOptions options) {
  auto impl = std::make_unique<Impl>();
  QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterForModel(model));
  impl->adapter = adapter;
  QC_ASSIGN_OR_RETURN(impl->spec, arch::ParseModelSpec(model.config));
  QC_RETURN_IF_ERROR(adapter->Validate(impl->spec));
  if (model.layout == "mp") {
    // One rank of N: its heads are num_heads / N (the MLA projections are column/row splits).
    if (model.mp_rank < 0 || model.mp_ranks < 1 || impl->spec.num_heads % model.mp_ranks != 0) {
      return absl::InvalidArgumentError(StrCat("an mp model runs as one rank (rank ", model.mp_rank, " of ",
                                               model.mp_ranks, ", ", impl->spec.num_heads, " heads)"));
    }
    impl->mp_rank = true;
    impl->spec.num_heads /= model.mp_ranks;
  }
  const arch::OnlineHadamardSpec& online = impl->spec.online_hadamard;
  if (online.any() && impl->mp_rank) {
    return absl::UnimplementedError("an mp rank holds a slice of each down projection's input; the model's online "
                                    "Hadamard (quantc.online_hadamard, rotate r4) needs all of it");
  }
  for (int64_t width : {online.down_proj, online.expert_down_proj, online.shared_down_proj}) {
    if (width == 0 || impl->down_hadamard.contains(width)) continue;
    absl::StatusOr<kernels::hadamard::Plan> plan = kernels::hadamard::MakePlan(width);
    if (!plan.ok()) return absl::InvalidArgumentError(StrCat("config.json: quantc.online_hadamard: ", plan.status().message()));
    impl->down_hadamard.emplace(width, std::move(*plan));
  }
  QC_ASSIGN_OR_RETURN(impl->weights, Weights::Load(model, *adapter, std::move(options)));
  Weights& w = *impl->weights;
  if (w.Has(Role::kRopeFreqs)) {
    // GGUF's llama3 scaling: per-frequency factors on the unscaled frequencies.
    const std::string name = adapter->TensorName({Role::kRopeFreqs});
    QC_ASSIGN_OR_RETURN(const std::vector<float>* factors, w.Vector(Role::kRopeFreqs));
    const arch::RopeSpec& rope = impl->spec.rope;
    if (static_cast<int64_t>(factors->size()) != rope.dim / 2) {
      return absl::InvalidArgumentError(
          StrCat("tensor '", name, "' holds ", factors->size(), " factors, expected rope dim / 2 = ", rope.dim / 2));
    }
    if (rope.type == arch::RopeType::kYarn) {
      return absl::UnimplementedError(StrCat("tensor '", name, "' together with yarn rope scaling"));
    }
    for (float f : *factors) {
      if (!(f > 0) || !std::isfinite(f)) return absl::InvalidArgumentError(StrCat("tensor '", name, "' holds factor ", f));
    }
    impl->rope = std::make_unique<Rope>(rope, *factors);
  } else {
    impl->rope = std::make_unique<Rope>(impl->spec.rope);
  }
  QC_ASSIGN_OR_RETURN(impl->embedding, w.Matrix(Role::kEmbedding));
  QC_ASSIGN_OR_RETURN(impl->final_norm, w.Vector(Role::kFinalNorm));
  if (impl->spec.tie_word_embeddings || !w.Has(Role::kLmHead)) {
    impl->lm_head = impl->embedding;
  } else {
    QC_ASSIGN_OR_RETURN(impl->lm_head, w.Matrix(Role::kLmHead));
  }
  if (impl->mp_rank) {
    impl->vocab_offset = model.mp_rank * impl->embedding->rows();
    impl->spec.vocab_size = impl->lm_head->rows();
  }
  impl->layers.resize(impl->spec.num_layers);
  for (int64_t l = 0; l < impl->spec.num_layers; ++l) QC_RETURN_IF_ERROR(impl->LoadLayer(l, impl->layers[l]));
  if (impl->embedding->cols() != impl->spec.hidden_size) {
    return absl::InvalidArgumentError(StrCat("embedding width ", impl->embedding->cols(), " != hidden_size ",
                                             impl->spec.hidden_size));
  }
  return std::unique_ptr<Runner>(new Runner(std::move(impl)));
}

absl::Status Runner::ReloadLayer(int64_t layer) {
  if (layer < 0 || layer >= impl_->spec.num_layers) return absl::OutOfRangeError(StrCat("no layer ", layer));
  impl_->weights->ForgetLayer(layer);
  impl_->layers[layer] = LayerWeights();
  return impl_->LoadLayer(layer, impl_->layers[layer]);
}

absl::Status Runner::Embed(std::span<const int32_t> tokens, float* x) const {
  const Impl& m = *impl_;
  const int64_t hidden = m.spec.hidden_size, rows = m.embedding->rows();
  for (size_t t = 0; t < tokens.size(); ++t) {
    const int64_t id = tokens[t] - m.vocab_offset;
    if (m.mp_rank && tokens[t] >= 0 && (id < 0 || id >= rows)) {  // another rank's slice
      std::fill_n(x + t * hidden, hidden, 0.0f);
      continue;
    }
    if (id < 0 || id >= rows) {
      return absl::OutOfRangeError(StrCat("token id ", tokens[t], " is outside the vocabulary of ", rows));
    }
    m.embedding->DequantRows(id, id + 1, x + t * hidden);
  }
  return absl::OkStatus();
}

void Runner::AttentionInput(int64_t layer, const float* x, int64_t n, float* xn) const {
  const Impl& m = *impl_;
  RmsNorm(x, n, m.spec.hidden_size, *m.layers[layer].attn_norm, m.spec.rms_norm_eps, xn);
}

void Runner::FfnInput(int64_t layer, const float* x, int64_t n, float* xn) const {
  const Impl& m = *impl_;
  RmsNorm(x, n, m.spec.hidden_size, *m.layers[layer].ffn_norm, m.spec.rms_norm_eps, xn);
}

void Runner::AttentionDelta(int64_t layer, const float* x, int64_t n, KvCache& cache, float* delta) const {
  const Impl& m = *impl_;
  const LayerWeights& lw = m.layers[layer];
  std::vector<float> xn(static_cast<size_t>(n * m.spec.hidden_size));
  AttentionInput(layer, x, n, xn.data());
  if (m.spec.mla.enabled()) m.MlaAttention(lw, xn.data(), n, cache.length_, cache.layers_[layer], delta);
  else m.Attention(lw, xn.data(), n, cache.length_, cache.layers_[layer], delta);
}

void Runner::FfnDelta(int64_t layer, const float* x, int64_t n, float* delta) const {
  const Impl& m = *impl_;
  const LayerWeights& lw = m.layers[layer];
  const int64_t hidden = m.spec.hidden_size;
  std::vector<float> xn(static_cast<size_t>(n * hidden));
  FfnInput(layer, x, n, xn.data());
  if (lw.moe) Moe(m.spec.moe, lw.moe_weights, xn.data(), n, hidden, delta);
  else SwiGlu(lw.ffn, xn.data(), n, delta);
}

void Runner::FinalNorm(const float* x, int64_t n, float* xn) const {
  const Impl& m = *impl_;
  RmsNorm(x, n, m.spec.hidden_size, *m.final_norm, m.spec.rms_norm_eps, xn);
}

void Runner::Head(const float* xn, int64_t n, float* logits) const { MatMul(*impl_->lm_head, xn, n, logits); }

absl::Status Runner::Forward(std::span<const int32_t> tokens, KvCache& cache, std::span<float> logits,
                             const HiddenObserver& observer) const {
  const Impl& m = *impl_;
  const int64_t n = static_cast<int64_t>(tokens.size()), hidden = m.spec.hidden_size;
  if (n == 0) return absl::OkStatus();
  if (!logits.empty() && static_cast<int64_t>(logits.size()) != n * m.lm_head->rows()) {
    return absl::InvalidArgumentError(StrCat("logits buffer holds ", logits.size(), " floats, need ", n * m.lm_head->rows()));
  }
  std::vector<float> x(static_cast<size_t>(n * hidden)), delta(x.size());
  QC_RETURN_IF_ERROR(Embed(tokens, x.data()));
  for (int64_t l = 0; l < m.spec.num_layers; ++l) {
    if (observer) observer(l, x);
    AttentionDelta(l, x.data(), n, cache, delta.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += delta[i];
    FfnDelta(l, x.data(), n, delta.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += delta[i];
  }
  FinalNorm(x.data(), n, delta.data());
  if (observer) observer(m.spec.num_layers, delta);
  Advance(cache, n);
  if (!logits.empty()) Head(delta.data(), n, logits.data());
  return absl::OkStatus();
}

}  // namespace quantc::runner
