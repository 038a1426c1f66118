#include "lib/tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "lib/support/strings.h"

namespace quantc::tokenizer {
namespace {

bool IsAscii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

utf8proc_option_t OptionsFor(NormalForm form) {
  switch (form) {
    case NormalForm::kNFC: return static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    case NormalForm::kNFD: return static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
    case NormalForm::kNFKC:
      return static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    case NormalForm::kNFKD:
      return static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  }
  return UTF8PROC_STABLE;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    utf8proc_int32_t c = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(text.size() - i), &c);
    if (n <= 0 || c < 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

absl::StatusOr<std::string> Normalizer::Normalize(std::string_view text) const {
  std::string current(text);
  // Every form maps ASCII to itself.
  if (forms_.empty() || IsAscii(current)) return current;
  for (NormalForm form : forms_) {
    utf8proc_uint8_t* mapped = nullptr;
    utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(current.data()),
                                      static_cast<utf8proc_ssize_t>(current.size()), &mapped,
                                      OptionsFor(form));
    std::unique_ptr<utf8proc_uint8_t, void (*)(void*)> owned(mapped, &std::free);
    if (n < 0) {
      return absl::InvalidArgumentError(
          StrCat("cannot normalize text: ", utf8proc_errmsg(n)));
    }
    current.assign(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
  }
  return current;
}

}  // namespace quantc::tokenizer
