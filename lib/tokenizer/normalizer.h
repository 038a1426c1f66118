// Unicode normalization of the text between added tokens (Hugging Face tokenizers "NFC", "NFD",
// "NFKC", "NFKD" normalizers and "Sequence"s of them), done by utf8proc.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace quantc::tokenizer {

enum class NormalForm { kNFC, kNFD, kNFKC, kNFKD };

// Applies its forms in order; with none it is the identity.
class Normalizer {
 public:
  Normalizer() = default;
  explicit Normalizer(std::vector<NormalForm> forms) : forms_(std::move(forms)) {}

  bool empty() const { return forms_.empty(); }
  // `text` must be valid UTF-8.
  absl::StatusOr<std::string> Normalize(std::string_view text) const;

 private:
  std::vector<NormalForm> forms_;
};

// Whether `text` is well-formed UTF-8 (checked with utf8proc).
bool IsValidUtf8(std::string_view text);

}  // namespace quantc::tokenizer
