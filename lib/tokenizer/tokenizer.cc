#include "lib/tokenizer/tokenizer.h"

#include <algorithm>
#include <system_error>
#include <utility>

#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "lib/tokenizer/byte_level.h"

namespace quantc::tokenizer {

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::filesystem::path& tokenizer_json) {
  QC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(tokenizer_json));
  std::filesystem::path config_path = tokenizer_json.parent_path() / "tokenizer_config.json";
  std::string config;
  std::error_code ec;
  if (std::filesystem::exists(config_path, ec)) {
    QC_ASSIGN_OR_RETURN(config, ReadFileToString(config_path));
    if (config.empty()) return absl::DataLossError(StrCat(config_path.string(), ": empty file"));
  }
  return FromJson(text, config, tokenizer_json.string(), config_path.string());
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view tokenizer_json,
                                                               std::string_view config_json,
                                                               std::string_view source,
                                                               std::string_view config_source) {
  QC_ASSIGN_OR_RETURN(TokenizerParts parts,
                      ParseTokenizerJson(tokenizer_json, config_json, source, config_source));
  auto added = AddedVocabulary::Create(parts.added_tokens, parts.normalizer);
  if (!added.ok()) {
    return absl::DataLossError(StrCat(source, ": key 'added_tokens': ", added.status().message()));
  }
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer(std::move(parts), *std::move(added)));
  for (const auto* ids : {&tokenizer->parts_.prefix_ids, &tokenizer->parts_.suffix_ids}) {
    for (int32_t id : *ids) {
      if (!tokenizer->added_by_id_.contains(id) && tokenizer->parts_.model->IdToToken(id) == nullptr) {
        return absl::DataLossError(StrCat(source, ": key 'post_processor': special token id ", id,
                                          " is not in the vocabulary"));
      }
    }
  }
  return tokenizer;
}

Tokenizer::Tokenizer(TokenizerParts parts, AddedVocabulary added)
    : parts_(std::move(parts)), added_(std::move(added)) {
  vocab_size_ = parts_.model->id_limit();
  const std::vector<AddedToken>& tokens = added_.tokens();
  for (size_t i = 0; i < tokens.size(); ++i) {
    added_by_id_[tokens[i].id] = i;  // a repeated id keeps its last token
    vocab_size_ = std::max(vocab_size_, tokens[i].id + 1);
  }
}

std::optional<int32_t> Tokenizer::TokenId(std::string_view token) const {
  for (const AddedToken& t : added_.tokens()) {
    if (t.content == token) return t.id;
  }
  return parts_.model->TokenToId(token);
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  if (!IsValidUtf8(text)) return absl::InvalidArgumentError("Encode: text is not valid UTF-8");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + parts_.prefix_ids.size() + parts_.suffix_ids.size());
  if (add_special_tokens) ids.insert(ids.end(), parts_.prefix_ids.begin(), parts_.prefix_ids.end());
  std::vector<std::string> words;
  // Order as in Hugging Face's encode: added tokens in the raw text, then normalization of what is
  // between them, then added tokens in the normalized text, then pre-tokenization and the model.
  for (const Segment& raw : added_.Split(text, /*normalized=*/false)) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    QC_ASSIGN_OR_RETURN(std::string normalized,
                        parts_.normalizer.Normalize(text.substr(raw.begin, raw.end - raw.begin)));
    for (const Segment& piece : added_.Split(normalized, /*normalized=*/true)) {
      if (piece.id >= 0) {
        ids.push_back(piece.id);
        continue;
      }
      words.clear();
      QC_RETURN_IF_ERROR(parts_.pre_tokenizer.Run(
          std::string_view(normalized).substr(piece.begin, piece.end - piece.begin), words));
      for (const std::string& word : words) parts_.model->Tokenize(word, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), parts_.suffix_ids.begin(), parts_.suffix_ids.end());
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  bool first = true;
  for (int32_t id : ids) {
    const std::string* token = nullptr;
    if (auto it = added_by_id_.find(id); it != added_by_id_.end()) {
      const AddedToken& added = added_.tokens()[it->second];
      if (skip_special_tokens && added.special) continue;
      token = &added.content;
    } else {
      token = parts_.model->IdToToken(id);
    }
    if (token == nullptr) {
      return absl::OutOfRangeError(StrCat("Decode: id ", id, " is not in the vocabulary (size ", vocab_size_, ")"));
    }
    if (parts_.byte_level_decoder) {
      AppendFromByteLevel(*token, bytes);
    } else {
      // With no decoder Hugging Face joins the tokens with spaces.
      if (!first) bytes.push_back(' ');
      bytes.append(*token);
    }
    first = false;
  }
  return Utf8Lossy(bytes);
}

}  // namespace quantc::tokenizer
