// An importance matrix ("imatrix"): per weight tensor and per input column, the sum of squared
// activations that reached it, and how many activation rows (tokens) were summed, per expert for
// stacked expert tensors. llama.cpp's llama-imatrix collects the same quantity; its quantizer
// weights every scale search by the mean, in_sum2 / count (specs/gguf-llamacpp.md §7). Keys are
// GGUF tensor names ("blk.3.ffn_down.weight").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace quantc {

struct ImportanceEntry {
  int64_t n_per_row = 0;          // input columns (the weight's ne[0])
  int64_t n_mat = 1;              // experts (1 for a plain matrix)
  std::vector<float> in_sum2;     // [n_mat][n_per_row]: sum of x^2 per column
  std::vector<float> counts;      // [n_mat]: activation rows summed

  // The per-column weights for matrix `mat`: in_sum2 / count, or all ones where nothing was seen
  // (llama-quantize's rule for experts no token reached).
  std::vector<float> MeanSquares(int64_t mat) const;
};

struct ImportanceMatrix {
  std::map<std::string, ImportanceEntry> entries;
  std::vector<std::string> datasets;  // calibration files, for provenance
  int64_t chunk_count = 0;            // calibration chunks evaluated
  int64_t chunk_size = 0;             // tokens per chunk
  std::string source;                 // file it was read from (for quantize.imatrix.file)

  const ImportanceEntry* Find(const std::string& name) const {
    auto it = entries.find(name);
    return it == entries.end() ? nullptr : &it->second;
  }
};

}  // namespace quantc
