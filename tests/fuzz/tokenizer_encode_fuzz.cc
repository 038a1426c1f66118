// Fuzzes encoding arbitrary bytes with a real tokenizer: the fixture's (tiny-qwen2-bf16: NFC,
// Qwen2's split regex, byte-level BPE, added special tokens), loaded once. Every input is encoded
// with and without special tokens, and ids that come back are decoded again; every id must be
// inside the vocabulary (Decode checks that).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "lib/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

const quantc::tokenizer::Tokenizer& FixtureTokenizer() {
  static const std::unique_ptr<quantc::tokenizer::Tokenizer> tokenizer = [] {
    auto loaded = quantc::tokenizer::Tokenizer::FromFile(std::filesystem::path(QUANTC_TESTDATA_DIR) /
                                                         "tiny-qwen2-bf16" / "tokenizer.json");
    if (!loaded.ok()) std::abort();  // the fixture must load: nothing else is worth fuzzing
    return *std::move(loaded);
  }();
  return *tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const quantc::tokenizer::Tokenizer& tokenizer = FixtureTokenizer();
  for (bool add_special_tokens : {true, false}) {
    auto ids = tokenizer.Encode(quantc::fuzz::AsText(data, size), add_special_tokens);
    if (!ids.ok()) continue;  // invalid UTF-8
    // An id the encoder made that the decoder refuses is a bug.
    if (!tokenizer.Decode(*ids).ok()) std::abort();
    if (!tokenizer.Decode(*ids, /*skip_special_tokens=*/true).ok()) std::abort();
  }
  return 0;
}
