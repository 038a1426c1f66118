// Runs passes in order over a model, verifying the IR after each one, recording each pass's
// canonical text into model.pipeline, and collecting per-pass statistics.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "lib/pass/pass.h"

namespace quantc {

class PassManager {
 public:
  void Add(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  void AddAll(std::vector<std::unique_ptr<Pass>> passes);
  bool empty() const { return passes_.empty(); }
  // Calibration statistics handed to every pass (PassContext::importance); must outlive Run.
  void set_importance(const ImportanceMatrix* importance) { importance_ = importance; }
  // Calibration token ids handed to every pass (PassContext::calibration); must outlive Run.
  void set_calibration(const std::vector<int32_t>* tokens) { calibration_ = tokens; }
  void set_show_progress(bool show) { show_progress_ = show; }

  // Stops at the first failure, returning it prefixed with "in pass 'NAME': ".
  absl::Status Run(Model& model);

  // The canonical text of the whole pipeline.
  std::string Text() const;
  // After Run: (pass text, statistics) per pass, and notes the passes left for the user.
  const std::vector<std::pair<std::string, PassStatistics>>& statistics() const { return stats_; }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  std::vector<std::unique_ptr<Pass>> passes_;
  std::vector<std::pair<std::string, PassStatistics>> stats_;
  std::vector<std::string> notes_;
  const ImportanceMatrix* importance_ = nullptr;
  const std::vector<int32_t>* calibration_ = nullptr;
  bool show_progress_ = false;
};

}  // namespace quantc
