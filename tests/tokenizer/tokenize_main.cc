// tokenize_main TOKENIZER_JSON TEXT_FILE [--no-special]
// Prints the ids quantc's tokenizer gives TEXT_FILE as one JSON array, for the comparison with
// transformers.js (tools/validators/check_tokenizer_ids.py); the encode time goes to stderr.
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "lib/support/file_util.h"
#include "lib/tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4 || (argc == 4 && std::string_view(argv[3]) != "--no-special")) {
    std::fprintf(stderr, "usage: %s TOKENIZER_JSON TEXT_FILE [--no-special]\n", argv[0]);
    return 2;
  }
  auto tokenizer = quantc::tokenizer::Tokenizer::FromFile(argv[1]);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", tokenizer.status().ToString().c_str());
    return 1;
  }
  auto text = quantc::ReadFileToString(argv[2]);
  if (!text.ok()) {
    std::fprintf(stderr, "%s\n", text.status().ToString().c_str());
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  auto ids = (*tokenizer)->Encode(*text, /*add_special_tokens=*/argc == 3);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!ids.ok()) {
    std::fprintf(stderr, "%s\n", ids.status().ToString().c_str());
    return 1;
  }
  std::string out = "[";
  for (size_t i = 0; i < ids->size(); ++i) {
    if (i != 0) out += ',';
    out += std::to_string((*ids)[i]);
  }
  out += "]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fprintf(stderr, "tokenize_main: %zu bytes -> %zu ids in %.3f s\n", text->size(), ids->size(), seconds);
  return 0;
}
