// The pass contract (after MLIR's): a pass has a kebab-case name, declared options, and one
// Run(Model&, PassContext&) that returns a Status. A pass keeps no global state and carries
// nothing from one run to the next; to fail it returns a Status naming the tensor, and the
// manager stops the pipeline and adds "in pass 'NAME'".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "lib/ir/importance.h"
#include "lib/ir/model.h"

namespace quantc {

// Options are declared once, in an options struct's Bind(); binders give them meaning: the
// pipeline parser sets them from "key=value", the printer writes them back, the CLI may expose them.
class OptionBinder {
 public:
  virtual ~OptionBinder() = default;
  virtual void Int(std::string_view key, int64_t* value, std::string_view help) = 0;
  virtual void Double(std::string_view key, double* value, std::string_view help) = 0;
  virtual void Bool(std::string_view key, bool* value, std::string_view help) = 0;
  virtual void String(std::string_view key, std::string* value, std::string_view help) = 0;
  virtual void IntList(std::string_view key, std::vector<int64_t>* value, std::string_view help) = 0;
};

// Counters a pass reports ("tensors-converted"), printed by --stats.
class PassStatistics {
 public:
  void Add(std::string_view key, int64_t n) { counts_[std::string(key)] += n; }
  const std::map<std::string, int64_t>& counts() const { return counts_; }

 private:
  std::map<std::string, int64_t> counts_;
};

// Everything run-time a pass may use. Grows with the passes that need it (calibration data,
// analyses); passes never reach for globals instead.
struct PassContext {
  PassStatistics* stats = nullptr;  // the current pass's statistics; set by the manager
  // Notes for the user ("untied lm_head from embed_tokens"); printed unless --quiet.
  std::vector<std::string>* notes = nullptr;
  // Calibration statistics (an imatrix) for passes that weight their error by them; null if none.
  const ImportanceMatrix* importance = nullptr;
  // Calibration text as token ids (--calib, tokenized by the caller) for passes that run the model
  // on it (gptq); null if none.
  const std::vector<int32_t>* calibration = nullptr;
  // Whether long passes may draw a progress line on stderr.
  bool show_progress = false;
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string_view Name() const = 0;
  virtual absl::Status Run(Model& model, PassContext& ctx) = 0;
  // Binds the pass's options struct; default: no options.
  virtual void BindOptions(OptionBinder& binder) { (void)binder; }
};

// One registry entry (passes/registry.cc lists them all, explicitly).
struct PassInfo {
  std::string_view name;
  std::string_view summary;
  std::unique_ptr<Pass> (*create)();  // a pass with default options
};

// "name(k=v,...)" with every option in declaration order.
std::string PrintPass(Pass& pass);
// Lists "key  help (default)" lines, for `quantc passes`.
std::vector<std::string> DescribeOptions(Pass& pass);

}  // namespace quantc
