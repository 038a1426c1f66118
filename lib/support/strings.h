// String helpers for std::string_view. StrCat for messages, accepting std::string_view. Debian 12's Abseil (20220623) is built with its
// own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), which std::string_view does not
// convert to, so absl::StrCat rejects the std::string_view our C++20 code passes everywhere.
// Numbers are formatted by fmt (shortest round-trip form).
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <vector>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"
#include "fmt/format.h"

namespace quantc {
namespace internal_str_cat {

inline void Append(std::string& out, std::string_view s) { out.append(s); }
inline void Append(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
inline void Append(std::string& out, const char* s) { out.append(s); }
inline void Append(std::string& out, const std::string& s) { out.append(s); }
inline void Append(std::string& out, char c) { out.push_back(c); }
template <typename T>
  requires std::is_arithmetic_v<T> && (!std::is_same_v<T, char>)
void Append(std::string& out, T value) {
  if constexpr (std::is_same_v<T, bool>) out.append(value ? "true" : "false");
  else fmt::format_to(std::back_inserter(out), "{}", value);
}

}  // namespace internal_str_cat

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (internal_str_cat::Append(out, args), ...);
  return out;
}

// The same gap rules out absl::StripAsciiWhitespace, StrSplit and SimpleAto* on std::string_view;
// these are their std-based counterparts.
inline std::string_view StripWhitespace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}
inline std::vector<std::string_view> SplitOn(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t at = s.find(sep, start);
    parts.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}
// "a, b, c" from any range of string-like items.
template <typename Range>
std::string StrJoin(const Range& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out.append(sep);
    internal_str_cat::Append(out, item);
  }
  return out;
}
// Whole-string parses: nullopt unless all of `s` is the number.
template <typename T>
std::optional<T> ParseNumber(std::string_view s) {
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return value;
}
inline std::optional<bool> ParseBool(std::string_view s) {
  if (s == "true" || s == "1") return true;
  if (s == "false" || s == "0") return false;
  return std::nullopt;
}

}  // namespace quantc
