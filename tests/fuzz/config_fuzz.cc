// Fuzzes config.json as the CLI reads it: ReadHfFolder parses it (with the nesting bound), the
// runner parses it into a model spec and has the architecture's adapter check it, the GGUF writer
// maps it to llama.cpp's keys, and the HF writer dumps it back. The input is config.json; the
// folder's weights are a fixed empty model.safetensors (a header of "{}").
#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/hf/hf_folder.h"
#include "lib/arch/gguf_layout.h"
#include "lib/arch/model_spec.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

std::filesystem::path MakeCheckpointFolder() {
  std::filesystem::path folder = quantc::fuzz::MakeSubfolder("checkpoint");
  // u64 header length 8, then the header "{}" padded with spaces to 8 bytes, then no data.
  quantc::fuzz::WriteFile(folder / "model.safetensors", std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  return folder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path folder = MakeCheckpointFolder();
  quantc::fuzz::WriteFile(folder / "config.json", quantc::fuzz::AsText(data, size));
  absl::StatusOr<quantc::Model> model = quantc::formats::ReadHfFolder(folder);
  if (!model.ok()) return 0;

  (void)model->config.dump(2);  // WriteHfFolder's serialization
  absl::StatusOr<quantc::arch::ModelSpec> spec = quantc::arch::ParseModelSpec(model->config);
  absl::StatusOr<const quantc::arch::ArchAdapter*> adapter = quantc::arch::AdapterForModel(*model);
  if (!spec.ok() || !adapter.ok() || !(*adapter)->Validate(*spec).ok()) return 0;
  (void)quantc::arch::GgufArchMetadata(*spec, model->config);
  return 0;
}
