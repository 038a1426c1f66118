#include "lib/ir/model.h"

#include "lib/support/strings.h"
#include "absl/strings/str_join.h"

namespace quantc {

absl::Status TensorTable::Add(TensorEntry entry) {
  auto [it, inserted] = index_.try_emplace(entry.name, entries_.size());
  if (!inserted) return absl::AlreadyExistsError(StrCat("duplicate tensor '", entry.name, "'"));
  entries_.push_back(std::move(entry));
  return absl::OkStatus();
}

const TensorEntry* TensorTable::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

TensorEntry* TensorTable::FindMutable(std::string_view name) {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

size_t TensorTable::RemoveIf(absl::FunctionRef<bool(const TensorEntry&)> pred) {
  size_t before = entries_.size();
  std::erase_if(entries_, [&](const TensorEntry& e) { return pred(e); });
  if (entries_.size() != before) RebuildIndex();
  return before - entries_.size();
}

void TensorTable::RebuildIndex() {
  index_.clear();
  for (size_t i = 0; i < entries_.size(); ++i) index_[entries_[i].name] = i;
}

uint64_t TensorTable::TotalBytes() const {
  uint64_t total = 0;
  for (const auto& e : entries_) total += e.info.byte_size();
  return total;
}

std::string Model::model_type() const {
  auto it = config.find("model_type");
  return it != config.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Model::PipelineText() const { return absl::StrJoin(pipeline, ","); }

}  // namespace quantc
