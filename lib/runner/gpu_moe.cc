#include "lib/runner/gpu_moe.h"

#include <algorithm>
#include <span>
#include <string_view>
#include <utility>

#include "lib/cuda/ops_kernels.h"
#include "lib/runner/layers.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::runner {
namespace {

using arch::Role;
namespace ck = cuda::kernels;

absl::Status Check(int code, std::string_view what) { return cuda::CheckLaunch(code, what); }

// The routing table of n tokens (MoeScratch::host_table's layout) and where each expert's rows are.
struct Table {
  std::vector<int64_t> start, count;  // per expert: first routed row, number of rows
};

// Routes every token with the CPU runner's Route and writes the table into `table` (3 * n * top_k
// words: rows, slots, weights).
Table RouteTokens(const arch::MoeSpec& spec, const GpuMoe& layer, std::span<const float> logits, int64_t n,
                  std::span<int32_t> table) {
  const int64_t experts = spec.n_routed_experts, top_k = spec.top_k, nk = n * top_k;
  std::vector<Routing> routes(static_cast<size_t>(n));
  Table t{std::vector<int64_t>(experts, 0), std::vector<int64_t>(experts, 0)};
  for (int64_t i = 0; i < n; ++i) {
    routes[i] = Route(spec, logits.subspan(i * experts, experts), layer.router_bias);
    for (int64_t e : routes[i].experts) ++t.count[e];
  }
  for (int64_t e = 1; e < experts; ++e) t.start[e] = t.start[e - 1] + t.count[e - 1];
  int32_t* rows = table.data();
  int32_t* slots = rows + nk;
  float* weights = reinterpret_cast<float*>(rows + 2 * nk);
  std::vector<int64_t> filled(experts, 0);
  for (int64_t i = 0; i < n; ++i) {
    // The CPU's Moe adds experts in ascending order: the slots follow it.
    std::vector<std::pair<int64_t, float>> picked;
    for (size_t k = 0; k < routes[i].experts.size(); ++k)
      picked.emplace_back(routes[i].experts[k], routes[i].weights[k]);
    std::sort(picked.begin(), picked.end());
    for (int64_t k = 0; k < top_k; ++k) {
      if (k >= static_cast<int64_t>(picked.size())) {
        slots[i * top_k + k] = -1, weights[i * top_k + k] = 0.0f;
        continue;
      }
      const auto [e, w] = picked[k];
      const int64_t row = t.start[e] + filled[e]++;
      rows[row] = static_cast<int32_t>(i);
      slots[i * top_k + k] = static_cast<int32_t>(row);
      weights[i * top_k + k] = w;
    }
  }
  return t;
}

}  // namespace

uint64_t GpuMoe::bytes_per_token(int64_t top_k) const {
  uint64_t routed = 0;
  for (size_t e = 0; e < gate_up.size(); ++e) routed += gate_up[e].bytes() + down[e].bytes();
  const uint64_t average = gate_up.empty() ? 0 : routed / gate_up.size();
  return router.bytes() + shared_gate_up.bytes() + shared_down.bytes() + static_cast<uint64_t>(top_k) * average;
}

absl::StatusOr<GpuMoe> UploadMoe(const arch::ModelSpec& spec, const arch::ArchAdapter& adapter, Weights& w,
                                 int64_t layer) {
  const arch::MoeSpec& m = spec.moe;
  const int64_t hidden = spec.hidden_size, inter = m.moe_intermediate_size;
  auto matrix = [&](Role role, int64_t expert, int64_t rows,
                    int64_t cols) -> absl::StatusOr<const kernels::WeightMatrix*> {
    QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* mat, w.Matrix(role, layer, expert));
    if (mat->rows() == rows && mat->cols() == cols) return mat;
    return absl::InvalidArgumentError(StrCat("tensor '", adapter.TensorName({role, layer, expert}), "' is [",
                                             mat->rows(), ", ", mat->cols(), "] as a matrix, expected [", rows, ", ",
                                             cols, "]"));
  };
  // gate and up side by side (one launch when they share a format), and down.
  auto mlp = [&](Role gate, Role up, Role down, int64_t expert, int64_t width, Projection& gu,
                 Projection& d) -> absl::Status {
    QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* g, matrix(gate, expert, width, hidden));
    QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* u, matrix(up, expert, width, hidden));
    QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* dn, matrix(down, expert, hidden, width));
    const kernels::WeightMatrix* both[] = {g, u};
    QC_ASSIGN_OR_RETURN(gu, UploadProjection(both, {}));
    QC_ASSIGN_OR_RETURN(d, UploadProjection(std::span(&dn, 1), {}));
    return absl::OkStatus();
  };
  GpuMoe g;
  QC_ASSIGN_OR_RETURN(const kernels::WeightMatrix* router, matrix(Role::kRouter, -1, m.n_routed_experts, hidden));
  QC_ASSIGN_OR_RETURN(g.router, UploadProjection(std::span(&router, 1), {}));
  if (w.Has(Role::kRouterBias, layer)) {
    QC_ASSIGN_OR_RETURN(g.router_bias, w.Vector(Role::kRouterBias, layer));
    if (static_cast<int64_t>(g.router_bias->size()) != m.n_routed_experts) {
      return absl::InvalidArgumentError(StrCat("tensor '", adapter.TensorName({Role::kRouterBias, layer}), "' holds ",
                                               g.router_bias->size(), " values for ", m.n_routed_experts, " experts"));
    }
  }
  g.gate_up.resize(m.n_routed_experts);
  g.down.resize(m.n_routed_experts);
  for (int64_t e = 0; e < m.n_routed_experts; ++e) {
    QC_RETURN_IF_ERROR(mlp(Role::kExpertGate, Role::kExpertUp, Role::kExpertDown, e, inter, g.gate_up[e], g.down[e]));
  }
  if (m.n_shared_experts > 0) {
    QC_RETURN_IF_ERROR(mlp(Role::kSharedGate, Role::kSharedUp, Role::kSharedDown, -1, m.n_shared_experts * inter,
                           g.shared_gate_up, g.shared_down));
  }
  return g;
}

absl::StatusOr<MoeScratch> AllocateMoeScratch(const arch::ModelSpec& spec, int64_t tokens) {
  const arch::MoeSpec& m = spec.moe;
  const int64_t hidden = spec.hidden_size, inter = m.moe_intermediate_size, shared = m.n_shared_experts * inter;
  const int64_t nk = tokens * m.top_k;
  MoeScratch s;
  QC_ASSIGN_OR_RETURN(s.logits, AllocateFloats(tokens * m.n_routed_experts));
  QC_ASSIGN_OR_RETURN(s.host_logits,
                      cuda::PinnedBuffer::Allocate(static_cast<size_t>(tokens * m.n_routed_experts) * 4));
  QC_ASSIGN_OR_RETURN(s.host_table, cuda::PinnedBuffer::Allocate(static_cast<size_t>(3 * nk) * 4));
  QC_ASSIGN_OR_RETURN(s.table, AllocateFloats(3 * nk));
  QC_ASSIGN_OR_RETURN(s.xe, AllocateFloats(nk * hidden));
  QC_ASSIGN_OR_RETURN(s.gu, AllocateFloats(nk * 2 * inter));
  QC_ASSIGN_OR_RETURN(s.h, AllocateFloats(nk * inter));
  QC_ASSIGN_OR_RETURN(s.ye, AllocateFloats(nk * hidden));
  QC_ASSIGN_OR_RETURN(s.shared_gu, AllocateFloats(tokens * 2 * shared));
  QC_ASSIGN_OR_RETURN(s.shared_h, AllocateFloats(tokens * shared));
  QC_ASSIGN_OR_RETURN(s.shared_out, AllocateFloats(shared > 0 ? tokens * hidden : 0));
  return s;
}

absl::Status EnqueueMoe(const GpuMoe& layer, const arch::ModelSpec& spec, const float* xn, int64_t n, MoeScratch& s,
                        const cuda::Stream& stream, float* x) {
  const arch::MoeSpec& m = spec.moe;
  const int64_t experts = m.n_routed_experts, top_k = m.top_k, nk = n * top_k, hidden = spec.hidden_size;
  const int64_t inter = m.moe_intermediate_size, shared = m.n_shared_experts * inter;
  CUstream_st* cs = stream.get();
  // The router on the device, its logits to the host, routing there (the one wait of the layer).
  QC_RETURN_IF_ERROR(Project(layer.router, xn, n, s.logits.as<float>(), stream));
  const std::span<uint8_t> host_logits = s.host_logits.bytes().first(static_cast<size_t>(n * experts) * 4);
  QC_RETURN_IF_ERROR(s.logits.DownloadAsync(host_logits, stream));
  QC_RETURN_IF_ERROR(stream.Synchronize());
  const std::span<int32_t> table = s.host_table.as<int32_t>().first(static_cast<size_t>(3 * nk));
  const Table routed =
      RouteTokens(m, layer, s.host_logits.as<float>().first(static_cast<size_t>(n * experts)), n, table);
  QC_RETURN_IF_ERROR(s.table.UploadAsync({reinterpret_cast<const uint8_t*>(table.data()), table.size() * 4}, stream));
  const int32_t* rows = s.table.as<int32_t>();
  const int32_t* slots = rows + nk;
  const float* weights = reinterpret_cast<const float*>(rows + 2 * nk);

  float* shared_out = nullptr;
  if (shared > 0) {
    shared_out = s.shared_out.as<float>();
    QC_RETURN_IF_ERROR(Project(layer.shared_gate_up, xn, n, s.shared_gu.as<float>(), stream));
    QC_RETURN_IF_ERROR(
        Check(ck::LaunchSiluMul(s.shared_gu.as<float>(), n, shared, s.shared_h.as<float>(), cs), "silu"));
    QC_RETURN_IF_ERROR(Project(layer.shared_down, s.shared_h.as<float>(), n, shared_out, stream));
  }
  float* xe = s.xe.as<float>();
  float* gu = s.gu.as<float>();
  float* h = s.h.as<float>();
  float* ye = s.ye.as<float>();
  // Route gives every token top_k experts, so `total` is n * top_k; only filled rows are read.
  const int64_t total = routed.start[experts - 1] + routed.count[experts - 1];
  QC_RETURN_IF_ERROR(Check(ck::LaunchGatherRows(xn, hidden, rows, total, xe, cs), "MoE gather"));
  for (int64_t e = 0; e < experts; ++e) {
    if (routed.count[e] == 0) continue;
    const int64_t at = routed.start[e];
    QC_RETURN_IF_ERROR(Project(layer.gate_up[e], xe + at * hidden, routed.count[e], gu + at * 2 * inter, stream));
  }
  QC_RETURN_IF_ERROR(Check(ck::LaunchSiluMul(gu, total, inter, h, cs), "silu"));
  for (int64_t e = 0; e < experts; ++e) {
    if (routed.count[e] == 0) continue;
    const int64_t at = routed.start[e];
    QC_RETURN_IF_ERROR(Project(layer.down[e], h + at * inter, routed.count[e], ye + at * hidden, stream));
  }
  return Check(ck::LaunchMoeCombine(ye, slots, weights, n, top_k, hidden, shared_out, x, cs), "MoE combine");
}

}  // namespace quantc::runner
