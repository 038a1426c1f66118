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

absl::Status StreamExactly(const TensorEntry& e, uint64_t expected, std::string_view where,
                           std::string_view quoted_name, ByteSink sink) {
  uint64_t written = 0;
  bool overrun = false;
  absl::Status s = e.source->Stream([&](std::span<const uint8_t> chunk) -> absl::Status {
    if (chunk.size() > expected - written) {
      overrun = true;
      return absl::InternalError("overrun");  // replaced below by a message naming the tensor
    }
    written += chunk.size();
    return sink(chunk);
  });
  if (overrun || (s.ok() && written != expected)) {
    return absl::InternalError(StrCat(where, ": tensor ", quoted_name, ": source ", e.source->Describe(), " produced ",
                                      overrun ? "more than " : "", overrun ? expected : written, " bytes, expected ",
                                      expected, " for ", Name(e.info.dtype), " ", ShapeToString(e.info.shape)));
  }
  if (s.ok()) return s;
  const std::string_view msg(s.message().data(), s.message().size());
  if (msg.starts_with(where)) return absl::Status(s.code(), StrCat("tensor ", quoted_name, ": ", msg));
  return absl::Status(s.code(), StrCat(where, ": tensor ", quoted_name, ": ", msg));
}

}  // namespace quantc
