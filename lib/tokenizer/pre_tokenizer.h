// Pre-tokenization of Hugging Face tokenizers: the steps that cut normalized text into the words
// BPE sees. Supported: "Split" (pre_tokenizers/split.rs; pattern, behaviour, invert) and
// "ByteLevel" (pre_tokenizers/byte_level.rs; optional prefix space, optional GPT-2 regex, then
// every byte spelled as its byte-level character), in any sequence.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/tokenizer/regex.h"

namespace quantc::tokenizer {

// What happens to the delimiters a Split finds (tokenizer/normalizer.rs SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct SplitStep {
  std::unique_ptr<Regex> pattern;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;  // the pattern matches the pieces to keep, not the delimiters
};

struct ByteLevelStep {
  bool add_prefix_space = false;  // prepend ' ' to every piece that does not start with one
  bool use_regex = true;          // split with GPT-2's pattern first
};

class PreTokenizer {
 public:
  using Step = std::variant<SplitStep, ByteLevelStep>;
  // With no steps the whole text is one word.
  static absl::StatusOr<PreTokenizer> Create(std::vector<Step> steps);

  // Appends the words of `text` (valid UTF-8); empty words are dropped.
  absl::Status Run(std::string_view text, std::vector<std::string>& words) const;

 private:
  std::vector<Step> steps_;
  std::unique_ptr<Regex> gpt2_;  // compiled when a ByteLevel step uses it
};

// GPT-2's word pattern (openai/gpt-2 src/encoder.py), which ByteLevel's use_regex applies.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace quantc::tokenizer
