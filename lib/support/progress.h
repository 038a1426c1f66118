// Progress for long work: bytes and tensors done, rate and ETA on one updating stderr line.
// Drawn only when stderr is a terminal and not quieted; otherwise it costs two atomic adds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace quantc {

class Progress {
 public:
  // `label` prefixes the line, e.g. "convert". `enabled` false silences it (e.g. --quiet).
  // The amount is bytes unless `amount_unit` names another unit ("tokens"); items are counted
  // in `items_unit` ("tensors", "windows").
  Progress(std::string label, uint64_t total_bytes, uint64_t total_items, bool enabled,
           std::string amount_unit = "", std::string items_unit = "tensors");
  ~Progress();

  // Thread-safe. Redraws at most ten times a second.
  void Advance(uint64_t bytes, uint64_t items = 0);
  // What is being worked on now, shown at the end of the line ("Q4_K_M.gguf on cpu").
  void SetDetail(std::string detail);
  // Erases the line (if drawn). Called by the destructor too.
  void Finish();

  // True when stderr is a terminal: the default for `enabled`.
  static bool StderrIsTerminal();

 private:
  void Draw(bool force);
  std::string Amount(double amount) const;
  std::string label_, amount_unit_, items_unit_, detail_;
  uint64_t total_bytes_, total_items_;
  bool enabled_;
  bool drawn_ = false;
  std::atomic<uint64_t> bytes_{0}, items_{0};
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::mutex draw_mutex_;
};

}  // namespace quantc
