#include "lib/tokenizer/added_vocabulary.h"

#include <utf8proc.h>

#include <algorithm>

#include "lib/support/status_macros.h"

namespace quantc::tokenizer {
namespace {

// Decodes the code point that ends at `end` (exclusive) in valid UTF-8; sets `begin`.
int32_t CodePointBefore(std::string_view text, size_t end, size_t& begin) {
  begin = end - 1;
  while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
  utf8proc_int32_t c = -1;
  utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + begin),
                   static_cast<utf8proc_ssize_t>(end - begin), &c);
  return c;
}

int32_t CodePointAt(std::string_view text, size_t at, size_t& length) {
  utf8proc_int32_t c = -1;
  utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + at),
                                        static_cast<utf8proc_ssize_t>(text.size() - at), &c);
  length = n > 0 ? static_cast<size_t>(n) : 1;
  return c;
}

// Unicode White_Space (Rust's char::is_whitespace, which Hugging Face's \s means).
bool IsWhitespace(int32_t c) {
  if ((c >= 0x09 && c <= 0x0D) || c == 0x85) return true;
  utf8proc_category_t cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// Unicode \w (UTS #18): letters, marks, decimal and letter numbers, connector punctuation.
bool IsWordChar(int32_t c) {
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return c == 0x200C || c == 0x200D;  // Join_Control
  }
}

}  // namespace

void AddedVocabulary::Trie::Insert(std::string_view pattern, int32_t token) {
  int32_t node = 0;
  for (unsigned char b : pattern) {
    auto& children = nodes[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(b, int32_t{-1}));
    if (it == children.end() || it->first != b) {
      int32_t child = static_cast<int32_t>(nodes.size());
      children.insert(it, {b, child});
      nodes.emplace_back();
      node = child;
    } else {
      node = it->second;
    }
  }
  // On a repeated pattern the later token wins.
  nodes[node].token = token;
  first_byte[static_cast<unsigned char>(pattern[0])] = true;
}

std::pair<int32_t, size_t> AddedVocabulary::Trie::Longest(std::string_view text, size_t at) const {
  std::pair<int32_t, size_t> best{-1, 0};
  int32_t node = 0;
  for (size_t i = at; i < text.size(); ++i) {
    const auto& children = nodes[node].children;
    auto b = static_cast<unsigned char>(text[i]);
    auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(b, int32_t{-1}));
    if (it == children.end() || it->first != b) break;
    node = it->second;
    if (nodes[node].token >= 0) best = {nodes[node].token, i + 1 - at};
  }
  return best;
}

absl::StatusOr<AddedVocabulary> AddedVocabulary::Create(std::vector<AddedToken> tokens,
                                                        const Normalizer& normalizer) {
  AddedVocabulary vocab;
  vocab.tokens_ = std::move(tokens);
  for (size_t i = 0; i < vocab.tokens_.size(); ++i) {
    const AddedToken& token = vocab.tokens_[i];
    if (token.content.empty()) continue;  // never matches (Hugging Face ignores these too)
    if (!token.normalized) {
      vocab.raw_.Insert(token.content, static_cast<int32_t>(i));
      continue;
    }
    QC_ASSIGN_OR_RETURN(std::string pattern, normalizer.Normalize(token.content));
    if (!pattern.empty()) vocab.normalized_.Insert(pattern, static_cast<int32_t>(i));
  }
  return vocab;
}

std::vector<Segment> AddedVocabulary::Split(std::string_view text, bool normalized) const {
  const Trie& trie = normalized ? normalized_ : raw_;
  std::vector<Segment> segments;
  size_t done = 0;  // end of the last segment emitted
  size_t at = 0;
  while (at < text.size()) {
    if (!trie.first_byte[static_cast<unsigned char>(text[at])]) {
      ++at;
      continue;
    }
    auto [index, length] = trie.Longest(text, at);
    if (index < 0) {
      ++at;
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t begin = at, end = at + length;
    at = end;
    if (token.single_word) {
      size_t unused = 0;
      bool word_before = begin > 0 && IsWordChar(CodePointBefore(text, begin, unused));
      bool word_after = end < text.size() && IsWordChar(CodePointAt(text, end, unused));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      while (begin > done) {
        size_t previous = 0;
        if (!IsWhitespace(CodePointBefore(text, begin, previous))) break;
        begin = previous;
      }
    }
    if (token.rstrip) {
      while (end < text.size()) {
        size_t length_after = 0;
        if (!IsWhitespace(CodePointAt(text, end, length_after))) break;
        end += length_after;
      }
      at = end;
    }
    if (done < begin) segments.push_back({done, begin, -1});
    segments.push_back({begin, end, token.id});
    done = end;
  }
  if (done < text.size()) segments.push_back({done, text.size(), -1});
  return segments;
}

}  // namespace quantc::tokenizer
