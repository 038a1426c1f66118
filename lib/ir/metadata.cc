#include "lib/ir/metadata.h"

#include <algorithm>

#include "fmt/core.h"
#include "fmt/format.h"

namespace quantc {

std::string_view MetaTypeName(MetaType t) {
  switch (t) {
    case MetaType::kU8: return "u8";
    case MetaType::kI8: return "i8";
    case MetaType::kU16: return "u16";
    case MetaType::kI16: return "i16";
    case MetaType::kU32: return "u32";
    case MetaType::kI32: return "i32";
    case MetaType::kF32: return "f32";
    case MetaType::kBool: return "bool";
    case MetaType::kString: return "string";
    case MetaType::kArray: return "array";
    case MetaType::kU64: return "u64";
    case MetaType::kI64: return "i64";
    case MetaType::kF64: return "f64";
  }
  return "invalid";
}

size_t MetaValue::size() const {
  return std::visit([](const auto& v) { return v.size(); }, elements);
}

std::string MetaValue::DebugString(size_t max_elements) const {
  std::string out(MetaTypeName(type));
  if (is_array) out += fmt::format("[{}]", size());
  out += ' ';
  std::visit(
      [&](const auto& v) {
        if (is_array) out += '[';
        for (size_t i = 0; i < v.size() && i < max_elements; ++i) {
          if (i) out += ", ";
          using T = std::decay_t<decltype(v[0])>;
          if constexpr (std::is_same_v<T, std::string>) {
            out += v[i].size() > 60 ? fmt::format("\"{}...\"", v[i].substr(0, 60)) : fmt::format("\"{}\"", v[i]);
          } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) {
            out += fmt::format("{}", static_cast<int>(v[i]));
          } else {
            out += fmt::format("{}", static_cast<T>(v[i]));
          }
        }
        if (is_array) out += v.size() > max_elements ? ", ...]" : "]";
      },
      elements);
  return out;
}

void Metadata::Set(std::string key, MetaValue value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

const MetaValue* Metadata::Find(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool Metadata::Erase(std::string_view key) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == key; });
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

}  // namespace quantc
