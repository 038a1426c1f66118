// A Hugging Face `tokenizer.json` byte-level BPE tokenizer (GPT-2, Qwen2, Llama-3 and DeepSeek
// families), encoding and decoding as the `tokenizers` library does:
//   added tokens -> normalizer (NFC...) -> pre-tokenizer (Split regex, ByteLevel) -> BPE merges
//   -> post-processor (TemplateProcessing, or add_bos_token from tokenizer_config.json),
// and back through the ByteLevel decoder. Configurations outside that set are refused with
// UNIMPLEMENTED naming the file and the JSON key. Regexes run on PCRE2, normalization on utf8proc.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/tokenizer/added_vocabulary.h"
#include "lib/tokenizer/bpe.h"
#include "lib/tokenizer/normalizer.h"
#include "lib/tokenizer/pre_tokenizer.h"

namespace quantc::tokenizer {

// Everything a tokenizer.json (+ tokenizer_config.json) describes, parsed and checked.
struct TokenizerParts {
  std::vector<AddedToken> added_tokens;
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  std::unique_ptr<Bpe> model;
  bool byte_level_decoder = false;    // else tokens are joined with ' ' (no decoder)
  std::vector<int32_t> prefix_ids;    // added around the ids when add_special_tokens
  std::vector<int32_t> suffix_ids;
  std::optional<int32_t> bos_id;
  std::optional<int32_t> eos_id;
};

class Tokenizer {
 public:
  // Reads `tokenizer_json` and, when present, tokenizer_config.json beside it (bos/eos tokens,
  // add_bos_token/add_eos_token).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::filesystem::path& tokenizer_json);
  // The same from the files' contents; `config_json` may be empty (no tokenizer_config.json).
  // `source` and `config_source` name the two files in error messages.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(
      std::string_view tokenizer_json, std::string_view config_json = {},
      std::string_view source = "tokenizer.json", std::string_view config_source = "tokenizer_config.json");

  // `text` must be valid UTF-8 (else INVALID_ARGUMENT). Added and special tokens in the text are
  // always recognised; `add_special_tokens` only controls what the post-processor adds.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text, bool add_special_tokens = true) const;
  // An id outside the vocabulary is OUT_OF_RANGE. Invalid UTF-8 from partial byte sequences
  // becomes U+FFFD, as in Hugging Face.
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // One past the largest id, added tokens included (Hugging Face's get_vocab_size(true)).
  int32_t vocab_size() const { return vocab_size_; }
  std::optional<int32_t> TokenId(std::string_view token) const;
  std::optional<int32_t> bos_id() const { return parts_.bos_id; }
  std::optional<int32_t> eos_id() const { return parts_.eos_id; }

 private:
  Tokenizer(TokenizerParts parts, AddedVocabulary added);

  TokenizerParts parts_;
  AddedVocabulary added_;
  std::unordered_map<int32_t, size_t> added_by_id_;  // id -> index in added_.tokens()
  int32_t vocab_size_ = 0;
};

// Parses and checks the two files' contents (see Tokenizer::FromJson); tokenizer_json.cc.
absl::StatusOr<TokenizerParts> ParseTokenizerJson(std::string_view tokenizer_json, std::string_view config_json,
                                                  std::string_view source, std::string_view config_source);

}  // namespace quantc::tokenizer
