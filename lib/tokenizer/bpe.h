// The BPE model of Hugging Face tokenizers (models/bpe): a word is split into characters, each
// looked up in the vocabulary, then adjacent pairs are merged lowest merge rank first (leftmost
// on ties) until no listed merge applies (Sennrich et al. 2016, "Neural Machine Translation of
// Rare Words with Subword Units"). A priority queue over the word's pairs makes a word
// O(n log n); a bounded cache of whole words makes repeated words one look-up.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace quantc::tokenizer {

struct BpeOptions {
  std::optional<std::string> unk_token;       // stands for characters missing from the vocab
  bool fuse_unk = false;                      // consecutive unknown characters share one unk
  bool byte_fallback = false;                 // unknown characters become <0xXX> byte tokens
  bool ignore_merges = false;                 // a word that is itself in the vocab is one token
  std::string continuing_subword_prefix;      // prepended to every character but the first
  std::string end_of_word_suffix;             // appended to the last character
};

class Bpe {
 public:
  // `merges` in rank order (first = applied first). Every merge's two parts and their
  // concatenation must be in `vocab`.
  static absl::StatusOr<std::unique_ptr<Bpe>> Create(
      std::vector<std::pair<std::string, int32_t>> vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options);

  // Appends the ids of one pre-tokenized word. As in Hugging Face, a character that is missing
  // from the vocabulary, with no unk token and no byte fallback, is dropped.
  void Tokenize(std::string_view word, std::vector<int32_t>& ids) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // nullptr when `id` is not in the vocabulary.
  const std::string* IdToToken(int32_t id) const;
  // One past the largest id in the vocabulary.
  int32_t id_limit() const { return id_limit_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;
  struct MergeResult {
    int32_t rank;
    int32_t id;  // the merged token
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  Bpe(Vocab vocab, BpeOptions options) : vocab_(std::move(vocab)), options_(std::move(options)) {}
  void MergeWord(std::string_view word, std::vector<int32_t>& ids) const;
  // The ids of `word`'s characters before any merge.
  void InitialSymbols(std::string_view word, std::vector<int32_t>& symbols) const;

  Vocab vocab_;
  absl::flat_hash_map<int32_t, const std::string*> id_to_token_;  // keys of vocab_ (stable nodes)
  int32_t id_limit_ = 0;
  absl::flat_hash_map<uint64_t, MergeResult> merges_;
  BpeOptions options_;
  std::optional<int32_t> unk_id_;

  // Word -> ids. Bounded like Hugging Face's (10,000 words of under 256 bytes); once full it is
  // only read. Guarded so that Tokenize stays const and thread-safe.
  static constexpr size_t kCacheCapacity = 10'000;
  static constexpr size_t kCacheMaxWordBytes = 256;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace quantc::tokenizer
