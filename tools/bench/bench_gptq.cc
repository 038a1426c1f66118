// Benchmark: GPTQ's solve (lib/kernels/gptq Quantize: Cholesky, blocked lazy updates) and Hessian
// accumulation on the matrices of one decoder layer, against a plain Eigen GEMM measured in the
// same run (the anchor: is the solve GEMM-bound?).
//
//   bench_gptq [--hidden 1536] [--intermediate 8960] [--q-out 1536] [--kv-out 256] [--type Q4_K]
//              [--tokens 2048] [--reps 1] [--only q,k,...] [--json]
//
// Defaults are one layer of DeepSeek-R1-Distill-Qwen-1.5B: q/o [1536, 1536], k/v [256, 1536],
// gate/up [8960, 1536], down [1536, 8960]. For each matrix, from random weights and random inputs
// (fixed seeds; timing does not depend on the values):
//   hessian: HessianAccumulator over --tokens rows in 512-row batches (as the pass adds them),
//            then data(); nominal tokens * cols * (cols + 1) FLOP (X^T X's lower triangle).
//   solve:   gptq::Quantize with the pass's defaults (act-order, block 128, damp 0.01) on --type's
//            grid (a ggml block type, or an int scheme such as int4-g128); nominal FLOP: the
//            work GPTQ needs, cols^3 / 3 (Cholesky) + rows * cols^2 (lazy updates) +
//            2 * rows * cols * block (each block's start and in-block updates). The quantizer's
//            own work (fitting scales, rounding) is not counted: per weight, not per FLOP.
//   gemm:    W [rows, cols] * H [cols, cols] with Eigen (2 * rows * cols^2 FLOP), built with the
//            same flags as lib/kernels/gptq/gptq.cc: the anchor.
// The threads are OpenMP's (OMP_NUM_THREADS), as in `quantc convert`.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "Eigen/Core"
#include "fmt/core.h"
#include "lib/dtypes/dtype.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/kernels/gptq/ggml_quantizer.h"
#include "lib/kernels/gptq/gptq.h"
#include "lib/kernels/gptq/int_quantizer.h"
#include "lib/kernels/int_quant/int_quant.h"

namespace quantc {
namespace {

namespace gptq = kernels::gptq;
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Options {
  int64_t hidden = 1536, intermediate = 8960, q_out = 1536, kv_out = 256, tokens = 2048, reps = 1;
  std::string type = "Q4_K";
  std::vector<std::string> only;  // matrix names; empty: all
  bool json = false;
};

struct Matrix {
  std::string name;
  int64_t rows, cols;
  bool own_input;  // false: reads the previous matrix's input (one Hessian in the gptq pass)
};

struct Timing {
  double hessian_s = 1e30, solve_s = 1e30, gemm_s = 1e30;  // best of reps
};

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<float> Random(int64_t n, float scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

absl::StatusOr<Timing> Measure(const Options& o, const Matrix& m, uint64_t seed) {
  const std::vector<float> x = Random(o.tokens * m.cols, 1.0f, seed);
  const std::vector<float> w0 = Random(m.rows * m.cols, 1.0f / 64, seed + 1);
  gptq::Options go;  // the gptq pass's defaults
  go.damp = 0.01;
  go.block = 128;
  go.act_order = true;
  const std::optional<DType> ggml_type = GgufTensorTypeFromName(o.type);
  Timing t;
  for (int64_t rep = 0; rep < o.reps; ++rep) {
    gptq::HessianAccumulator h(m.cols);
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t r = 0; r < o.tokens; r += 512) h.Add(x.data() + r * m.cols, std::min<int64_t>(512, o.tokens - r));
    const float* hessian = h.data();  // finishes the sum
    t.hessian_s = std::min(t.hessian_s, Seconds(t0));

    std::vector<float> w = w0;
    absl::StatusOr<gptq::Result> r;
    if (ggml_type) {
      std::vector<uint8_t> out(static_cast<size_t>(m.rows * kernels::ggml_quants::RowBytes(*ggml_type, m.cols)));
      gptq::GgmlRowQuantizer q(*ggml_type, m.cols, out.data());
      t0 = std::chrono::steady_clock::now();
      r = gptq::Quantize(w.data(), m.rows, m.cols, hessian, q, go);
    } else {
      absl::StatusOr<kernels::int_quant::IntScheme> scheme = kernels::int_quant::ParseIntScheme(o.type);
      if (!scheme.ok()) return scheme.status();
      gptq::IntRowQuantizer q(*scheme, DType::kBF16, m.rows, m.cols);
      t0 = std::chrono::steady_clock::now();
      r = gptq::Quantize(w.data(), m.rows, m.cols, hessian, q, go);
    }
    if (!r.ok()) return r.status();
    t.solve_s = std::min(t.solve_s, Seconds(t0));

    Eigen::Map<const RowMatrix> wm(w0.data(), m.rows, m.cols), hm(hessian, m.cols, m.cols);
    RowMatrix product(m.rows, m.cols);
    t0 = std::chrono::steady_clock::now();
    product.noalias() = wm * hm;
    t.gemm_s = std::min(t.gemm_s, Seconds(t0));
  }
  return t;
}

int Run(const Options& o) {
  const std::vector<Matrix> matrices = {
      {"q", o.q_out, o.hidden, true},          {"k", o.kv_out, o.hidden, false},
      {"v", o.kv_out, o.hidden, false},        {"o", o.hidden, o.q_out, true},
      {"gate", o.intermediate, o.hidden, true}, {"up", o.intermediate, o.hidden, false},
      {"down", o.hidden, o.intermediate, true}};
  if (!o.json) {
    fmt::print("bench_gptq: type {}, {} Hessian tokens, best of {}, {} OpenMP threads\n", o.type, o.tokens, o.reps,
               omp_get_max_threads());
    fmt::print("| matrix | rows x cols | Hessian s | Hessian GFLOP/s | solve s | solve GFLOP/s | GEMM GFLOP/s (anchor) | "
               "Hessian / GEMM | solve / GEMM |\n");
    fmt::print("|---|---|---|---|---|---|---|---|---|\n");
  }
  // Layer totals: one Hessian per distinct input, as the pass accumulates them.
  double hessian_s = 0, hessian_flop = 0, solve_s = 0, solve_flop = 0, gemm_s = 0, gemm_flop = 0;
  uint64_t seed = 1;
  for (const Matrix& m : matrices) {
    if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), m.name) == o.only.end()) continue;
    absl::StatusOr<Timing> t = Measure(o, m, seed += 2);
    if (!t.ok()) {
      fmt::print(stderr, "bench_gptq: error: {}: {}\n", m.name, std::string(t.status().message()));
      return 1;
    }
    const double c = static_cast<double>(m.cols), r = static_cast<double>(m.rows);
    const double h_flop = static_cast<double>(o.tokens) * c * (c + 1);  // the lower triangle
    const double s_flop = c * c * c / 3 + r * c * c + 2 * r * c * 128;
    const double g_flop = 2 * r * c * c;
    if (m.own_input) hessian_s += t->hessian_s, hessian_flop += h_flop;
    solve_s += t->solve_s;
    solve_flop += s_flop;
    gemm_s += t->gemm_s;
    gemm_flop += g_flop;
    if (o.json) {
      fmt::print("{{\"matrix\": \"{}\", \"rows\": {}, \"cols\": {}, \"type\": \"{}\", \"tokens\": {}, \"hessian_s\": {:.4f}, "
                 "\"solve_s\": {:.4f}, \"solve_gflop\": {:.2f}, \"gemm_s\": {:.4f}, \"gemm_gflop\": {:.2f}}}\n",
                 m.name, m.rows, m.cols, o.type, o.tokens, t->hessian_s, t->solve_s, s_flop / 1e9, t->gemm_s, g_flop / 1e9);
      continue;
    }
    const double h_rate = h_flop / t->hessian_s / 1e9, s_rate = s_flop / t->solve_s / 1e9, g_rate = g_flop / t->gemm_s / 1e9;
    fmt::print("| {} | {} x {} | {:.2f} | {:.1f} | {:.2f} | {:.1f} | {:.1f} | {:.2f} | {:.2f} |\n", m.name, m.rows, m.cols,
               t->hessian_s, h_rate, t->solve_s, s_rate, g_rate, h_rate / g_rate, s_rate / g_rate);
  }
  if (!o.json && hessian_s > 0) {
    const double h_rate = hessian_flop / hessian_s / 1e9, s_rate = solve_flop / solve_s / 1e9, g_rate = gemm_flop / gemm_s / 1e9;
    fmt::print("| layer | | {:.2f} | {:.1f} | {:.2f} | {:.1f} | {:.1f} | {:.2f} | {:.2f} |\n", hessian_s, h_rate, solve_s, s_rate,
               g_rate, h_rate / g_rate, s_rate / g_rate);
  }
  return 0;
}

}  // namespace
}  // namespace quantc

int main(int argc, char** argv) {
  quantc::Options o;
  CLI::App app{"GPTQ solve and Hessian on one decoder layer's matrices, against a plain GEMM"};
  app.add_option("--hidden", o.hidden, "hidden size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--intermediate", o.intermediate, "FFN size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--q-out", o.q_out, "q_proj rows (heads * head_dim)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--kv-out", o.kv_out, "k/v_proj rows (kv_heads * head_dim)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--type", o.type, "ggml block type (Q4_K, Q6_K, ...) or int scheme (int4-g128, ...)")->capture_default_str();
  app.add_option("--tokens", o.tokens, "Hessian input rows")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--reps", o.reps, "repetitions (best is reported)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--only", o.only, "measure only these matrices (q, k, v, o, gate, up, down)")->delimiter(',');
  app.add_flag("--json", o.json, "one JSON object per matrix");
  CLI11_PARSE(app, argc, argv);
  return quantc::Run(o);
}
