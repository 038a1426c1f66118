#include "lib/tokenizer/bpe.h"

#include <algorithm>
#include <cstdint>
#include <queue>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "lib/support/strings.h"

namespace quantc::tokenizer {
namespace {

size_t Utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Bpe>> Bpe::Create(
    std::vector<std::pair<std::string, int32_t>> vocab,
    const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options) {
  Vocab map;
  map.reserve(vocab.size());
  for (auto& [token, id] : vocab) {
    if (id < 0 || id == INT32_MAX) {
      return absl::InvalidArgumentError(StrCat("vocab token '", token, "' has id ", id));
    }
    map.insert_or_assign(std::move(token), id);  // a repeated token keeps its last id
  }
  std::unique_ptr<Bpe> bpe(new Bpe(std::move(map), std::move(options)));
  bpe->id_to_token_.reserve(bpe->vocab_.size());
  for (const auto& [token, id] : bpe->vocab_) {
    bpe->id_to_token_[id] = &token;
    bpe->id_limit_ = std::max(bpe->id_limit_, id + 1);
  }

  const std::string& prefix = bpe->options_.continuing_subword_prefix;
  bpe->merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto left = bpe->TokenToId(a), right = bpe->TokenToId(b);
    // The right part's continuing-subword prefix is not repeated inside the merged token.
    std::string_view b_tail = b;
    if (!prefix.empty() && b_tail.starts_with(prefix)) b_tail.remove_prefix(prefix.size());
    std::string merged = StrCat(a, b_tail);
    auto result = bpe->TokenToId(merged);
    if (!left || !right || !result) {
      std::string_view missing = !left ? std::string_view(a) : !right ? std::string_view(b) : merged;
      return absl::InvalidArgumentError(
          StrCat("merge ", rank, " ('", a, "' '", b, "'): token '", missing, "' is not in the vocab"));
    }
    // A repeated merge takes its last rank, as in Hugging Face's map.
    bpe->merges_.insert_or_assign(PairKey(*left, *right),
                                  MergeResult{static_cast<int32_t>(rank), *result});
  }

  if (bpe->options_.unk_token) {
    bpe->unk_id_ = bpe->TokenToId(*bpe->options_.unk_token);
    if (!bpe->unk_id_) {
      return absl::InvalidArgumentError(
          StrCat("unk_token '", *bpe->options_.unk_token, "' is not in the vocab"));
    }
  }
  return bpe;
}

std::optional<int32_t> Bpe::TokenToId(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* Bpe::IdToToken(int32_t id) const {
  auto it = id_to_token_.find(id);
  return it == id_to_token_.end() ? nullptr : it->second;
}

void Bpe::Tokenize(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = TokenToId(word)) {
      ids.push_back(*id);
      return;
    }
  }
  bool cacheable = word.size() < kCacheMaxWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t first = ids.size();
  MergeWord(word, ids);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity) {
      cache_.try_emplace(std::string(word), ids.begin() + first, ids.end());
    }
  }
}

void Bpe::InitialSymbols(std::string_view word, std::vector<int32_t>& symbols) const {
  const bool affixes = !options_.continuing_subword_prefix.empty() || !options_.end_of_word_suffix.empty();
  bool pending_unk = false;  // an unk not yet pushed, which following unknown characters may join
  std::string buffer;
  for (size_t i = 0; i < word.size();) {
    size_t length = std::min(Utf8Length(static_cast<unsigned char>(word[i])), word.size() - i);
    std::string_view piece = word.substr(i, length);
    if (affixes) {
      buffer.clear();
      if (i != 0) buffer += options_.continuing_subword_prefix;
      buffer += piece;
      if (i + length == word.size()) buffer += options_.end_of_word_suffix;
      piece = buffer;
    }
    i += length;
    if (auto id = TokenToId(piece)) {
      if (pending_unk) symbols.push_back(*unk_id_), pending_unk = false;
      symbols.push_back(*id);
      continue;
    }
    if (options_.byte_fallback) {
      std::vector<int32_t> bytes;
      for (unsigned char b : piece) {
        auto id = TokenToId(fmt::format("<0x{:02X}>", b));
        if (!id) break;
        bytes.push_back(*id);
      }
      if (bytes.size() == piece.size()) {
        if (pending_unk) symbols.push_back(*unk_id_), pending_unk = false;
        symbols.insert(symbols.end(), bytes.begin(), bytes.end());
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk && !options_.fuse_unk) symbols.push_back(*unk_id_);
      pending_unk = true;
    }
    // Otherwise the character is dropped (Hugging Face BPE::merge_word does the same).
  }
  if (pending_unk) symbols.push_back(*unk_id_);
}

void Bpe::MergeWord(std::string_view word, std::vector<int32_t>& ids) const {
  std::vector<int32_t> initial;
  initial.reserve(word.size());
  InitialSymbols(word, initial);

  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  std::vector<Symbol> symbols(initial.size());
  for (size_t i = 0; i < initial.size(); ++i) {
    symbols[i] = {initial[i], static_cast<int32_t>(i) - 1,
                  i + 1 < initial.size() ? static_cast<int32_t>(i + 1) : -1, true};
  }
  // Candidate merges, lowest rank first, then leftmost.
  struct Candidate {
    int32_t rank;
    int32_t pos;     // left symbol
    int32_t result;  // merged id, to recognise entries whose pair has changed since
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int32_t pos) {
    int32_t next = symbols[pos].next;
    if (next < 0) return;
    auto it = merges_.find(PairKey(symbols[pos].id, symbols[next].id));
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i);

  while (!queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    auto it = merges_.find(PairKey(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.id != top.result) continue;  // stale entry
    Symbol& right = symbols[left.next];
    left.id = top.result;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
  for (const Symbol& s : symbols) {
    if (s.alive) ids.push_back(s.id);
  }
}

}  // namespace quantc::tokenizer
