// Fuzzes tokenizer loading and encoding together: the input is
//   "<tokenizer.json>\n--8<--\n<text>"  or  "<tokenizer.json>\n--8<--\n<tokenizer_config.json>\n--8<--\n<text>"
// (a lone part is tokenizer.json with no text). A tokenizer that loads encodes the text with and
// without special tokens and decodes the ids back, since a hostile file can only do harm there.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = quantc::fuzz::SplitParts(quantc::fuzz::AsText(data, size), 3);
  std::string_view json = parts[0];
  std::string_view config = parts.size() == 3 ? parts[1] : std::string_view();
  std::string_view text = parts.size() > 1 ? parts.back() : std::string_view();

  auto tokenizer = quantc::tokenizer::Tokenizer::FromJson(json, config);
  if (!tokenizer.ok()) return 0;
  for (bool add_special_tokens : {true, false}) {
    auto ids = (*tokenizer)->Encode(text, add_special_tokens);
    if (!ids.ok()) continue;
    (void)(*tokenizer)->Decode(*ids, /*skip_special_tokens=*/false);
    (void)(*tokenizer)->Decode(*ids, /*skip_special_tokens=*/true);
  }
  return 0;
}
