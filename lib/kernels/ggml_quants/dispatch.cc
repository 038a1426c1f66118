// The one place that lists each type's row kernels and picks the fast variant for this CPU
// (XNNPACK src/configs/: one list per family, chosen once). Reference() is a constexpr table of the
// ref:: kernels; Fast() starts from it and swaps in the AVX2 kernels (fast.h, k_quants_avx2.h)
// when the CPU runs them, decided once on first use. QuantizeRows / DequantizeRows run the fast
// kernels over rows in parallel; rows are independent, so the result never depends on threads.
#include <algorithm>
#include <array>
#include <cstddef>

#include "lib/kernels/ggml_quants/fast.h"
#include "lib/kernels/ggml_quants/k_quants_avx2.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/kernels/ggml_quants/ref.h"
#include "lib/support/parallel.h"

namespace quantc::kernels::ggml_quants {
namespace {

using Table = std::array<RowKernels, static_cast<size_t>(DType::kCount)>;

constexpr size_t Index(DType type) { return static_cast<size_t>(type); }

constexpr Table MakeReferenceTable() {
  Table t{};
  auto set = [&t](DType type, QuantizeRowFn quantize, DequantizeRowFn dequantize) {
    t[Index(type)] = {quantize, dequantize};
  };
  // plain.cc
  set(DType::kF32, ref::QuantizeRowF32, ref::DequantizeRowF32);
  set(DType::kF16, ref::QuantizeRowF16, ref::DequantizeRowF16);
  set(DType::kBF16, ref::QuantizeRowBF16, ref::DequantizeRowBF16);
  // legacy.cc
  set(DType::kQ4_0, ref::QuantizeRowQ4_0, ref::DequantizeRowQ4_0);
  set(DType::kQ4_1, ref::QuantizeRowQ4_1, ref::DequantizeRowQ4_1);
  set(DType::kQ5_0, ref::QuantizeRowQ5_0, ref::DequantizeRowQ5_0);
  set(DType::kQ5_1, ref::QuantizeRowQ5_1, ref::DequantizeRowQ5_1);
  set(DType::kQ8_0, ref::QuantizeRowQ8_0, ref::DequantizeRowQ8_0);
  // q2_k.cc .. q6_k.cc
  set(DType::kQ2_K, ref::QuantizeRowQ2_K, ref::DequantizeRowQ2_K);
  set(DType::kQ3_K, ref::QuantizeRowQ3_K, ref::DequantizeRowQ3_K);
  set(DType::kQ4_K, ref::QuantizeRowQ4_K, ref::DequantizeRowQ4_K);
  set(DType::kQ5_K, ref::QuantizeRowQ5_K, ref::DequantizeRowQ5_K);
  set(DType::kQ6_K, ref::QuantizeRowQ6_K, ref::DequantizeRowQ6_K);
  // iq4.cc, mxfp4.cc
  set(DType::kIQ4_NL, ref::QuantizeRowIQ4_NL, ref::DequantizeRowIQ4_NL);
  set(DType::kIQ4_XS, ref::QuantizeRowIQ4_XS, ref::DequantizeRowIQ4_XS);
  set(DType::kMXFP4, ref::QuantizeRowMXFP4, ref::DequantizeRowMXFP4);
  return t;
}

constexpr Table kReference = MakeReferenceTable();

// Reference kernels, with every kernel that has an AVX2 variant replaced when the CPU runs AVX2,
// FMA and F16C. Types or directions without a variant keep ref's (already the fast path, or a
// search that has not been vectorized).
Table MakeFastTable() {
  Table t = kReference;
  if (!avx2::CpuHasAvx2()) return t;
  auto at = [&t](DType type) -> RowKernels& { return t[Index(type)]; };
  // legacy_avx2.cc
  at(DType::kF16) = {avx2::QuantizeRowF16, avx2::DequantizeRowF16};
  at(DType::kBF16) = {avx2::QuantizeRowBF16, avx2::DequantizeRowBF16};
  at(DType::kQ8_0) = {avx2::QuantizeRowQ8_0, avx2::DequantizeRowQ8_0};
  at(DType::kQ4_0).dequantize = avx2::DequantizeRowQ4_0;
  at(DType::kQ4_1).dequantize = avx2::DequantizeRowQ4_1;
  at(DType::kQ5_0).dequantize = avx2::DequantizeRowQ5_0;
  at(DType::kQ5_1).dequantize = avx2::DequantizeRowQ5_1;
  at(DType::kIQ4_NL).dequantize = avx2::DequantizeRowIQ4_NL;
  at(DType::kIQ4_XS).dequantize = avx2::DequantizeRowIQ4_XS;
  at(DType::kMXFP4).dequantize = avx2::DequantizeRowMXFP4;
  // k_quants_avx2.cc
  at(DType::kQ2_K).quantize = avx2::QuantizeRowQ2_K;
  at(DType::kQ3_K).quantize = avx2::QuantizeRowQ3_K;
  at(DType::kQ4_K).quantize = avx2::QuantizeRowQ4_K;
  at(DType::kQ5_K).quantize = avx2::QuantizeRowQ5_K;
  at(DType::kQ6_K).quantize = avx2::QuantizeRowQ6_K;
  at(DType::kQ2_K).dequantize = avx2::DequantizeRowQ2_K;
  at(DType::kQ3_K).dequantize = avx2::DequantizeRowQ3_K;
  at(DType::kQ4_K).dequantize = avx2::DequantizeRowQ4_K;
  at(DType::kQ5_K).dequantize = avx2::DequantizeRowQ5_K;
  at(DType::kQ6_K).dequantize = avx2::DequantizeRowQ6_K;
  return t;
}

const Table& FastTable() {
  static const Table table = MakeFastTable();
  return table;
}

// Parallel loops: below kMinParallelWeights in all, waking the pool costs more than the work.
// Chunks of about kChunkWeights weights keep the scheduling overhead small, but are cut so each
// thread gets several (the searching quantizers cost up to ~100x per weight what Q8_0 does, and
// dynamic scheduling evens that out).
constexpr int64_t kMinParallelWeights = int64_t{1} << 16;
constexpr int64_t kChunkWeights = int64_t{1} << 15;

struct RowSchedule {
  int threads;
  int64_t chunk;  // rows per dynamic-schedule chunk
};

RowSchedule ScheduleRows(int64_t nrows, int64_t n_per_row) {
  const int64_t weights = nrows * n_per_row;
  const int threads =
      weights < kMinParallelWeights ? 1 : static_cast<int>(std::min<int64_t>(NumThreads(), nrows));
  const int64_t by_size = std::max<int64_t>(1, kChunkWeights / std::max<int64_t>(1, n_per_row));
  const int64_t by_balance = std::max<int64_t>(1, nrows / (4 * int64_t{threads}));
  return {std::max(threads, 1), std::min(by_size, by_balance)};
}

}  // namespace

bool HasKernels(DType type) {
  return Index(type) < kReference.size() && kReference[Index(type)].quantize != nullptr;
}

const RowKernels& Reference(DType type) { return kReference[Index(type)]; }

const RowKernels& Fast(DType type) { return FastTable()[Index(type)]; }

uint64_t RowBytes(DType type, int64_t n) {
  const DTypeTraits& t = Traits(type);
  return static_cast<uint64_t>(n / t.block_elems) * static_cast<uint64_t>(t.block_bytes);
}

void QuantizeRows(DType type, const float* x, void* dst, int64_t nrows, int64_t n_per_row,
                  const float* importance) {
  const QuantizeRowFn quantize = Fast(type).quantize;
  const uint64_t row_bytes = RowBytes(type, n_per_row);
  auto* out = static_cast<uint8_t*>(dst);
  const RowSchedule s = ScheduleRows(nrows, n_per_row);
#pragma omp parallel for schedule(dynamic, s.chunk) num_threads(s.threads) if (s.threads > 1)
  for (int64_t r = 0; r < nrows; ++r) {
    quantize(x + r * n_per_row, out + static_cast<uint64_t>(r) * row_bytes, n_per_row, importance);
  }
}

void DequantizeRows(DType type, const void* src, float* y, int64_t nrows, int64_t n_per_row) {
  const DequantizeRowFn dequantize = Fast(type).dequantize;
  const uint64_t row_bytes = RowBytes(type, n_per_row);
  const auto* in = static_cast<const uint8_t*>(src);
  const RowSchedule s = ScheduleRows(nrows, n_per_row);
#pragma omp parallel for schedule(dynamic, s.chunk) num_threads(s.threads) if (s.threads > 1)
  for (int64_t r = 0; r < nrows; ++r) {
    dequantize(in + static_cast<uint64_t>(r) * row_bytes, y + r * n_per_row, n_per_row);
  }
}

}  // namespace quantc::kernels::ggml_quants
