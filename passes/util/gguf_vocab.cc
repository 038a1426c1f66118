#include "passes/util/gguf_vocab.h"

#include <unordered_map>

#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::passes {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// Token types (llama.cpp llama_token_type / gguf TokenType).
constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

// The Split pre-tokenizer regexes llama.cpp names (tokenizer.json spellings). Qwen2 splits digits
// one by one; Llama-3 takes up to three; DeepSeek-V3 chains three Splits.
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kDeepseekV3Regexes[] = {
    R"(\p{N}{1,3})",
    R"([一-龥぀-ゟ゠-ヿ]+)",
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
};

// A side file of the model folder: bounded in size and nesting before parsing (file_util.h).
absl::StatusOr<Json> ReadJson(const fs::path& file) {
  QC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(file));
  QC_RETURN_IF_ERROR(CheckJsonNesting(text, file.string()));
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(StrCat(file.string(), ": not valid JSON"));
  return j;
}

// obj[key] when obj is an object holding a string there, else "".
std::string StringAt(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

void CollectSplitRegexes(const Json& pre, std::vector<std::string>& out) {
  if (!pre.is_object()) return;
  const std::string type = StringAt(pre, "type");
  if (type == "Sequence" && pre.contains("pretokenizers") && pre["pretokenizers"].is_array()) {
    for (const Json& p : pre["pretokenizers"]) CollectSplitRegexes(p, out);
  } else if (type == "Split" && pre.contains("pattern")) {
    // An unreadable pattern is kept as "" so the list no longer matches any known pre-tokenizer.
    out.push_back(StringAt(pre["pattern"], "Regex"));
  }
}

// The converter marks added tokens that look like control tokens CONTROL even when not flagged special.
bool LooksSpecial(const std::string& t) {
  auto wrapped = [&](std::string_view open, std::string_view close) {
    return t.size() >= open.size() + close.size() && t.starts_with(open) && t.ends_with(close);
  };
  return wrapped("<|", "|>") || wrapped("<｜", "｜>") || t == "<pad>" || t == "<mask>";
}

// A merge as llama.cpp stores it: "left right"; spaces inside a part become U+0120 (space + 256).
absl::StatusOr<std::string> MergeText(const Json& m, std::string_view where) {
  if (m.is_string()) return m.get<std::string>();
  if (!m.is_array() || m.size() != 2 || !m[0].is_string() || !m[1].is_string()) {
    return absl::InvalidArgumentError(StrCat(where, ": a merge is neither \"a b\" nor [\"a\", \"b\"]: ", m.dump()));
  }
  std::string out;
  for (size_t i = 0; i < m.size(); ++i) {
    if (i) out += ' ';
    for (char c : m[i].get<std::string>()) {
      if (c == ' ') out += "\xC4\xA0";  // U+0120 in UTF-8
      else out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> GgufPreTokenizerName(const std::vector<std::string>& r) {
  if (r.size() == 1 && r[0] == kQwen2Regex) return "qwen2";
  if (r.size() == 1 && r[0] == kLlama3Regex) return "llama-bpe";
  if (r.size() == std::size(kDeepseekV3Regexes) && std::equal(r.begin(), r.end(), std::begin(kDeepseekV3Regexes))) {
    return "deepseek-v3";
  }
  return std::nullopt;
}

namespace {

absl::StatusOr<Metadata> TokenizerMetadata(const fs::path& folder, const Json& config, int64_t vocab_size) {
  const fs::path tokenizer_file = folder / "tokenizer.json";
  QC_ASSIGN_OR_RETURN(Json tok, ReadJson(tokenizer_file));
  Json tok_config = Json::object();
  if (fs::exists(folder / "tokenizer_config.json")) {
    QC_ASSIGN_OR_RETURN(tok_config, ReadJson(folder / "tokenizer_config.json"));
  }
  const std::string where = tokenizer_file.string();
  if (!tok.is_object() || !tok.contains("model") || StringAt(tok["model"], "type") != "BPE" ||
      !tok["model"].contains("vocab") || !tok["model"]["vocab"].is_object()) {
    return absl::UnimplementedError(StrCat(where, ": key 'model' is not a BPE model (only byte-level BPE is supported)"));
  }
  std::vector<std::string> regexes;
  if (tok.contains("pre_tokenizer")) CollectSplitRegexes(tok["pre_tokenizer"], regexes);
  std::optional<std::string> pre = GgufPreTokenizerName(regexes);
  if (!pre) {
    return absl::UnimplementedError(StrCat(where, ": key 'pre_tokenizer' has a split regex llama.cpp knows under no name "
                                                  "quantc maps (qwen2, llama-bpe, deepseek-v3)"));
  }

  // Tokens by id: the BPE vocabulary, then added tokens (which may override or extend it).
  std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
  std::vector<int32_t> types(static_cast<size_t>(vocab_size), kUnused);
  std::vector<bool> present(static_cast<size_t>(vocab_size), false);
  for (const auto& [text, id_json] : tok["model"]["vocab"].items()) {
    if (!id_json.is_number_integer()) {
      return absl::InvalidArgumentError(StrCat(where, ": token '", text, "' has id ", id_json.dump(), ", not an integer"));
    }
    const int64_t id = id_json.get<int64_t>();
    if (id < 0 || id >= vocab_size) {
      return absl::InvalidArgumentError(StrCat(where, ": token '", text, "' has id ", id, " past the model's vocabulary (",
                                               vocab_size, ")"));
    }
    tokens[id] = text;
    types[id] = kNormal;
    present[id] = true;
  }
  std::unordered_map<std::string, int64_t> added_ids;
  if (tok.contains("added_tokens") && tok["added_tokens"].is_array()) {
    for (const Json& a : tok["added_tokens"]) {
      const auto id_it = a.is_object() ? a.find("id") : a.end();
      const int64_t id = id_it != a.end() && id_it->is_number_integer() ? id_it->get<int64_t>() : -1;
      const std::string text = StringAt(a, "content");
      if (id < 0 || id >= vocab_size) {
        return absl::InvalidArgumentError(StrCat(where, ": added token '", text, "' has id ", id, " past the vocabulary"));
      }
      added_ids.emplace(text, id);
      tokens[id] = text;
      const auto special = a.find("special");
      types[id] = (special != a.end() && special->is_boolean() && special->get<bool>()) || LooksSpecial(text)
                      ? kControl
                      : kUserDefined;
      present[id] = true;
    }
  }
  for (int64_t i = 0; i < vocab_size; ++i) {
    if (!present[i]) tokens[i] = StrCat("[PAD", i, "]");
  }
  std::vector<std::string> merges;
  if (tok["model"].contains("merges") && tok["model"]["merges"].is_array()) {
    for (const Json& m : tok["model"]["merges"]) {
      QC_ASSIGN_OR_RETURN(std::string merge, MergeText(m, where));
      merges.push_back(std::move(merge));
    }
  }

  Metadata md;
  md.Set("tokenizer.ggml.model", MetaValue::String("gpt2"));
  md.Set("tokenizer.ggml.pre", MetaValue::String(*pre));
  md.Set("tokenizer.ggml.tokens", MetaValue::StringArray(std::move(tokens)));
  md.Set("tokenizer.ggml.token_type", MetaValue::I32Array(std::move(types)));
  md.Set("tokenizer.ggml.merges", MetaValue::StringArray(std::move(merges)));
  // Special ids: tokenizer_config's token strings first, config.json's *_token_id as fallback.
  // Key spellings are llama.cpp's (gguf-py constants.py, "seperator" included).
  struct Special { std::string_view kind, key; };
  constexpr Special kSpecials[] = {{"bos", "bos_token_id"},     {"eos", "eos_token_id"},
                                   {"unk", "unknown_token_id"}, {"sep", "seperator_token_id"},
                                   {"pad", "padding_token_id"}, {"mask", "mask_token_id"}};
  for (const Special& s : kSpecials) {
    std::optional<int64_t> id;
    if (auto it = tok_config.find(StrCat(s.kind, "_token")); it != tok_config.end()) {
      const std::string text = it->is_string() ? it->get<std::string>() : StringAt(*it, "content");
      if (auto a = added_ids.find(text); !text.empty() && a != added_ids.end()) id = a->second;
    }
    if (!id) {
      if (auto it = config.find(StrCat(s.kind, "_token_id")); it != config.end() && it->is_number_integer()) {
        id = it->get<int64_t>();
      }
    }
    if (id && *id >= 0 && *id < vocab_size) md.Set(StrCat("tokenizer.ggml.", s.key), MetaValue::U32(static_cast<uint32_t>(*id)));
  }
  for (std::string_view kind : {"bos", "eos"}) {
    if (auto it = tok_config.find(StrCat("add_", kind, "_token")); it != tok_config.end() && it->is_boolean()) {
      md.Set(StrCat("tokenizer.ggml.add_", kind, "_token"), MetaValue::Bool(it->get<bool>()));
    }
  }
  if (auto it = tok_config.find("chat_template"); it != tok_config.end() && it->is_string()) {
    md.Set("tokenizer.chat_template", MetaValue::String(it->get<std::string>()));
  } else if (fs::exists(folder / "chat_template.jinja")) {
    QC_ASSIGN_OR_RETURN(std::string chat_template, ReadFileToString(folder / "chat_template.jinja"));
    md.Set("tokenizer.chat_template", MetaValue::String(std::move(chat_template)));
  }
  return md;
}

}  // namespace

absl::StatusOr<Metadata> GgufTokenizerMetadata(const fs::path& folder, const Json& config, int64_t vocab_size) {
  // The checks above keep nlohmann from throwing on a hostile file; this keeps the promise (an
  // error, never an exception out of the library) if one was missed.
  try {
    return TokenizerMetadata(folder, config, vocab_size);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(StrCat((folder / "tokenizer.json").string(), ": ", e.what()));
  }
}

absl::StatusOr<TokenizerFiles> TokenizerFilesFromGguf(const Metadata& md, std::string_view source) {
  auto missing = [&](std::string_view key) {
    return absl::InvalidArgumentError(StrCat(source, ": key '", key, "' is missing or of the wrong type"));
  };
  const MetaValue* model = md.Find("tokenizer.ggml.model");
  if (model == nullptr || model->Get<std::string>() != "gpt2") {
    return absl::UnimplementedError(StrCat(source, ": key 'tokenizer.ggml.model' is not \"gpt2\" (byte-level BPE)"));
  }
  const MetaValue* pre_value = md.Find("tokenizer.ggml.pre");
  const std::string pre = pre_value ? pre_value->Get<std::string>().value_or("") : "";
  const MetaValue* tokens_value = md.Find("tokenizer.ggml.tokens");
  const MetaValue* types_value = md.Find("tokenizer.ggml.token_type");
  const MetaValue* merges_value = md.Find("tokenizer.ggml.merges");
  const auto* tokens = tokens_value ? tokens_value->GetArray<std::string>() : nullptr;
  const auto* types = types_value ? types_value->GetArray<int32_t>() : nullptr;
  const auto* merges = merges_value ? merges_value->GetArray<std::string>() : nullptr;
  if (tokens == nullptr) return missing("tokenizer.ggml.tokens");
  if (types == nullptr || types->size() != tokens->size()) return missing("tokenizer.ggml.token_type");
  if (merges == nullptr) return missing("tokenizer.ggml.merges");

  Json pre_tokenizers = Json::array();
  if (pre == "qwen2" || pre == "llama-bpe") {
    pre_tokenizers.push_back({{"type", "Split"},
                              {"pattern", {{"Regex", std::string(pre == "qwen2" ? kQwen2Regex : kLlama3Regex)}}},
                              {"behavior", "Isolated"},
                              {"invert", false}});
  } else if (pre == "deepseek-v3") {
    for (std::string_view r : kDeepseekV3Regexes) {
      pre_tokenizers.push_back({{"type", "Split"}, {"pattern", {{"Regex", std::string(r)}}}, {"behavior", "Isolated"}, {"invert", false}});
    }
  } else {
    return absl::UnimplementedError(StrCat(source, ": key 'tokenizer.ggml.pre' is '", pre,
                                           "'; quantc knows qwen2, llama-bpe and deepseek-v3"));
  }
  pre_tokenizers.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}});

  Json vocab = Json::object();
  Json added = Json::array();
  for (size_t id = 0; id < tokens->size(); ++id) {
    const int32_t type = (*types)[id];
    if (type == kUnused) continue;
    if (type == kControl || type == kUserDefined) {
      added.push_back({{"id", id}, {"content", (*tokens)[id]}, {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", false}, {"special", type == kControl}});
    } else {
      vocab[(*tokens)[id]] = id;
    }
  }
  Json tok = {{"version", "1.0"},
              {"added_tokens", added},
              {"normalizer", pre == "qwen2" ? Json{{"type", "NFC"}} : Json()},
              {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", pre_tokenizers}}},
              {"post_processor", nullptr},
              {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
              {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"fuse_unk", false},
                         {"byte_fallback", false}, {"vocab", vocab}, {"merges", *merges}}}};
  Json config = Json::object();
  auto token_of = [&](std::string_view key) -> std::optional<std::string> {
    const MetaValue* v = md.Find(StrCat("tokenizer.ggml.", key));
    std::optional<uint32_t> id = v ? v->Get<uint32_t>() : std::nullopt;
    if (!id || *id >= tokens->size()) return std::nullopt;
    return (*tokens)[*id];
  };
  if (auto t = token_of("bos_token_id")) config["bos_token"] = *t;
  if (auto t = token_of("eos_token_id")) config["eos_token"] = *t;
  for (std::string_view kind : {"bos", "eos"}) {
    const MetaValue* v = md.Find(StrCat("tokenizer.ggml.add_", kind, "_token"));
    if (v != nullptr && v->Get<bool>()) config[StrCat("add_", kind, "_token")] = *v->Get<bool>();
  }
  return TokenizerFiles{tok.dump(), config.dump()};
}

}  // namespace quantc::passes
