#include "lib/runner/gpu_runner.h"

#include <cmath>
#include <vector>

#include "lib/arch/gguf_layout.h"
#include "lib/cuda/cuda.h"
#include "lib/cuda/ops_kernels.h"
#include "lib/runner/rope.h"
#include "lib/runner/weights.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::runner {
namespace {

using arch::Role;
namespace ck = cuda::kernels;

std::span<const uint8_t> Bytes(const std::vector<float>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4};
}

absl::StatusOr<cuda::DeviceBuffer> UploadFloats(const std::vector<float>& v) {
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer b, cuda::DeviceBuffer::Allocate(v.size() * 4));
  QC_RETURN_IF_ERROR(b.Upload(Bytes(v)));
  return b;
}

// As stored where a kernel runs the format, else decoded to FP32 once.
absl::StatusOr<cuda::DeviceWeight> UploadMatrix(const kernels::WeightMatrix& m) {
  if (auto s = m.stored_rows(); s && cuda::HasMatMulKernel(s->dtype)) return cuda::UploadWeight(s->dtype, s->bytes, m.rows(), m.cols());
  std::vector<float> f(static_cast<size_t>(m.rows() * m.cols()));
  m.DequantRows(0, m.rows(), f.data());
  return cuda::UploadWeight(DType::kF32, Bytes(f), m.rows(), m.cols());
}

struct GpuLayer {
  cuda::DeviceWeight q, k, v, o, gate, up, down;
  cuda::DeviceBuffer attn_norm, ffn_norm, q_bias, k_bias, v_bias;
};

}  // namespace

struct GpuRunner::Impl {
  arch::ModelSpec spec;
  std::unique_ptr<Weights> weights;  // host side: the embedding rows
  const kernels::WeightMatrix* embedding = nullptr;
  std::unique_ptr<Rope> rope;
  std::vector<GpuLayer> layers;
  cuda::DeviceBuffer final_norm;
  cuda::DeviceWeight lm_head;
};

GpuRunner::GpuRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuRunner::~GpuRunner() = default;
const arch::ModelSpec& GpuRunner::spec() const { return impl_->spec; }

absl::StatusOr<std::unique_ptr<GpuRunner>> GpuRunner::Create(const Model& model, RunnerOptions options) {
  if (cuda::DeviceCount() == 0) return absl::FailedPreconditionError("--target gpu: no CUDA device found");
  auto impl = std::make_unique<Impl>();
  QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterForModel(model));
  QC_ASSIGN_OR_RETURN(impl->spec, arch::ParseModelSpec(model.config));
  QC_RETURN_IF_ERROR(adapter->Validate(impl->spec));
  const arch::ModelSpec& spec = impl->spec;
  if (spec.mla.enabled() || spec.moe.n_routed_experts > 0 || spec.online_hadamard.any() || model.layout == "mp") {
    return absl::UnimplementedError("--target gpu runs dense GQA decoders (qwen2, llama) so far; MLA, MoE, online "
                                    "Hadamards and mp ranks run on --target cpu");
  }
  QC_ASSIGN_OR_RETURN(impl->weights, Weights::Load(model, *adapter, std::move(options)));
  Weights& w = *impl->weights;
  if (w.Has(Role::kRopeFreqs)) {
    // GGUF's llama3 scaling as per-frequency factors (the CPU runner checks them the same way).
    QC_ASSIGN_OR_RETURN(const std::vector<float>* factors, w.Vector(Role::kRopeFreqs));
    if (static_cast<int64_t>(factors->size()) != spec.rope.dim / 2 || spec.rope.type == arch::RopeType::kYarn) {
      return absl::InvalidArgumentError(StrCat("tensor '", adapter->TensorName({Role::kRopeFreqs}), "' does not fit the rope spec"));
    }
    impl->rope = std::make_unique<Rope>(spec.rope, *factors);
  } else {
    impl->rope = std::make_unique<Rope>(spec.rope);
  }
  QC_ASSIGN_OR_RETURN(impl->embedding, w.Matrix(Role::kEmbedding));
  QC_ASSIGN_OR_RETURN(const std::vector<float>* final_norm, w.Vector(Role::kFinalNorm));
  QC_ASSIGN_OR_RETURN(impl->final_norm, UploadFloats(*final_norm));
  const kernels::WeightMatrix* head = impl->embedding;
  if (!spec.tie_word_embeddings && w.Has(Role::kLmHead)) {
    QC_ASSIGN_OR_RETURN(head, w.Matrix(Role::kLmHead));
  }
  QC_ASSIGN_OR_RETURN(impl->lm_head, UploadMatrix(*head));
  impl->layers.resize(spec.num_layers);
  for (int64_t l = 0; l < spec.num_layers; ++l) {
    GpuLayer& g = impl->layers[l];
    auto matrix = [&](Role r, cuda::DeviceWeight& out) -> absl::Status {
      QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* m, w.Matrix(r, l));
      QC_ASSIGN_OR_RETURN(out, UploadMatrix(*m));
      return absl::OkStatus();
    };
    auto vector = [&](Role r, cuda::DeviceBuffer& out) -> absl::Status {
      QC_ASSIGN_OR_RETURN(const std::vector<float>* v, w.Vector(r, l));
      QC_ASSIGN_OR_RETURN(out, UploadFloats(*v));
      return absl::OkStatus();
    };
    QC_RETURN_IF_ERROR(matrix(Role::kQ, g.q));
    QC_RETURN_IF_ERROR(matrix(Role::kK, g.k));
    QC_RETURN_IF_ERROR(matrix(Role::kV, g.v));
    QC_RETURN_IF_ERROR(matrix(Role::kO, g.o));
    QC_RETURN_IF_ERROR(matrix(Role::kGate, g.gate));
    QC_RETURN_IF_ERROR(matrix(Role::kUp, g.up));
    QC_RETURN_IF_ERROR(matrix(Role::kDown, g.down));
    QC_RETURN_IF_ERROR(vector(Role::kAttnNorm, g.attn_norm));
    QC_RETURN_IF_ERROR(vector(Role::kFfnNorm, g.ffn_norm));
    if (spec.attention_bias) {
      QC_RETURN_IF_ERROR(vector(Role::kQBias, g.q_bias));
      QC_RETURN_IF_ERROR(vector(Role::kKBias, g.k_bias));
      QC_RETURN_IF_ERROR(vector(Role::kVBias, g.v_bias));
    }
  }
  return std::unique_ptr<GpuRunner>(new GpuRunner(std::move(impl)));
}

absl::Status GpuRunner::Forward(std::span<const int32_t> tokens, std::span<float> logits,
                                const HiddenObserver& observer) const {
  const Impl& m = *impl_;
  const arch::ModelSpec& s = m.spec;
  const int64_t n = static_cast<int64_t>(tokens.size()), hidden = s.hidden_size, hd = s.head_dim;
  const int64_t heads = s.num_heads, kvh = s.num_kv_heads, inter = m.layers.empty() ? 0 : m.layers[0].gate.rows;
  const int64_t vocab = m.lm_head.rows;
  if (static_cast<int64_t>(logits.size()) != n * vocab) return absl::InvalidArgumentError("logits must be [n, vocab]");
  // The embedding rows, gathered on the host.
  std::vector<float> host(static_cast<size_t>(n * hidden));
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= m.embedding->rows()) {
      return absl::OutOfRangeError(StrCat("token id ", tokens[t], " is outside the vocabulary of ", m.embedding->rows()));
    }
    m.embedding->DequantRows(tokens[t], tokens[t] + 1, host.data() + t * hidden);
  }
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer x, UploadFloats(host));
  std::vector<float> cos, sin;
  m.rope->Tables(n, cos, sin);
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer dcos, UploadFloats(cos));
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer dsin, UploadFloats(sin));
  auto alloc = [](int64_t floats) { return cuda::DeviceBuffer::Allocate(static_cast<size_t>(floats) * 4); };
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer xn, alloc(n * hidden));
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer delta, alloc(n * hidden));
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer q, alloc(n * heads * hd));
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer k, alloc(n * kvh * hd));
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer v, alloc(n * kvh * hd));
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer attn, alloc(n * heads * hd));
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer g, alloc(n * inter));
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer u, alloc(n * inter));
  auto observe = [&](int64_t index, const cuda::DeviceBuffer& b) -> absl::Status {
    if (!observer) return absl::OkStatus();
    QC_RETURN_IF_ERROR(cuda::Synchronize());
    QC_RETURN_IF_ERROR(b.Download({reinterpret_cast<uint8_t*>(host.data()), host.size() * 4}));
    observer(index, host);
    return absl::OkStatus();
  };
  const float eps = static_cast<float>(s.rms_norm_eps);
  const float scale = static_cast<float>(m.rope->softmax_scale_factor() / std::sqrt(static_cast<double>(hd)));
  for (int64_t l = 0; l < s.num_layers; ++l) {
    const GpuLayer& w = m.layers[l];
    QC_RETURN_IF_ERROR(observe(l, x));
    QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchRmsNorm(x.as<float>(), n, hidden, w.attn_norm.as<float>(), eps, xn.as<float>()), "rmsnorm"));
    QC_RETURN_IF_ERROR(cuda::MatMul(w.q, xn.as<float>(), n, q.as<float>()));
    QC_RETURN_IF_ERROR(cuda::MatMul(w.k, xn.as<float>(), n, k.as<float>()));
    QC_RETURN_IF_ERROR(cuda::MatMul(w.v, xn.as<float>(), n, v.as<float>()));
    if (s.attention_bias) {
      QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchAddBias(q.as<float>(), w.q_bias.as<float>(), n, heads * hd), "bias"));
      QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchAddBias(k.as<float>(), w.k_bias.as<float>(), n, kvh * hd), "bias"));
      QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchAddBias(v.as<float>(), w.v_bias.as<float>(), n, kvh * hd), "bias"));
    }
    const int64_t rope_dim = s.rope.dim;
    QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchRope(q.as<float>(), n, heads * hd, heads, hd, 0, rope_dim, s.rope.interleaved,
                                                         dcos.as<float>(), dsin.as<float>(), 0), "rope"));
    QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchRope(k.as<float>(), n, kvh * hd, kvh, hd, 0, rope_dim, s.rope.interleaved,
                                                         dcos.as<float>(), dsin.as<float>(), 0), "rope"));
    QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchAttend(q.as<float>(), k.as<float>(), v.as<float>(), n, 0, heads, kvh, hd, hd,
                                                           scale, attn.as<float>()), "attention"));
    QC_RETURN_IF_ERROR(cuda::MatMul(w.o, attn.as<float>(), n, delta.as<float>()));
    QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchAdd(x.as<float>(), delta.as<float>(), n * hidden), "residual"));
    QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchRmsNorm(x.as<float>(), n, hidden, w.ffn_norm.as<float>(), eps, xn.as<float>()), "rmsnorm"));
    QC_RETURN_IF_ERROR(cuda::MatMul(w.gate, xn.as<float>(), n, g.as<float>()));
    QC_RETURN_IF_ERROR(cuda::MatMul(w.up, xn.as<float>(), n, u.as<float>()));
    QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchSiluMul(g.as<float>(), u.as<float>(), n * inter), "silu"));
    QC_RETURN_IF_ERROR(cuda::MatMul(w.down, g.as<float>(), n, delta.as<float>()));
    QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchAdd(x.as<float>(), delta.as<float>(), n * hidden), "residual"));
  }
  QC_RETURN_IF_ERROR(cuda::CheckLaunch(ck::LaunchRmsNorm(x.as<float>(), n, hidden, m.final_norm.as<float>(), eps, xn.as<float>()), "rmsnorm"));
  QC_RETURN_IF_ERROR(observe(s.num_layers, xn));
  QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer out, alloc(n * vocab));
  QC_RETURN_IF_ERROR(cuda::MatMul(m.lm_head, xn.as<float>(), n, out.as<float>()));
  return out.Download({reinterpret_cast<uint8_t*>(logits.data()), logits.size() * 4});
}

WindowModel GpuRunner::AsWindowModel() const {
  return {impl_->lm_head.rows, [this](std::span<const int32_t> window, std::span<float> logits) {
            return Forward(window, logits);
          }};
}

}  // namespace quantc::runner
