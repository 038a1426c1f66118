#include "lib/runner/gpu_runner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "lib/arch/gguf_layout.h"
#include "lib/cuda/cuda.h"
#include "lib/cuda/ops_kernels.h"
#include "lib/runner/gpu_mla.h"
#include "lib/runner/gpu_moe.h"
#include "lib/runner/gpu_projection.h"
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

}  // namespace

// Declared in gpu_projection.h (with Projection), shared with gpu_mla.cc and gpu_moe.cc.
absl::StatusOr<cuda::DeviceBuffer> UploadFloats(const std::vector<float>& v) { return cuda::DeviceBuffer::FromHost(Bytes(v)); }

absl::StatusOr<cuda::DeviceBuffer> AllocateFloats(int64_t count) {
  return cuda::DeviceBuffer::Allocate(static_cast<size_t>(count) * 4);
}

namespace {

// A matrix's bytes in the format the GPU will read: stored, or FP32 decoded here. Block FP8
// (dtype kF8E4M3), packed integers (kI32) and FP4 (kF4) keep their codes and scales. Block FP8 is
// never stacked (its scale blocks would not line up across matrices); the others stack when their
// scales are laid out alike (StacksOnto).
struct HostRows {
  DType dtype;
  std::span<const uint8_t> bytes;
  std::vector<float> decoded;
  std::optional<kernels::WeightMatrix::Fp8BlockRows> fp8;
  std::optional<kernels::WeightMatrix::PackedIntRows> packed;
  std::optional<kernels::WeightMatrix::Fp4Rows> fp4;
};
HostRows RowsFor(const kernels::WeightMatrix& m) {
  if (auto f = m.fp8_block_rows(); f && f->layout.block_cols == 128 && m.cols() % 32 == 0) return {DType::kF8E4M3, f->codes, {}, f};
  if (auto p = m.packed_int_rows(); p && cuda::HasPackedIntKernel(p->bits, m.cols(), p->group_size)) {
    return {DType::kI32, p->packed, {}, std::nullopt, p, std::nullopt};
  }
  if (auto f = m.fp4_rows(); f && cuda::HasFp4Kernel(f->format, m.cols())) {
    return {DType::kF4, f->codes, {}, std::nullopt, std::nullopt, f};
  }
  if (auto s = m.stored_rows(); s && cuda::HasMatMulKernel(s->dtype)) return {s->dtype, s->bytes, {}, std::nullopt};
  HostRows h{DType::kF32, {}, std::vector<float>(static_cast<size_t>(m.rows() * m.cols())), std::nullopt};
  m.DequantRows(0, m.rows(), h.decoded.data());
  h.bytes = Bytes(h.decoded);
  return h;
}

// Whether b's rows can follow a's in one device matrix of the same width.
bool StacksOnto(const HostRows& a, const HostRows& b) {
  if (a.fp8 || b.dtype != a.dtype) return false;
  if (a.packed) {
    return b.packed->bits == a.packed->bits && b.packed->group_size == a.packed->group_size &&
           b.packed->zeros.empty() == a.packed->zeros.empty();
  }
  if (a.fp4) return b.fp4->format == a.fp4->format && b.fp4->global == a.fp4->global;
  return true;
}

// get(h) of each of `rows`, back to back.
template <class T, class Get>
std::vector<T> Joined(std::span<const HostRows> rows, Get get) {
  std::vector<T> out;
  for (const HostRows& h : rows) {
    const std::span<const T> s = get(h);
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

}  // namespace

absl::StatusOr<Projection> UploadProjection(std::span<const kernels::WeightMatrix* const> matrices,
                                            std::span<const std::vector<float>* const> biases) {
  Projection p;
  std::vector<HostRows> rows;
  for (const kernels::WeightMatrix* m : matrices) rows.push_back(RowsFor(*m));
  size_t start = 0;
  while (start < matrices.size()) {
    // The longest run of matrices from `start` in one format and width: one stacked part.
    size_t end = start + 1;
    while (end < matrices.size() && StacksOnto(rows[start], rows[end]) &&
           matrices[end]->cols() == matrices[start]->cols()) {
      ++end;
    }
    int64_t part_rows = 0;
    for (size_t i = start; i < end; ++i) part_rows += matrices[i]->rows();
    const std::span<const HostRows> part(rows.data() + start, end - start);
    const std::vector<uint8_t> stacked =
        part.size() > 1 ? Joined<uint8_t>(part, [](const HostRows& h) { return h.bytes; }) : std::vector<uint8_t>();
    const std::span<const uint8_t> bytes = part.size() > 1 ? std::span<const uint8_t>(stacked) : rows[start].bytes;
    const int64_t cols = matrices[start]->cols();
    cuda::DeviceWeight w;
    if (const auto& f = rows[start].fp8) {
      QC_ASSIGN_OR_RETURN(w, cuda::UploadFp8BlockWeight(f->codes, f->scales, f->layout.rows, f->layout.cols,
                                                        f->layout.block_rows, f->layout.block_cols));
    } else if (const auto& q = rows[start].packed) {
      QC_ASSIGN_OR_RETURN(w, cuda::UploadPackedIntWeight(
                                 bytes, q->bits, part_rows, cols, q->group_size,
                                 Joined<float>(part, [](const HostRows& h) { return h.packed->scales; }),
                                 Joined<uint8_t>(part, [](const HostRows& h) { return h.packed->zeros; })));
    } else if (const auto& f4 = rows[start].fp4) {
      QC_ASSIGN_OR_RETURN(w, cuda::UploadFp4Weight(f4->format, bytes,
                                                   Joined<uint8_t>(part, [](const HostRows& h) { return h.fp4->scales; }),
                                                   f4->global, part_rows, cols));
    } else {
      QC_ASSIGN_OR_RETURN(w, cuda::UploadWeight(rows[start].dtype, bytes, part_rows, cols));
    }
    p.offsets.push_back(p.rows);
    p.rows += part_rows;
    p.parts.push_back(std::move(w));
    start = end;
  }
  if (!biases.empty()) {
    std::vector<float> b;
    for (const std::vector<float>* v : biases) b.insert(b.end(), v->begin(), v->end());
    QC_ASSIGN_OR_RETURN(p.bias, UploadFloats(b));
  }
  return p;
}

absl::Status EnableSplit(Projection& p) {
  const bool reads = std::any_of(p.parts.begin(), p.parts.end(), [](const cuda::DeviceWeight& w) {
    return cuda::kernels::OneTokenReadsSplit(w.format, w.rows, w.cols);
  });
  if (!reads || p.parts.front().cols % 32 != 0) return absl::OkStatus();
  QC_ASSIGN_OR_RETURN(p.split, cuda::SplitInput::Allocate(p.parts.front().cols));
  return absl::OkStatus();
}

cuda::kernels::SplitOut SplitOutFor(const Projection& p, int64_t n) {
  return n == 1 && p.split ? p.split->Out() : cuda::kernels::SplitOut{};
}

absl::Status Project(const Projection& p, const float* x, int64_t n, float* y, const cuda::Stream& stream,
                     bool accumulate, bool split_made) {
  const cuda::SplitInput* split = n == 1 && p.split ? &*p.split : nullptr;
  if (split != nullptr && !split_made) QC_RETURN_IF_ERROR(split->Split(x, stream));
  auto out = [&](size_t i) {
    return cuda::MatMulOutput{p.rows, p.bias.size() ? p.bias.as<float>() + p.offsets[i] : nullptr, accumulate};
  };
  if (split != nullptr && p.parts.size() == 2) {  // one launch where both parts have the integer kernels
    QC_ASSIGN_OR_RETURN(const bool launched, cuda::MatVecPair(p.parts[0], y + p.offsets[0], out(0), p.parts[1],
                                                              y + p.offsets[1], out(1), x, *split, stream));
    if (launched) return absl::OkStatus();
  }
  for (size_t i = 0; i < p.parts.size(); ++i) {
    QC_RETURN_IF_ERROR(cuda::MatMul(p.parts[i], x, n, y + p.offsets[i], out(i), &stream, split));
  }
  return absl::OkStatus();
}

namespace {

struct GpuLayer {
  Projection qkv, o, gate_up, down;
  cuda::DeviceBuffer attn_norm, ffn_norm;
  // DeepSeek-V3: MLA in place of qkv/o, MoE in place of gate_up/down (null: the GQA or dense form).
  std::unique_ptr<GpuMla> mla;
  std::unique_ptr<GpuMoe> moe;
};

constexpr size_t kPosBytes = 16;  // a position, ahead of the input rows (and of the token history's ids)

}  // namespace

struct GpuRunner::Impl {
  arch::ModelSpec spec;
  std::unique_ptr<Weights> weights;  // the host's (MoE layers' router_bias points into them)
  int64_t vocab_rows = 0;            // the embedding's
  // The embedding on the device, looked up there (cuda::EmbedRows): the LM head's matrix when they
  // are tied, else embedding_rows.
  const cuda::DeviceWeight* embedding = nullptr;
  Projection embedding_rows;
  std::unique_ptr<Rope> rope;
  std::vector<GpuLayer> layers;
  cuda::DeviceBuffer final_norm;
  Projection lm_head;
  int64_t inter = 0;
  bool moe = false;  // MoE layers route on the host mid-pass: no recorded decode step (gpu_moe.h)
};

struct GpuCache::Scratch {
  int64_t tokens = 0, logit_rows = 0;
  cuda::DeviceBuffer input;  // the position, then x [tokens, hidden]: updated in place, layer by layer
  cuda::DeviceBuffer xn, qkv, attn, gu, h, logits;
  cuda::DeviceBuffer argmax;  // the arg-max kernels' scratch
  cuda::DeviceBuffer attn_parts, attn_counters;  // one token: the split attention's (ck::AttendParts)
  std::optional<MlaScratch> mla;  // with MLA layers
  std::optional<MoeScratch> moe;  // with MoE layers
  cuda::Graph decode;  // a one-token scratch's recorded step
  const int32_t* pos() const { return input.as<int32_t>(); }
  float* x() const { return reinterpret_cast<float*>(input.as<uint8_t>() + kPosBytes); }
};

struct GpuCache::State {
  int64_t capacity = 0, length = 0;
  // The token history, in mapped pinned memory that the device reads and writes in place: the next
  // step's first position, then (from kPosBytes) the token at each position, capacity + 1 of them.
  // The host writes a step's tokens and position; the step's first kernel looks them up there, and
  // its arg-max writes the token after them and moves the position on (kernels::ArgmaxTo): a
  // recorded step launched again decodes the next token, with no copy and no host in between.
  cuda::PinnedBuffer history;
  int32_t* next_pos() const { return history.as<int32_t>().data(); }
  // OUT_OF_RANGE unless n more positions fit.
  absl::Status Room(int64_t n) const {
    if (length + n <= capacity) return absl::OkStatus();
    return absl::OutOfRangeError(StrCat("the GPU cache holds ", capacity, " positions; ", length, " + ", n, " do not fit"));
  }
  int32_t* ids() const { return reinterpret_cast<int32_t*>(history.bytes().data() + kPosBytes); }
  const int32_t* device_next_pos() const { return history.device_as<int32_t>(); }
  int32_t* device_ids() const { return history.device_as<int32_t>() + kPosBytes / 4; }
  cuda::Stream stream;
  // Per layer [capacity, kv_heads * head_dim] each; MLA: k the latent cache [capacity, MlaCacheWidth], v empty.
  std::vector<cuda::DeviceBuffer> k, v;
  cuda::DeviceBuffer cos, sin;
  std::unique_ptr<Scratch> step, batch;  // one token (with the graph); the last batch size used
};

GpuCache::GpuCache(std::unique_ptr<State> state) : state_(std::move(state)) {}
GpuCache::~GpuCache() = default;
int64_t GpuCache::length() const { return state_->length; }
int64_t GpuCache::capacity() const { return state_->capacity; }

GpuRunner::GpuRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuRunner::~GpuRunner() = default;
const arch::ModelSpec& GpuRunner::spec() const { return impl_->spec; }
int64_t GpuRunner::vocab() const { return impl_->lm_head.rows; }

uint64_t GpuRunner::weight_bytes_per_token() const {
  uint64_t b = impl_->lm_head.bytes();
  for (const GpuLayer& l : impl_->layers) {
    b += l.qkv.bytes() + l.o.bytes() + l.gate_up.bytes() + l.down.bytes();
    if (l.mla) b += l.mla->bytes();
    if (l.moe) b += l.moe->bytes_per_token(impl_->spec.moe.top_k);
  }
  return b;
}

absl::StatusOr<std::unique_ptr<GpuRunner>> GpuRunner::Create(const Model& model, RunnerOptions options) {
  if (cuda::DeviceCount() == 0) return absl::FailedPreconditionError("--target gpu: no CUDA device found");
  auto impl = std::make_unique<Impl>();
  QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterForModel(model));
  QC_ASSIGN_OR_RETURN(impl->spec, arch::ParseModelSpec(model.config));
  QC_RETURN_IF_ERROR(adapter->Validate(impl->spec));
  const arch::ModelSpec& spec = impl->spec;
  if (spec.online_hadamard.any() || model.layout == "mp") {
    return absl::UnimplementedError("--target gpu runs dense GQA decoders (qwen2, llama) and DeepSeek-V3 (MLA, MoE) "
                                    "so far; online Hadamards (rotate r4) and mp ranks run on --target cpu");
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
  QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* embedding, w.Matrix(Role::kEmbedding));
  impl->vocab_rows = embedding->rows();
  QC_ASSIGN_OR_RETURN(const std::vector<float>* final_norm, w.Vector(Role::kFinalNorm));
  QC_ASSIGN_OR_RETURN(impl->final_norm, UploadFloats(*final_norm));
  const kernels::WeightMatrix* head = embedding;
  if (!spec.tie_word_embeddings && w.Has(Role::kLmHead)) {
    QC_ASSIGN_OR_RETURN(head, w.Matrix(Role::kLmHead));
  }
  QC_ASSIGN_OR_RETURN(impl->lm_head, UploadProjection(std::span(&head, 1), {}));
  QC_RETURN_IF_ERROR(EnableSplit(impl->lm_head));
  if (head != embedding) {
    QC_ASSIGN_OR_RETURN(impl->embedding_rows, UploadProjection(std::span(&embedding, 1), {}));
  }
  impl->embedding = head == embedding ? &impl->lm_head.parts.front() : &impl->embedding_rows.parts.front();
  impl->layers.resize(spec.num_layers);
  for (int64_t l = 0; l < spec.num_layers; ++l) {
    GpuLayer& g = impl->layers[l];
    auto matrices = [&](std::initializer_list<Role> roles) -> absl::StatusOr<std::vector<const kernels::WeightMatrix*>> {
      std::vector<const kernels::WeightMatrix*> out;
      for (Role r : roles) {
        QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* m, w.Matrix(r, l));
        out.push_back(m);
      }
      return out;
    };
    auto vector = [&](Role r, cuda::DeviceBuffer& out) -> absl::Status {
      QC_ASSIGN_OR_RETURN(const std::vector<float>* v, w.Vector(r, l));
      QC_ASSIGN_OR_RETURN(out, UploadFloats(*v));
      return absl::OkStatus();
    };
    if (spec.mla.enabled()) {
      QC_ASSIGN_OR_RETURN(GpuMla mla, UploadMla(spec, *adapter, w, l));
      g.mla = std::make_unique<GpuMla>(std::move(mla));
    } else {
      std::vector<const std::vector<float>*> qkv_bias;
      if (spec.attention_bias) {
        for (Role r : {Role::kQBias, Role::kKBias, Role::kVBias}) {
          QC_ASSIGN_OR_RETURN(const std::vector<float>* b, w.Vector(r, l));
          qkv_bias.push_back(b);
        }
      }
      QC_ASSIGN_OR_RETURN(auto qkv, matrices({Role::kQ, Role::kK, Role::kV}));
      QC_ASSIGN_OR_RETURN(g.qkv, UploadProjection(qkv, qkv_bias));
      QC_RETURN_IF_ERROR(EnableSplit(g.qkv));
      QC_ASSIGN_OR_RETURN(auto o, matrices({Role::kO}));
      QC_ASSIGN_OR_RETURN(g.o, UploadProjection(o, {}));
      QC_RETURN_IF_ERROR(EnableSplit(g.o));
    }
    if (spec.moe.IsMoeLayer(l)) {  // DeepSeek's first first_k_dense_replace layers stay dense
      QC_ASSIGN_OR_RETURN(GpuMoe moe, UploadMoe(spec, *adapter, w, l));
      g.moe = std::make_unique<GpuMoe>(std::move(moe));
      impl->moe = true;
    } else {
      QC_ASSIGN_OR_RETURN(auto gate_up, matrices({Role::kGate, Role::kUp}));
      QC_ASSIGN_OR_RETURN(g.gate_up, UploadProjection(gate_up, {}));
      QC_ASSIGN_OR_RETURN(auto down, matrices({Role::kDown}));
      QC_ASSIGN_OR_RETURN(g.down, UploadProjection(down, {}));
      QC_RETURN_IF_ERROR(EnableSplit(g.gate_up));
      QC_RETURN_IF_ERROR(EnableSplit(g.down));
      impl->inter = gate_up[0]->rows();
    }
    QC_RETURN_IF_ERROR(vector(Role::kAttnNorm, g.attn_norm));
    QC_RETURN_IF_ERROR(vector(Role::kFfnNorm, g.ffn_norm));
  }
  return std::unique_ptr<GpuRunner>(new GpuRunner(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<GpuCache>> GpuRunner::NewCache(int64_t capacity) const {
  const arch::ModelSpec& s = impl_->spec;
  if (capacity <= 0) return absl::InvalidArgumentError("a GPU cache needs a positive capacity");
  auto state = std::make_unique<GpuCache::State>();
  state->capacity = capacity;
  QC_ASSIGN_OR_RETURN(state->stream, cuda::Stream::Create());
  QC_ASSIGN_OR_RETURN(state->history, cuda::PinnedBuffer::Allocate(kPosBytes + static_cast<size_t>(capacity + 1) * 4));
  for (int64_t l = 0; l < s.num_layers; ++l) {
    if (s.mla.enabled()) {
      QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer latent, AllocateFloats(capacity * MlaCacheWidth(s.mla)));
      state->k.push_back(std::move(latent));
      state->v.emplace_back();
      continue;
    }
    QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer k, AllocateFloats(capacity * s.num_kv_heads * s.head_dim));
    QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer v, AllocateFloats(capacity * s.num_kv_heads * s.head_dim));
    state->k.push_back(std::move(k));
    state->v.push_back(std::move(v));
  }
  std::vector<float> cos, sin;
  impl_->rope->Tables(capacity, cos, sin);
  QC_ASSIGN_OR_RETURN(state->cos, UploadFloats(cos));
  QC_ASSIGN_OR_RETURN(state->sin, UploadFloats(sin));
  return std::unique_ptr<GpuCache>(new GpuCache(std::move(state)));
}

absl::StatusOr<GpuCache::Scratch*> GpuRunner::ScratchFor(const cuda::Stream& stream, std::unique_ptr<GpuCache::Scratch>& slot,
                                                          int64_t tokens, int64_t logit_rows) const {
  if (slot && slot->tokens == tokens && slot->logit_rows == logit_rows) return slot.get();
  QC_RETURN_IF_ERROR(stream.Synchronize());  // the old buffers may still be in use
  const Impl& m = *impl_;
  const int64_t hidden = m.spec.hidden_size, inter = m.inter;
  auto s = std::make_unique<GpuCache::Scratch>();
  s->tokens = tokens, s->logit_rows = logit_rows;
  QC_ASSIGN_OR_RETURN(s->input, cuda::DeviceBuffer::Allocate(kPosBytes + static_cast<size_t>(tokens * hidden) * 4));
  QC_ASSIGN_OR_RETURN(s->xn, AllocateFloats(tokens * hidden));
  QC_ASSIGN_OR_RETURN(s->qkv, AllocateFloats(tokens * m.layers[0].qkv.rows));
  QC_ASSIGN_OR_RETURN(s->attn, AllocateFloats(tokens * m.spec.num_heads * m.spec.head_dim));
  QC_ASSIGN_OR_RETURN(s->gu, AllocateFloats(tokens * 2 * inter));
  QC_ASSIGN_OR_RETURN(s->h, AllocateFloats(tokens * inter));
  QC_ASSIGN_OR_RETURN(s->logits, AllocateFloats(logit_rows * m.lm_head.rows));
  QC_ASSIGN_OR_RETURN(s->argmax, AllocateFloats(ck::kArgmaxScratch));
  if (tokens == 1 && ck::AttendSplits(1, m.spec.head_dim, m.spec.head_dim)) {
    QC_ASSIGN_OR_RETURN(s->attn_parts, AllocateFloats(ck::AttendPartFloats(m.spec.num_heads, m.spec.head_dim)));
    QC_ASSIGN_OR_RETURN(s->attn_counters, UploadFloats(std::vector<float>(m.spec.num_heads, 0.0f)));  // zero bits
  }
  if (m.spec.mla.enabled()) {
    QC_ASSIGN_OR_RETURN(s->mla, AllocateMlaScratch(m.spec, tokens));
  }
  if (m.moe) {
    QC_ASSIGN_OR_RETURN(s->moe, AllocateMoeScratch(m.spec, tokens));
  }
  slot = std::move(s);
  return slot.get();
}

absl::Status GpuRunner::Stage(std::span<const int32_t> tokens, GpuCache& cache) const {
  const int64_t n = static_cast<int64_t>(tokens.size()), vocab = impl_->vocab_rows;
  GpuCache::State& c = *cache.state_;
  QC_RETURN_IF_ERROR(c.Room(n));
  for (int32_t id : tokens) {
    if (id < 0 || id >= vocab) return absl::OutOfRangeError(StrCat("token id ", id, " is outside the vocabulary of ", vocab));
  }
  // The stream's work before has finished (every call ends synchronized): nothing reads these as
  // they change.
  std::copy(tokens.begin(), tokens.end(), c.ids() + c.length);
  *c.next_pos() = static_cast<int32_t>(c.length);
  return absl::OkStatus();
}

absl::Status GpuRunner::Enqueue(int64_t n, GpuCache& cache, GpuCache::Scratch& sc, int64_t logit_rows, bool argmax,
                                const HiddenObserver& observer) const {
  const Impl& m = *impl_;
  const arch::ModelSpec& s = m.spec;
  GpuCache::State& c = *cache.state_;
  const cuda::Stream& stream = c.stream;
  CUstream_st* st = stream.get();
  const int64_t hidden = s.hidden_size, hd = s.head_dim, heads = s.num_heads, kvh = s.num_kv_heads, inter = m.inter;
  float* x = sc.x();
  float* xn = sc.xn.as<float>();
  float* qkv = sc.qkv.as<float>();
  const int32_t* pos = sc.pos();
  std::vector<float> host;
  auto observe = [&](int64_t index, const float* states) -> absl::Status {
    if (!observer) return absl::OkStatus();
    host.resize(static_cast<size_t>(n * hidden));
    QC_RETURN_IF_ERROR(stream.Synchronize());
    const std::span<uint8_t> out(reinterpret_cast<uint8_t*>(host.data()), host.size() * 4);
    QC_RETURN_IF_ERROR(states == x ? sc.input.Download(out, kPosBytes) : sc.xn.Download(out));
    observer(index, host);
    return absl::OkStatus();
  };
  auto check = [](int code, std::string_view what) { return cuda::CheckLaunch(code, what); };
  const float eps = static_cast<float>(s.rms_norm_eps);
  const float scale = static_cast<float>(m.rope->softmax_scale_factor() / std::sqrt(static_cast<double>(hd)));
  const int64_t qkv_rows = m.layers.empty() ? 0 : m.layers[0].qkv.rows;
  // MLA's scores are over nope + rope dims (the CPU runner's MlaAttention).
  const float mla_scale = static_cast<float>(
      m.rope->softmax_scale_factor() / std::sqrt(static_cast<double>(s.mla.qk_nope_head_dim + s.mla.qk_rope_head_dim)));
  QC_RETURN_IF_ERROR(cuda::EmbedRows(*m.embedding, c.device_ids(), c.device_next_pos(), n, sc.input.as<int32_t>(), x, stream));
  for (int64_t l = 0; l < s.num_layers; ++l) {
    const GpuLayer& w = m.layers[l];
    QC_RETURN_IF_ERROR(observe(l, x));
    // The norms, the split attention and SiLU·up also split their output for the one-token Q4_K
    // products that read it (Projection::split).
    const ck::SplitOut qkv_split = SplitOutFor(w.qkv, n);  // none for MLA's layers (no qkv)
    QC_RETURN_IF_ERROR(
        check(ck::LaunchRmsNorm(x, n, hidden, w.attn_norm.as<float>(), eps, xn, st, qkv_split), "rmsnorm"));
    const float* cos = c.cos.as<float>();
    const float* sin = c.sin.as<float>();
    if (w.mla) {
      const MlaStep step{xn, n, pos, cos, sin, c.k[l].as<float>(), mla_scale, x};
      QC_RETURN_IF_ERROR(EnqueueMla(*w.mla, s, step, *sc.mla, stream));
    } else {
      QC_RETURN_IF_ERROR(Project(w.qkv, xn, n, qkv, stream, false, qkv_split.planes != nullptr));
      QC_RETURN_IF_ERROR(check(ck::LaunchRopeAppendKv(qkv, n, qkv_rows, heads, kvh, hd, s.rope.dim, s.rope.interleaved, cos,
                                                      sin, pos, c.k[l].as<float>(), c.v[l].as<float>(), st),
                               "rope"));
      const ck::AttendParts parts{sc.attn_parts.as<float>(), sc.attn_counters.as<uint32_t>()};
      const ck::SplitOut o_split = parts.partial != nullptr ? SplitOutFor(w.o, n) : ck::SplitOut{};
      QC_RETURN_IF_ERROR(check(ck::LaunchAttend(qkv, qkv_rows, c.k[l].as<float>(), c.v[l].as<float>(), n, pos, heads, kvh, hd,
                                                hd, scale, sc.attn.as<float>(), st, parts, o_split),
                               "attention"));
      QC_RETURN_IF_ERROR(
          Project(w.o, sc.attn.as<float>(), n, x, stream, /*accumulate=*/true, o_split.planes != nullptr));
    }
    const ck::SplitOut gate_up_split = SplitOutFor(w.gate_up, n);  // none for MoE layers (no gate_up)
    QC_RETURN_IF_ERROR(
        check(ck::LaunchRmsNorm(x, n, hidden, w.ffn_norm.as<float>(), eps, xn, st, gate_up_split), "rmsnorm"));
    if (w.moe) {
      QC_RETURN_IF_ERROR(EnqueueMoe(*w.moe, s, xn, n, *sc.moe, stream, x));  // synchronizes (routing on the host)
    } else {
      QC_RETURN_IF_ERROR(Project(w.gate_up, xn, n, sc.gu.as<float>(), stream, false, gate_up_split.planes != nullptr));
      const ck::SplitOut down_split = SplitOutFor(w.down, n);
      QC_RETURN_IF_ERROR(
          check(ck::LaunchSiluMul(sc.gu.as<float>(), n, inter, sc.h.as<float>(), st, down_split), "silu"));
      QC_RETURN_IF_ERROR(
          Project(w.down, sc.h.as<float>(), n, x, stream, /*accumulate=*/true, down_split.planes != nullptr));
    }
  }
  const ck::SplitOut head_split = logit_rows == n ? SplitOutFor(m.lm_head, n) : ck::SplitOut{};
  QC_RETURN_IF_ERROR(
      check(ck::LaunchRmsNorm(x, n, hidden, m.final_norm.as<float>(), eps, xn, st, head_split), "rmsnorm"));
  QC_RETURN_IF_ERROR(observe(s.num_layers, xn));
  QC_RETURN_IF_ERROR(Project(m.lm_head, xn + (n - logit_rows) * hidden, logit_rows, sc.logits.as<float>(), stream,
                             false, head_split.planes != nullptr));
  if (argmax) {
    ck::ArgmaxTo next;
    next.ids = c.device_ids(), next.pos = pos, next.n = static_cast<int32_t>(n), next.step = c.history.device_as<int32_t>();
    QC_RETURN_IF_ERROR(check(ck::LaunchArgmax(sc.logits.as<float>() + (logit_rows - 1) * m.lm_head.rows, m.lm_head.rows,
                                              sc.argmax.as<float>(), next, st),
                             "argmax"));
  }
  return absl::OkStatus();
}

absl::Status GpuRunner::Forward(std::span<const int32_t> tokens, GpuCache& cache, std::span<float> logits,
                                const HiddenObserver& observer) const {
  const Impl& m = *impl_;
  const int64_t n = static_cast<int64_t>(tokens.size()), vocab = m.lm_head.rows;
  if (n == 0) return absl::OkStatus();
  const int64_t size = static_cast<int64_t>(logits.size());
  if (size != 0 && size != vocab && size != n * vocab) return absl::InvalidArgumentError("logits must be [n, vocab], [vocab] or empty");
  const int64_t logit_rows = size == n * vocab ? n : 1;
  GpuCache::State& c = *cache.state_;
  QC_ASSIGN_OR_RETURN(GpuCache::Scratch* sc, ScratchFor(c.stream, c.batch, n, logit_rows));
  QC_RETURN_IF_ERROR(Stage(tokens, cache));
  QC_RETURN_IF_ERROR(Enqueue(n, cache, *sc, logit_rows, /*argmax=*/false, observer));
  if (size != 0) QC_RETURN_IF_ERROR(sc->logits.DownloadAsync({reinterpret_cast<uint8_t*>(logits.data()), logits.size() * 4}, c.stream));
  QC_RETURN_IF_ERROR(c.stream.Synchronize());
  c.length += n;
  return absl::OkStatus();
}

absl::Status GpuRunner::QueueGreedy(int64_t n, GpuCache& cache) const {
  GpuCache::State& c = *cache.state_;
  QC_ASSIGN_OR_RETURN(GpuCache::Scratch* sc, ScratchFor(c.stream, n == 1 ? c.step : c.batch, n, 1));
  // A model with MoE layers routes on the host mid-pass (gpu_moe.h), which a recorded graph cannot
  // do: its single tokens run like batches. Dense models (GQA or MLA) replay the recorded step.
  if (n != 1 || impl_->moe) return Enqueue(n, cache, *sc, 1, /*argmax=*/true, nullptr);
  if (!sc->decode) {
    QC_ASSIGN_OR_RETURN(sc->decode, cuda::Graph::Capture(c.stream, [&] {
                          return Enqueue(1, cache, *sc, 1, /*argmax=*/true, nullptr);
                        }));
  }
  return sc->decode.Launch(c.stream);
}

absl::StatusOr<int32_t> GpuRunner::Greedy(std::span<const int32_t> tokens, GpuCache& cache) const {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("Greedy needs at least one token");
  GpuCache::State& c = *cache.state_;
  QC_RETURN_IF_ERROR(Stage(tokens, cache));
  QC_RETURN_IF_ERROR(QueueGreedy(n, cache));
  QC_RETURN_IF_ERROR(c.stream.Synchronize());
  c.length += n;
  return c.ids()[c.length];
}

absl::StatusOr<std::vector<int32_t>> GpuRunner::Generate(int32_t first, int64_t count, GpuCache& cache) const {
  GpuCache::State& c = *cache.state_;
  if (count <= 0) return std::vector<int32_t>();
  QC_RETURN_IF_ERROR(c.Room(count));
  QC_RETURN_IF_ERROR(Stage(std::span(&first, 1), cache));
  // Each step reads the token the one before it wrote (the history): no host work in between.
  for (int64_t k = 0; k < count; ++k) {
    if (absl::Status queued = QueueGreedy(1, cache); !queued.ok()) {
      (void)c.stream.Synchronize();  // what was queued finishes before the history is written again
      return queued;
    }
  }
  QC_RETURN_IF_ERROR(c.stream.Synchronize());
  const int32_t* made = c.ids() + c.length + 1;
  c.length += count;
  return std::vector<int32_t>(made, made + count);
}

absl::Status GpuRunner::Forward(std::span<const int32_t> tokens, std::span<float> logits,
                                const HiddenObserver& observer) const {
  if (tokens.empty()) return absl::OkStatus();
  if (logits.size() != tokens.size() * static_cast<size_t>(vocab())) return absl::InvalidArgumentError("logits must be [n, vocab]");
  QC_ASSIGN_OR_RETURN(std::unique_ptr<GpuCache> cache, NewCache(static_cast<int64_t>(tokens.size())));
  return Forward(tokens, *cache, logits, observer);
}

WindowModel GpuRunner::AsWindowModel() const {
  return {vocab(), [this](std::span<const int32_t> window, std::span<float> logits) { return Forward(window, logits); }};
}

}  // namespace quantc::runner
