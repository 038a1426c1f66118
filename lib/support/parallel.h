// Data-parallel loops on OpenMP. One place decides the thread count (--threads), so kernels
// never call omp_set_num_threads themselves.
#pragma once

#include <algorithm>
#include <cstdint>

namespace quantc {

// Threads used by ParallelFor; 0 restores the OpenMP default (all cores or OMP_NUM_THREADS).
void SetNumThreads(int n);
int NumThreads();

// Runs fn(i) for i in [begin, end) across the thread pool, static schedule. fn must not throw.
// `min_per_thread` is the fewest iterations worth a thread: below twice that the loop runs
// inline, because waking the pool costs more than small work (and, on a busy 2-core host, a
// woken-then-parked OpenMP worker can cost milliseconds per region).
template <typename Fn>
void ParallelFor(int64_t begin, int64_t end, int64_t min_per_thread, Fn&& fn) {
  const int64_t n = end - begin;
  const int threads = static_cast<int>(std::min<int64_t>(NumThreads(), n / std::max<int64_t>(1, min_per_thread)));
  if (threads <= 1) {
    for (int64_t i = begin; i < end; ++i) fn(i);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = begin; i < end; ++i) fn(i);
}

}  // namespace quantc
