#include "lib/support/parallel.h"

#include <omp.h>

#include <atomic>

namespace quantc {
namespace {
std::atomic<int> g_threads{0};  // process-wide setting, chosen once by the CLI
}

void SetNumThreads(int n) { g_threads.store(n > 0 ? n : 0); }

int NumThreads() {
  int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

}  // namespace quantc
