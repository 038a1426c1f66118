// Fuzzes the GGUF vocabulary a conversion to GGUF reads from the model folder
// (passes/util/gguf_vocab.h: tokenizer.json and tokenizer_config.json read a second time, raw, for
// llama.cpp's token list, types, merges and special ids). The input is
//   "<tokenizer.json>"  or  "<tokenizer.json>\n--8<--\n<tokenizer_config.json>"
// (tokenizer_json_fuzz's format, so its seeds serve here too).
#include <cstddef>
#include <cstdint>

#include "passes/util/gguf_vocab.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path folder = quantc::fuzz::MakeSubfolder("gguf_vocab");
  auto parts = quantc::fuzz::SplitParts(quantc::fuzz::AsText(data, size), 2);
  quantc::fuzz::WriteFile(folder / "tokenizer.json", parts[0]);
  if (parts.size() == 2) {
    quantc::fuzz::WriteFile(folder / "tokenizer_config.json", parts[1]);
  } else {
    quantc::fuzz::RemoveFile(folder / "tokenizer_config.json");
  }
  // config.json's special ids are the fallback when tokenizer_config.json names none.
  const nlohmann::ordered_json config = {{"bos_token_id", 1}, {"eos_token_id", 2}};
  (void)quantc::passes::GgufTokenizerMetadata(folder, config, /*vocab_size=*/512);
  return 0;
}
