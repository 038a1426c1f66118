// Reads the tokenizer.json schema of Hugging Face tokenizers (tokenizer/serialization.rs and each
// component's serde shape) and tokenizer_config.json's bos/eos settings into TokenizerParts.
// Every key this code does not understand the value of is refused as UNIMPLEMENTED, naming the
// file and the key; malformed JSON or wrongly typed values are DATA_LOSS.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "lib/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace quantc::tokenizer {
namespace {

using Json = nlohmann::json;

// Errors that name the file and the key path ("pre_tokenizer.pretokenizers[1].type").
class Context {
 public:
  explicit Context(std::string_view file) : file_(file) {}
  absl::Status Malformed(std::string_view key, std::string_view what) const {
    return absl::DataLossError(StrCat(file_, ": key '", key, "': ", what));
  }
  absl::Status Unsupported(std::string_view key, std::string_view what) const {
    return absl::UnimplementedError(StrCat(file_, ": key '", key, "': ", what));
  }
  absl::Status Invalid(std::string_view key, std::string_view what) const {
    return absl::InvalidArgumentError(StrCat(file_, ": key '", key, "': ", what));
  }

  // The member `name` of `object`, or nullptr when it is absent.
  static const Json* Find(const Json& object, std::string_view name) {
    auto it = object.find(std::string(name));
    return it == object.end() ? nullptr : &*it;
  }
  absl::StatusOr<std::string> String(const Json& object, std::string_view name, std::string_view key) const {
    const Json* v = Find(object, name);
    if (v == nullptr || !v->is_string()) return Malformed(key, "expected a string");
    return v->get<std::string>();
  }
  // An optional boolean: `fallback` when absent or null.
  absl::StatusOr<bool> Bool(const Json& object, std::string_view name, std::string_view key, bool fallback) const {
    const Json* v = Find(object, name);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_boolean()) return Malformed(key, "expected true or false");
    return v->get<bool>();
  }
  static std::optional<int32_t> AsId(const Json& value) {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() >= INT32_MAX) {
      return std::nullopt;
    }
    return static_cast<int32_t>(value.get<int64_t>());
  }
  absl::StatusOr<int32_t> Id(const Json& value, std::string_view key) const {
    std::optional<int32_t> id = AsId(value);
    if (!id) return Malformed(key, StrCat("expected a token id, got ", value.dump()));
    return *id;
  }
  // The "type" of a component object.
  absl::StatusOr<std::string> Type(const Json& component, std::string_view key) const {
    if (!component.is_object()) return Malformed(key, "expected an object");
    return String(component, "type", StrCat(key, ".type"));
  }

 private:
  std::string file_;
};

std::string Join(std::string_view a, std::string_view b) { return StrCat(a, ".", b); }
std::string Index(std::string_view a, size_t i) { return StrCat(a, "[", i, "]"); }

absl::Status ParseNormalizer(const Context& ctx, const Json& json, std::string_view key,
                             std::vector<NormalForm>& forms) {
  if (json.is_null()) return absl::OkStatus();
  QC_ASSIGN_OR_RETURN(std::string type, ctx.Type(json, key));
  if (type == "NFC") forms.push_back(NormalForm::kNFC);
  else if (type == "NFD") forms.push_back(NormalForm::kNFD);
  else if (type == "NFKC") forms.push_back(NormalForm::kNFKC);
  else if (type == "NFKD") forms.push_back(NormalForm::kNFKD);
  else if (type == "Sequence") {
    const Json* list = Context::Find(json, "normalizers");
    std::string list_key = Join(key, "normalizers");
    if (list == nullptr || !list->is_array()) return ctx.Malformed(list_key, "expected a list");
    for (size_t i = 0; i < list->size(); ++i) {
      QC_RETURN_IF_ERROR(ParseNormalizer(ctx, (*list)[i], Index(list_key, i), forms));
    }
  } else {
    return ctx.Unsupported(Join(key, "type"),
                           StrCat("normalizer '", type, "' is not supported (NFC, NFD, NFKC, NFKD, Sequence)"));
  }
  return absl::OkStatus();
}

absl::Status ParsePreTokenizer(const Context& ctx, const Json& json, std::string_view key,
                               std::vector<PreTokenizer::Step>& steps) {
  if (json.is_null()) return absl::OkStatus();
  QC_ASSIGN_OR_RETURN(std::string type, ctx.Type(json, key));
  if (type == "Sequence") {
    const Json* list = Context::Find(json, "pretokenizers");
    std::string list_key = Join(key, "pretokenizers");
    if (list == nullptr || !list->is_array()) return ctx.Malformed(list_key, "expected a list");
    for (size_t i = 0; i < list->size(); ++i) {
      QC_RETURN_IF_ERROR(ParsePreTokenizer(ctx, (*list)[i], Index(list_key, i), steps));
    }
    return absl::OkStatus();
  }
  if (type == "ByteLevel") {
    ByteLevelStep step;
    // Hugging Face's ByteLevel defaults: add_prefix_space true, use_regex true.
    QC_ASSIGN_OR_RETURN(step.add_prefix_space,
                        ctx.Bool(json, "add_prefix_space", Join(key, "add_prefix_space"), true));
    QC_ASSIGN_OR_RETURN(step.use_regex, ctx.Bool(json, "use_regex", Join(key, "use_regex"), true));
    steps.push_back(std::move(step));
    return absl::OkStatus();
  }
  if (type == "Split") {
    SplitStep step;
    std::string pattern_key = Join(key, "pattern");
    const Json* pattern = Context::Find(json, "pattern");
    if (pattern == nullptr || !pattern->is_object() || pattern->size() != 1) {
      return ctx.Malformed(pattern_key, "expected {\"Regex\": ...} or {\"String\": ...}");
    }
    bool literal = pattern->contains("String");
    if (!literal && !pattern->contains("Regex")) {
      return ctx.Unsupported(pattern_key, StrCat("pattern ", pattern->dump(), " is not supported (Regex, String)"));
    }
    QC_ASSIGN_OR_RETURN(std::string text, ctx.String(*pattern, literal ? "String" : "Regex",
                                                     Join(pattern_key, literal ? "String" : "Regex")));
    auto regex = Regex::Compile(text, literal);
    if (!regex.ok()) return ctx.Unsupported(pattern_key, std::string(regex.status().message()));
    step.pattern = *std::move(regex);
    QC_ASSIGN_OR_RETURN(std::string behavior, ctx.String(json, "behavior", Join(key, "behavior")));
    if (behavior == "Isolated") step.behavior = SplitBehavior::kIsolated;
    else if (behavior == "Removed") step.behavior = SplitBehavior::kRemoved;
    else if (behavior == "MergedWithPrevious") step.behavior = SplitBehavior::kMergedWithPrevious;
    else if (behavior == "MergedWithNext") step.behavior = SplitBehavior::kMergedWithNext;
    else if (behavior == "Contiguous") step.behavior = SplitBehavior::kContiguous;
    else return ctx.Unsupported(Join(key, "behavior"), StrCat("split behavior '", behavior, "' is not supported"));
    QC_ASSIGN_OR_RETURN(step.invert, ctx.Bool(json, "invert", Join(key, "invert"), false));
    steps.push_back(std::move(step));
    return absl::OkStatus();
  }
  return ctx.Unsupported(Join(key, "type"),
                         StrCat("pre-tokenizer '", type, "' is not supported (Split, ByteLevel, Sequence)"));
}

absl::StatusOr<std::unique_ptr<Bpe>> ParseModel(const Context& ctx, const Json& json) {
  QC_ASSIGN_OR_RETURN(std::string type, ctx.Type(json, "model"));
  if (type != "BPE") return ctx.Unsupported("model.type", StrCat("model '", type, "' is not supported (BPE)"));
  if (const Json* dropout = Context::Find(json, "dropout"); dropout != nullptr && !dropout->is_null() &&
                                                            !(dropout->is_number() && dropout->get<double>() == 0)) {
    return ctx.Unsupported("model.dropout", StrCat("BPE dropout ", dropout->dump(), " is not supported"));
  }
  BpeOptions options;
  if (const Json* unk = Context::Find(json, "unk_token"); unk != nullptr && !unk->is_null()) {
    if (!unk->is_string()) return ctx.Malformed("model.unk_token", "expected a string or null");
    options.unk_token = unk->get<std::string>();
  }
  for (auto [name, target] : {std::pair{"continuing_subword_prefix", &options.continuing_subword_prefix},
                              std::pair{"end_of_word_suffix", &options.end_of_word_suffix}}) {
    const Json* v = Context::Find(json, name);
    if (v == nullptr || v->is_null()) continue;
    if (!v->is_string()) return ctx.Malformed(Join("model", name), "expected a string or null");
    *target = v->get<std::string>();
  }
  QC_ASSIGN_OR_RETURN(options.fuse_unk, ctx.Bool(json, "fuse_unk", "model.fuse_unk", false));
  QC_ASSIGN_OR_RETURN(options.byte_fallback, ctx.Bool(json, "byte_fallback", "model.byte_fallback", false));
  QC_ASSIGN_OR_RETURN(options.ignore_merges, ctx.Bool(json, "ignore_merges", "model.ignore_merges", false));

  const Json* vocab_json = Context::Find(json, "vocab");
  if (vocab_json == nullptr || !vocab_json->is_object()) return ctx.Malformed("model.vocab", "expected an object");
  std::vector<std::pair<std::string, int32_t>> vocab;
  vocab.reserve(vocab_json->size());
  for (auto it = vocab_json->begin(); it != vocab_json->end(); ++it) {
    std::optional<int32_t> id = Context::AsId(it.value());
    if (!id) return ctx.Malformed(StrCat("model.vocab.", it.key()), StrCat("expected a token id, got ", it.value().dump()));
    vocab.emplace_back(it.key(), *id);
  }

  // Merges are "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20).
  const Json* merges_json = Context::Find(json, "merges");
  std::vector<std::pair<std::string, std::string>> merges;
  if (merges_json != nullptr && !merges_json->is_null()) {
    if (!merges_json->is_array()) return ctx.Malformed("model.merges", "expected a list");
    merges.reserve(merges_json->size());
    for (size_t i = 0; i < merges_json->size(); ++i) {
      const Json& m = (*merges_json)[i];
      if (m.is_string()) {
        const std::string& s = m.get_ref<const std::string&>();
        size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          return ctx.Malformed(Index("model.merges", i), StrCat("expected \"a b\", got '", s, "'"));
        }
        merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        return ctx.Malformed(Index("model.merges", i), StrCat("expected \"a b\" or [a, b], got ", m.dump()));
      }
    }
  }
  auto bpe = Bpe::Create(std::move(vocab), merges, std::move(options));
  if (!bpe.ok()) return ctx.Malformed("model", std::string(bpe.status().message()));
  return bpe;
}

absl::Status ParseAddedTokens(const Context& ctx, const Json* json, std::vector<AddedToken>& tokens) {
  if (json == nullptr || json->is_null()) return absl::OkStatus();
  if (!json->is_array()) return ctx.Malformed("added_tokens", "expected a list");
  for (size_t i = 0; i < json->size(); ++i) {
    const Json& t = (*json)[i];
    std::string key = Index("added_tokens", i);
    if (!t.is_object()) return ctx.Malformed(key, "expected an object");
    AddedToken token;
    const Json* id = Context::Find(t, "id");
    if (id == nullptr) return ctx.Malformed(Join(key, "id"), "missing");
    QC_ASSIGN_OR_RETURN(token.id, ctx.Id(*id, Join(key, "id")));
    QC_ASSIGN_OR_RETURN(token.content, ctx.String(t, "content", Join(key, "content")));
    QC_ASSIGN_OR_RETURN(token.special, ctx.Bool(t, "special", Join(key, "special"), false));
    QC_ASSIGN_OR_RETURN(token.single_word, ctx.Bool(t, "single_word", Join(key, "single_word"), false));
    QC_ASSIGN_OR_RETURN(token.lstrip, ctx.Bool(t, "lstrip", Join(key, "lstrip"), false));
    QC_ASSIGN_OR_RETURN(token.rstrip, ctx.Bool(t, "rstrip", Join(key, "rstrip"), false));
    QC_ASSIGN_OR_RETURN(token.normalized, ctx.Bool(t, "normalized", Join(key, "normalized"), !token.special));
    tokens.push_back(std::move(token));
  }
  return absl::OkStatus();
}

// Returns whether a TemplateProcessing was found (it then decides the special tokens alone).
absl::StatusOr<bool> ParsePostProcessor(const Context& ctx, const Json& json, std::string_view key,
                                        TokenizerParts& parts) {
  if (json.is_null()) return false;
  QC_ASSIGN_OR_RETURN(std::string type, ctx.Type(json, key));
  if (type == "ByteLevel") return false;  // only trims offsets, which Encode does not return
  if (type == "Sequence") {
    const Json* list = Context::Find(json, "processors");
    std::string list_key = Join(key, "processors");
    if (list == nullptr || !list->is_array()) return ctx.Malformed(list_key, "expected a list");
    bool template_found = false;
    for (size_t i = 0; i < list->size(); ++i) {
      QC_ASSIGN_OR_RETURN(bool found, ParsePostProcessor(ctx, (*list)[i], Index(list_key, i), parts));
      template_found = template_found || found;
    }
    return template_found;
  }
  if (type != "TemplateProcessing") {
    return ctx.Unsupported(Join(key, "type"), StrCat("post-processor '", type,
                                                     "' is not supported (ByteLevel, TemplateProcessing, Sequence)"));
  }
  std::string single_key = Join(key, "single");
  const Json* single = Context::Find(json, "single");
  const Json* specials = Context::Find(json, "special_tokens");
  if (single == nullptr || !single->is_array()) return ctx.Malformed(single_key, "expected a list");
  // A later processor wraps what the earlier ones produced.
  std::vector<int32_t> before, after;
  bool seen_sequence = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const Json& piece = (*single)[i];
    std::string piece_key = Index(single_key, i);
    if (piece.is_object() && piece.contains("Sequence")) {
      QC_ASSIGN_OR_RETURN(std::string which, ctx.String(piece["Sequence"], "id", Join(piece_key, "Sequence.id")));
      if (which != "A" || seen_sequence) {
        return ctx.Unsupported(piece_key, "a single-sequence template must hold sequence A exactly once");
      }
      seen_sequence = true;
      continue;
    }
    if (!piece.is_object() || !piece.contains("SpecialToken")) {
      return ctx.Unsupported(piece_key, StrCat("template piece ", piece.dump(), " is not supported"));
    }
    QC_ASSIGN_OR_RETURN(std::string name, ctx.String(piece["SpecialToken"], "id", Join(piece_key, "SpecialToken.id")));
    std::string special_key = StrCat(key, ".special_tokens.", name);
    const Json* special = specials != nullptr && specials->is_object() ? Context::Find(*specials, name) : nullptr;
    const Json* ids = special != nullptr && special->is_object() ? Context::Find(*special, "ids") : nullptr;
    if (ids == nullptr || !ids->is_array()) return ctx.Malformed(Join(special_key, "ids"), "expected a list of ids");
    for (size_t j = 0; j < ids->size(); ++j) {
      QC_ASSIGN_OR_RETURN(int32_t id, ctx.Id((*ids)[j], Index(Join(special_key, "ids"), j)));
      (seen_sequence ? after : before).push_back(id);
    }
  }
  if (!seen_sequence) return ctx.Unsupported(single_key, "template has no sequence A");
  parts.prefix_ids.insert(parts.prefix_ids.begin(), before.begin(), before.end());
  parts.suffix_ids.insert(parts.suffix_ids.end(), after.begin(), after.end());
  return true;
}

absl::Status ParseDecoder(const Context& ctx, const Json& json, TokenizerParts& parts) {
  if (json.is_null()) return absl::OkStatus();
  QC_ASSIGN_OR_RETURN(std::string type, ctx.Type(json, "decoder"));
  if (type != "ByteLevel") {
    return ctx.Unsupported("decoder.type", StrCat("decoder '", type, "' is not supported (ByteLevel)"));
  }
  parts.byte_level_decoder = true;
  return absl::OkStatus();
}

absl::StatusOr<Json> ParseObject(std::string_view text, std::string_view file) {
  QC_RETURN_IF_ERROR(CheckJsonNesting(text, file));
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::DataLossError(StrCat(file, ": not valid JSON"));
  if (!json.is_object()) return absl::DataLossError(StrCat(file, ": expected a JSON object"));
  return json;
}

// bos_token/eos_token in tokenizer_config.json: a string, {"content": ...} or null.
absl::StatusOr<std::optional<std::string>> ConfigToken(const Context& ctx, const Json& config, std::string_view name) {
  const Json* v = Context::Find(config, name);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_object()) {
    QC_ASSIGN_OR_RETURN(std::string content, ctx.String(*v, "content", Join(name, "content")));
    return content;
  }
  return ctx.Malformed(name, "expected a string, {\"content\": ...} or null");
}

absl::StatusOr<TokenizerParts> Parse(std::string_view tokenizer_json, std::string_view config_json,
                                     std::string_view source, std::string_view config_source) {
  Context ctx(source);
  QC_ASSIGN_OR_RETURN(Json json, ParseObject(tokenizer_json, source));
  TokenizerParts parts;
  QC_RETURN_IF_ERROR(ParseAddedTokens(ctx, Context::Find(json, "added_tokens"), parts.added_tokens));

  std::vector<NormalForm> forms;
  if (const Json* n = Context::Find(json, "normalizer")) QC_RETURN_IF_ERROR(ParseNormalizer(ctx, *n, "normalizer", forms));
  parts.normalizer = Normalizer(std::move(forms));

  std::vector<PreTokenizer::Step> steps;
  if (const Json* p = Context::Find(json, "pre_tokenizer")) {
    QC_RETURN_IF_ERROR(ParsePreTokenizer(ctx, *p, "pre_tokenizer", steps));
  }
  QC_ASSIGN_OR_RETURN(parts.pre_tokenizer, PreTokenizer::Create(std::move(steps)));

  const Json* model = Context::Find(json, "model");
  if (model == nullptr) return ctx.Malformed("model", "missing");
  QC_ASSIGN_OR_RETURN(parts.model, ParseModel(ctx, *model));
  if (const Json* d = Context::Find(json, "decoder")) QC_RETURN_IF_ERROR(ParseDecoder(ctx, *d, parts));
  bool has_template = false;
  if (const Json* p = Context::Find(json, "post_processor")) {
    QC_ASSIGN_OR_RETURN(has_template, ParsePostProcessor(ctx, *p, "post_processor", parts));
  }
  // "truncation" and "padding" are left alone, as transformers does unless asked to truncate or pad.

  if (config_json.empty()) return parts;
  Context config_ctx(config_source);
  QC_ASSIGN_OR_RETURN(Json config, ParseObject(config_json, config_source));
  auto id_of = [&](const std::string& token) -> std::optional<int32_t> {
    for (const AddedToken& t : parts.added_tokens) {
      if (t.content == token) return t.id;
    }
    return parts.model->TokenToId(token);
  };
  std::optional<int32_t>* ids[] = {&parts.bos_id, &parts.eos_id};
  const char* names[] = {"bos_token", "eos_token"};
  for (int i = 0; i < 2; ++i) {
    QC_ASSIGN_OR_RETURN(std::optional<std::string> token, ConfigToken(config_ctx, config, names[i]));
    if (!token) continue;
    *ids[i] = id_of(*token);
    if (!*ids[i]) return config_ctx.Invalid(names[i], StrCat("token '", *token, "' is not in the vocabulary"));
  }
  // Without a TemplateProcessing, add_bos_token/add_eos_token say what Encode adds (as
  // transformers' Llama tokenizers build their template from them).
  QC_ASSIGN_OR_RETURN(bool add_bos, config_ctx.Bool(config, "add_bos_token", "add_bos_token", false));
  QC_ASSIGN_OR_RETURN(bool add_eos, config_ctx.Bool(config, "add_eos_token", "add_eos_token", false));
  if (!has_template) {
    if (add_bos && !parts.bos_id) return config_ctx.Invalid("add_bos_token", "is true but there is no bos_token");
    if (add_eos && !parts.eos_id) return config_ctx.Invalid("add_eos_token", "is true but there is no eos_token");
    if (add_bos) parts.prefix_ids.insert(parts.prefix_ids.begin(), *parts.bos_id);
    if (add_eos) parts.suffix_ids.push_back(*parts.eos_id);
  }
  return parts;
}

}  // namespace

absl::StatusOr<TokenizerParts> ParseTokenizerJson(std::string_view tokenizer_json, std::string_view config_json,
                                                  std::string_view source, std::string_view config_source) {
  // The checks above keep nlohmann from throwing; this catch keeps the promise if one was missed.
  try {
    return Parse(tokenizer_json, config_json, source, config_source);
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(StrCat(source, ": ", e.what()));
  }
}

}  // namespace quantc::tokenizer
