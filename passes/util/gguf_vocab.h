// The tokenizer.* keys of a GGUF file for a byte-level BPE tokenizer (Qwen2, Llama-3, DeepSeek-V3),
// from the checkpoint's tokenizer.json and tokenizer_config.json as llama.cpp's converter writes
// them (conversion/base.py get_vocab_base / _set_vocab_gpt2, gguf-py SpecialVocab;
// /work/shared/specs/gguf-llamacpp.md §2 "tokenizer.ggml.*").
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/metadata.h"
#include "nlohmann/json.hpp"

namespace quantc::passes {

// `folder` holds tokenizer.json (required) and tokenizer_config.json (optional); `config` is the
// model's config.json (fallback special ids). vocab_size: token_embd's rows; ids past the
// tokenizer's vocabulary become "[PAD<id>]" (type unused).
absl::StatusOr<Metadata> GgufTokenizerMetadata(const std::filesystem::path& folder, const nlohmann::ordered_json& config,
                                               int64_t vocab_size);

// The inverse, for running a GGUF file without its original tokenizer files: a tokenizer.json
// (BPE vocabulary, merges, the pre-tokenizer llama.cpp's `tokenizer.ggml.pre` names, added tokens
// from the control/user-defined token types) and a tokenizer_config.json (bos/eos, add_bos/eos),
// as strings for tokenizer::Tokenizer::FromJson. The GGUF does not record the normalizer: NFC is
// assumed for "qwen2" (Qwen2's tokenizers use it), none for the others.
struct TokenizerFiles {
  std::string tokenizer_json, tokenizer_config_json;
};
absl::StatusOr<TokenizerFiles> TokenizerFilesFromGguf(const Metadata& metadata, std::string_view source);

// llama.cpp's pre-tokenizer name for the Split regexes of a tokenizer.json pre_tokenizer, in order
// ("qwen2", "llama-bpe", "deepseek-v3"); nullopt for regexes quantc has no name for.
std::optional<std::string> GgufPreTokenizerName(const std::vector<std::string>& split_regexes);

}  // namespace quantc::passes
