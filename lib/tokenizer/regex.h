// A compiled PCRE2 pattern (8-bit, UTF + UCP, JIT when available) that lists every match in a
// string. Hugging Face tokenizers compiles its Split and ByteLevel patterns with Oniguruma; PCRE2
// with PCRE2_UCP gives the same Unicode meaning to \p{L}, \p{N}, \s and \w, and supports the
// (?i:...) groups and (?!\S) lookaheads those patterns use.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct pcre2_real_code_8;

namespace quantc::tokenizer {

// [begin, end) byte offsets of one match.
struct Match {
  size_t begin = 0;
  size_t end = 0;
};

class Regex {
 public:
  // `literal`: the pattern is a plain string to find, not a regular expression (HF's
  // {"String": ...} split patterns).
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(std::string_view pattern, bool literal = false);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Every non-overlapping match in `text`, left to right. `text` must be valid UTF-8 (the caller
  // checked it once; PCRE2 does not re-check). As in Oniguruma's find_iter, an empty match right
  // after the previous match is skipped and the search moves on one character.
  absl::Status FindAll(std::string_view text, std::vector<Match>& matches) const;

 private:
  explicit Regex(pcre2_real_code_8* code) : code_(code) {}
  pcre2_real_code_8* code_;
};

}  // namespace quantc::tokenizer
