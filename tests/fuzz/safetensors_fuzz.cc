// Fuzzes the safetensors reader: the header parser and the sharded-index checks.
// Input: "<model.safetensors.index.json>\n--8<--\n<shard>" or just "<shard>". The shard is written
// as model.safetensors, so an index naming it (or a seed without index) reaches a full read; every
// tensor the reader accepts is then streamed, which touches each byte range it validated.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "formats/safetensors/reader.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/stream_tensors.h"

namespace st = quantc::formats::safetensors;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path folder = quantc::fuzz::MakeSubfolder("checkpoint");
  auto parts = quantc::fuzz::SplitParts(quantc::fuzz::AsText(data, size), 2);
  const std::filesystem::path index = folder / st::kIndexFileName;
  if (parts.size() == 2) {
    quantc::fuzz::WriteFile(index, parts[0]);
  } else {
    quantc::fuzz::RemoveFile(index);
  }
  quantc::fuzz::WriteFile(folder / st::kSingleFileName, parts.back());

  absl::StatusOr<st::SafetensorsCheckpoint> checkpoint = st::ReadSafetensorsCheckpoint(folder);
  if (checkpoint.ok()) quantc::fuzz::StreamTensors(checkpoint->tensors);
  return 0;
}
