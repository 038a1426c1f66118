// Added tokens (tokenizer.json "added_tokens"), found in the text before it is normalized and
// pre-tokenized, as Hugging Face's tokenizer/added_vocabulary.rs does: tokens with
// normalized=false are matched in the raw text, the others in each normalized remainder; matching
// is leftmost-longest; single_word tokens only match between non-word characters; lstrip/rstrip
// tokens also take the whitespace on their left/right.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/tokenizer/normalizer.h"

namespace quantc::tokenizer {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// A piece of the text: an added token (id >= 0) or text still to tokenize (id == -1).
struct Segment {
  size_t begin = 0;
  size_t end = 0;
  int32_t id = -1;
};

class AddedVocabulary {
 public:
  // `normalizer` gives the form in which normalized tokens are looked for.
  static absl::StatusOr<AddedVocabulary> Create(std::vector<AddedToken> tokens, const Normalizer& normalizer);

  // Cuts `text` into added tokens and the text between them, in order. `normalized` picks the
  // tokens to look for: false in the raw text, true in normalized text.
  std::vector<Segment> Split(std::string_view text, bool normalized) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // A byte trie of the patterns of one kind (raw or normalized).
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
      int32_t token = -1;                                        // index into tokens_
    };
    std::vector<Node> nodes{Node{}};
    bool first_byte[256] = {};
    void Insert(std::string_view pattern, int32_t token);
    // The longest pattern starting at `text[at]`: (token index, length), or token -1.
    std::pair<int32_t, size_t> Longest(std::string_view text, size_t at) const;
  };

  std::vector<AddedToken> tokens_;
  Trie raw_;
  Trie normalized_;
};

}  // namespace quantc::tokenizer
