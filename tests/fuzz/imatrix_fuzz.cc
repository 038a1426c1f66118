// Fuzzes the importance-matrix reader (llama-imatrix's GGUF): the input is the .gguf file.
#include <cstddef>
#include <cstdint>

#include "formats/gguf/imatrix.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path path = quantc::fuzz::ScratchDir::Get() / "imatrix.gguf";
  quantc::fuzz::WriteFile(path, quantc::fuzz::AsText(data, size));
  (void)quantc::formats::gguf::ReadImatrix(path);
  return 0;
}
