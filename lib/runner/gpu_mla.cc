#include "lib/runner/gpu_mla.h"

#include <algorithm>
#include <span>
#include <string_view>
#include <vector>

#include "lib/cuda/ops_kernels.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::runner {
namespace {

using arch::Role;
namespace ck = cuda::kernels;

// Width of the query part of GpuMla::a: q_a's output, or the whole q without q_lora_rank.
int64_t QueryWidth(const arch::ModelSpec& spec) {
  const arch::MlaSpec& m = spec.mla;
  return m.q_lora_rank > 0 ? m.q_lora_rank : spec.num_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim);
}

}  // namespace

uint64_t GpuMla::bytes() const { return a.bytes() + q_b.bytes() + o.bytes() + w_k.size() + w_vt.size(); }

int64_t MlaCacheWidth(const arch::MlaSpec& m) { return m.kv_lora_rank + m.qk_rope_head_dim; }

absl::StatusOr<GpuMla> UploadMla(const arch::ModelSpec& spec, const arch::ArchAdapter& adapter, Weights& w,
                                 int64_t layer) {
  const arch::MlaSpec& m = spec.mla;
  const int64_t heads = spec.num_heads, hidden = spec.hidden_size, nope = m.qk_nope_head_dim;
  const int64_t rope = m.qk_rope_head_dim, vd = m.v_head_dim, r = m.kv_lora_rank, qk = nope + rope;
  if (r > 512) {
    return absl::UnimplementedError(StrCat("--target gpu: kv_lora_rank ", r, " is over the 512 its MLA kernel holds"));
  }
  if (rope != spec.rope.dim) {
    return absl::InvalidArgumentError(StrCat("qk_rope_head_dim ", rope, " != the rope dimension ", spec.rope.dim));
  }
  auto matrix = [&](Role role, int64_t rows, int64_t cols) -> absl::StatusOr<const kernels::WeightMatrix*> {
    QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* mat, w.Matrix(role, layer));
    if (mat->rows() == rows && mat->cols() == cols) return mat;
    return absl::InvalidArgumentError(StrCat("tensor '", adapter.TensorName({role, layer}), "' is [", mat->rows(), ", ",
                                             mat->cols(), "] as a matrix, expected [", rows, ", ", cols, "]"));
  };
  auto vector = [&](Role role, int64_t size) -> absl::StatusOr<cuda::DeviceBuffer> {
    QC_ASSIGN_OR_RETURN(const std::vector<float>* v, w.Vector(role, layer));
    if (static_cast<int64_t>(v->size()) != size) {
      return absl::InvalidArgumentError(
          StrCat("tensor '", adapter.TensorName({role, layer}), "' holds ", v->size(), " values, expected ", size));
    }
    return UploadFloats(*v);
  };
  GpuMla g;
  std::vector<const kernels::WeightMatrix*> a;
  if (m.q_lora_rank > 0) {
    QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* q_a, matrix(Role::kQA, m.q_lora_rank, hidden));
    QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* q_b, matrix(Role::kQB, heads * qk, m.q_lora_rank));
    a.push_back(q_a);
    QC_ASSIGN_OR_RETURN(g.q_b, UploadProjection(std::span(&q_b, 1), {}));
    QC_ASSIGN_OR_RETURN(g.q_a_norm, vector(Role::kQANorm, m.q_lora_rank));
  } else {
    QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* q, matrix(Role::kQ, heads * qk, hidden));
    a.push_back(q);
  }
  QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* kv_a, matrix(Role::kKVA, r + rope, hidden));
  a.push_back(kv_a);
  QC_ASSIGN_OR_RETURN(g.a, UploadProjection(a, {}));
  QC_ASSIGN_OR_RETURN(g.kv_a_norm, vector(Role::kKVANorm, r));
  QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* o, matrix(Role::kO, hidden, heads * vd));
  QC_ASSIGN_OR_RETURN(g.o, UploadProjection(std::span(&o, 1), {}));

  // kv_b in FP32, as the two layouts the kernels read: w_k [heads, nope, kv_lora] (the key rows as
  // HF's kv_b_proj stores them) and w_vt [heads, kv_lora, v] (the value rows transposed, so that the
  // value kernel's threads read consecutive floats).
  std::vector<float> w_k(static_cast<size_t>(heads * nope * r)), w_vt(static_cast<size_t>(heads * r * vd));
  if (w.Has(Role::kKB, layer)) {
    // GGUF's split form: k_b [heads, kv_lora, nope] (each head's key rows transposed), v_b [heads, v, kv_lora].
    QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* k_b, matrix(Role::kKB, heads * r, nope));
    QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* v_b, matrix(Role::kVB, heads * vd, r));
    std::vector<float> kb(static_cast<size_t>(heads * r * nope)), vb(static_cast<size_t>(heads * vd * r));
    k_b->DequantRows(0, k_b->rows(), kb.data());
    v_b->DequantRows(0, v_b->rows(), vb.data());
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t c = 0; c < r; ++c) {
        for (int64_t d = 0; d < nope; ++d) w_k[(h * nope + d) * r + c] = kb[(h * r + c) * nope + d];
        for (int64_t e = 0; e < vd; ++e) w_vt[(h * r + c) * vd + e] = vb[(h * vd + e) * r + c];
      }
    }
  } else {
    QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* kv, matrix(Role::kKVB, heads * (nope + vd), r));
    std::vector<float> all(static_cast<size_t>(heads * (nope + vd) * r));
    kv->DequantRows(0, kv->rows(), all.data());
    for (int64_t h = 0; h < heads; ++h) {
      const float* head = all.data() + h * (nope + vd) * r;  // [nope + v, kv_lora]
      std::copy_n(head, nope * r, w_k.data() + h * nope * r);
      for (int64_t e = 0; e < vd; ++e) {
        for (int64_t c = 0; c < r; ++c) w_vt[(h * r + c) * vd + e] = head[(nope + e) * r + c];
      }
    }
  }
  QC_ASSIGN_OR_RETURN(g.w_k, UploadFloats(w_k));
  QC_ASSIGN_OR_RETURN(g.w_vt, UploadFloats(w_vt));
  return g;
}

absl::StatusOr<MlaScratch> AllocateMlaScratch(const arch::ModelSpec& spec, int64_t tokens) {
  const arch::MlaSpec& m = spec.mla;
  const int64_t heads = spec.num_heads, r = m.kv_lora_rank, rope = m.qk_rope_head_dim;
  MlaScratch s;
  QC_ASSIGN_OR_RETURN(s.a, AllocateFloats(tokens * (QueryWidth(spec) + r + rope)));
  QC_ASSIGN_OR_RETURN(s.qa, AllocateFloats(tokens * m.q_lora_rank));
  QC_ASSIGN_OR_RETURN(s.q, AllocateFloats(m.q_lora_rank > 0 ? tokens * heads * (m.qk_nope_head_dim + rope) : 0));
  QC_ASSIGN_OR_RETURN(s.q_abs, AllocateFloats(tokens * heads * (r + rope)));
  QC_ASSIGN_OR_RETURN(s.ctx, AllocateFloats(tokens * heads * r));
  QC_ASSIGN_OR_RETURN(s.attn, AllocateFloats(tokens * heads * m.v_head_dim));
  return s;
}

absl::Status EnqueueMla(const GpuMla& g, const arch::ModelSpec& spec, const MlaStep& st, const MlaScratch& s,
                        const cuda::Stream& stream) {
  const arch::MlaSpec& m = spec.mla;
  const int64_t n = st.n, heads = spec.num_heads, nope = m.qk_nope_head_dim, rope = m.qk_rope_head_dim;
  const int64_t r = m.kv_lora_rank, vd = m.v_head_dim, qk = nope + rope, a_width = g.a.rows;
  const float eps = static_cast<float>(spec.rms_norm_eps);
  const bool interleaved = spec.rope.interleaved;
  CUstream_st* cs = stream.get();
  auto check = [](int code, std::string_view what) { return cuda::CheckLaunch(code, what); };
  float* a = s.a.as<float>();
  QC_RETURN_IF_ERROR(Project(g.a, st.xn, n, a, stream));
  // The queries [n, heads, nope + rope]: q_b(q_a_norm(q_a(x))), or q(x) in place in `a`.
  float* q = a;
  int64_t q_stride = a_width;
  if (m.q_lora_rank > 0) {
    float* qa = s.qa.as<float>();
    QC_RETURN_IF_ERROR(check(
        ck::LaunchRmsNormStrided(a, a_width, n, m.q_lora_rank, g.q_a_norm.as<float>(), eps, qa, m.q_lora_rank, cs),
        "MLA q_a norm"));
    QC_RETURN_IF_ERROR(Project(g.q_b, qa, n, s.q.as<float>(), stream));
    q = s.q.as<float>(), q_stride = heads * qk;
  }
  // The new positions' latents and k_pe into the cache, then every head's q_pe rotated: the same
  // tables, so positions line up as in the CPU runner.
  QC_RETURN_IF_ERROR(check(ck::LaunchMlaAppendLatent(a + QueryWidth(spec), n, a_width, r, rope, g.kv_a_norm.as<float>(),
                                                     eps, interleaved, st.cos, st.sin, st.pos0, st.cache, cs),
                           "MLA latent append"));
  QC_RETURN_IF_ERROR(check(
      ck::LaunchRope(q, n, q_stride, heads, qk, nope, rope, interleaved, st.cos, st.sin, st.pos0, cs), "MLA q rope"));
  float* q_abs = s.q_abs.as<float>();
  float* ctx = s.ctx.as<float>();
  float* attn = s.attn.as<float>();
  QC_RETURN_IF_ERROR(check(ck::LaunchMlaAbsorbQuery(q, q_stride, n, heads, nope, rope, r, g.w_k.as<float>(), q_abs, cs),
                           "MLA absorb"));
  QC_RETURN_IF_ERROR(check(
      ck::LaunchAttendLatent(q_abs, st.cache, n, st.pos0, heads, r, rope, st.softmax_scale, ctx, cs), "MLA attention"));
  QC_RETURN_IF_ERROR(
      check(ck::LaunchMlaProjectValues(ctx, n, heads, r, vd, g.w_vt.as<float>(), attn, cs), "MLA values"));
  return Project(g.o, attn, n, st.x, stream, /*accumulate=*/true);
}

}  // namespace quantc::runner
