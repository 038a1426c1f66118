#include "lib/support/progress.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"
#include "lib/support/file_util.h"

namespace quantc {

Progress::Progress(std::string label, uint64_t total_bytes, uint64_t total_items, bool enabled,
                   std::string amount_unit, std::string items_unit)
    : label_(std::move(label)),
      amount_unit_(std::move(amount_unit)),
      items_unit_(std::move(items_unit)),
      total_bytes_(total_bytes),
      total_items_(total_items),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { Finish(); }

bool Progress::StderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

void Progress::Advance(uint64_t bytes, uint64_t items) {
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
  items_.fetch_add(items, std::memory_order_relaxed);
  if (enabled_) Draw(false);
}

void Progress::Draw(bool force) {
  std::unique_lock<std::mutex> lock(draw_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  auto now = std::chrono::steady_clock::now();
  // The first call draws at once, so a run shows it is alive; later ones at most 10 times a second.
  if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  uint64_t done = bytes_.load(), items = items_.load();
  double rate = secs > 0 ? done / secs : 0;
  std::string eta = "--";
  if (rate > 0 && total_bytes_ > done) {
    int s = static_cast<int>((total_bytes_ - done) / rate);
    eta = absl::StrFormat("%d:%02d", s / 60, s % 60);
  }
  double pct = total_bytes_ ? 100.0 * done / total_bytes_ : 100.0;
  std::string line = absl::StrFormat("\r%s: %5.1f%%  %s / %s  %s %d/%d  %s/s  ETA %s%s%s\x1b[K", label_, pct, Amount(done),
                                     Amount(total_bytes_), items_unit_, items, total_items_, Amount(rate), eta,
                                     detail_.empty() ? "" : "  ", detail_);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::SetDetail(std::string detail) {
  {
    std::lock_guard<std::mutex> lock(draw_mutex_);
    detail_ = std::move(detail);
  }
  if (enabled_) Draw(false);
}

std::string Progress::Amount(double amount) const {
  return amount_unit_.empty() ? FormatBytes(amount) : absl::StrFormat("%.0f %s", amount, amount_unit_);
}

void Progress::Finish() {
  std::lock_guard<std::mutex> lock(draw_mutex_);
  if (drawn_) {
    std::fputs("\r\x1b[K", stderr);
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace quantc
