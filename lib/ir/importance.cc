#include "lib/ir/importance.h"

namespace quantc {

std::vector<float> ImportanceEntry::MeanSquares(int64_t mat) const {
  std::vector<float> out(static_cast<size_t>(n_per_row), 1.0f);
  const float count = mat < static_cast<int64_t>(counts.size()) ? counts[mat] : 0.0f;
  if (count <= 0) return out;
  const float* sums = in_sum2.data() + mat * n_per_row;
  for (int64_t c = 0; c < n_per_row; ++c) out[c] = sums[c] / count;
  return out;
}

}  // namespace quantc
