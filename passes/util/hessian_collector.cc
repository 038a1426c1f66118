#include "passes/util/hessian_collector.h"

#include <chrono>

namespace quantc::passes {

void HessianCollector::Start(std::set<std::string> tensors) {
  tensors_ = std::move(tensors);
  slot_of_.clear();
  slots_.clear();
  originals_.clear();
  last_original_.reset();
  last_ = Last();
}

void HessianCollector::Observe(const std::string& tensor, int64_t expert, const float* x, int64_t n, int64_t cols) {
  if (!tensors_.contains(tensor) || n <= 0) return;
  const auto start = std::chrono::steady_clock::now();
  const auto key = std::make_pair(tensor, expert);
  auto it = slot_of_.find(key);
  if (it == slot_of_.end()) {
    const bool same_input = last_.call == call_ && last_.x == x && last_.n == n && last_.expert == expert &&
                            slots_[last_.slot]->hessian.cols() == cols;
    size_t slot = last_.slot;
    if (!same_input) {
      slot = slots_.size();
      slots_.push_back(std::make_unique<Slot>(Slot{kernels::gptq::HessianAccumulator(cols)}));
    }
    it = slot_of_.emplace(key, slot).first;
  }
  Slot& s = *slots_[it->second];
  if (s.last_call != call_ || s.last_x != x) {
    s.hessian.Add(x, n);
    auto original = originals_.find(tensor);
    if (expert < 0 && original != originals_.end() && original->second->call + 1 == call_ &&
        original->second->copy.size() == static_cast<size_t>(n * cols)) {
      if (!s.cross) s.cross.emplace(cols);
      s.cross->Add(original->second->copy.data(), x, n);
    }
    s.last_call = call_;
    s.last_x = x;
  }
  last_ = Last{call_, x, n, expert, it->second};
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void HessianCollector::ObserveOriginal(const std::string& tensor, const float* x0, int64_t n, int64_t cols) {
  if (!tensors_.contains(tensor) || n <= 0) return;
  const size_t size = static_cast<size_t>(n * cols);
  if (last_original_ == nullptr || last_original_->call != call_ || last_original_->x0 != x0 ||
      last_original_->copy.size() != size) {
    last_original_ = std::make_shared<const Original>(Original{call_, x0, std::vector<float>(x0, x0 + size)});
  }
  originals_[tensor] = last_original_;
}

std::vector<float> HessianCollector::FindCross(const std::string& tensor) const {
  auto it = slot_of_.find(std::make_pair(tensor, int64_t{-1}));
  if (it == slot_of_.end()) return {};
  const Slot& s = *slots_[it->second];
  if (!s.cross || s.cross->samples() != s.hessian.samples()) return {};
  return s.cross->Finish();
}

const kernels::gptq::HessianAccumulator* HessianCollector::Find(const std::string& tensor, int64_t expert) const {
  auto it = slot_of_.find(std::make_pair(tensor, expert));
  if (it == slot_of_.end()) return nullptr;
  const kernels::gptq::HessianAccumulator& h = slots_[it->second]->hessian;
  return h.samples() > 0 ? &h : nullptr;
}

}  // namespace quantc::passes
