// What `quantc validate` measured, and its three renderings: the table it prints, the --json
// object and the --report HTML page (one self-contained file: inline SVG and CSS, no network).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/runner/eval.h"

namespace quantc::tools {

struct LayerSnr {
  std::string name;  // "embeddings", "layer 3", "layer 11 + final norm"
  double snr_db = 0;  // +inf where equal to the reference
  double cosine = 1;
};

// One candidate on one target.
struct RowResult {
  std::string label, path, kind, target, engine, pipeline;
  uint64_t bytes = 0;
  double bits_per_weight = 0;  // 8 · bytes / the reference's parameter count
  runner::EvalResult eval;     // eval.ref is always set
  std::vector<int64_t> kld_histogram;  // counts per KldBinEdges() bin
  std::vector<LayerSnr> layers;        // empty: the row's engine gives logits only
  std::optional<int64_t> departs_at;   // index into `layers` of the largest SNR drop
  std::vector<std::string> failures;   // the gates it fails, "mean KLD 0.31 > 0.1 (--max-kld)"
  double seconds = 0;
};

struct Gates {
  std::optional<double> max_kld, max_ppl_delta, min_top1;  // ppl delta and top-1 as fractions
};

struct ValidationReport {
  std::string ref, text;
  double ref_ppl = 0;
  int64_t ctx = 0, tokens = 0, windows = 0, ref_parameters = 0;
  Gates gates;
  std::vector<std::string> commands;  // the command lines that made the candidates and this report
  std::vector<RowResult> rows;
};

// Upper edges of the KLD histogram's bins (the last bin is open): 1e-6 then quarter decades to 10.
const std::vector<double>& KldBinEdges();
std::vector<int64_t> KldHistogram(const std::vector<double>& klds);

// The hidden state where the SNR falls most below the one before it (+inf counted as 200 dB):
// where a candidate departs from the reference.
std::optional<int64_t> LargestSnrDrop(const std::vector<LayerSnr>& layers);

std::string ReportText(const ValidationReport& report);
std::string ReportJson(const ValidationReport& report);
std::string ReportHtml(const ValidationReport& report);

}  // namespace quantc::tools
