// Fuzzes the GGUF reader: the input is one .gguf file. What the CLI does with a GGUF model follows
// a successful read (tools/common/model_io.cc, then the runner's checks): the config.json
// equivalent is rebuilt from the metadata and parsed into a model spec, and every tensor is
// streamed, which touches each byte range the reader validated.
#include <cstddef>
#include <cstdint>

#include "formats/gguf/reader.h"
#include "lib/arch/gguf_layout.h"
#include "lib/arch/model_spec.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/stream_tensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Not named <stem>-00001-of-0000N.gguf: split sets are refused without reading siblings.
  static const std::filesystem::path path = quantc::fuzz::ScratchDir::Get() / "model.gguf";
  quantc::fuzz::WriteFile(path, quantc::fuzz::AsText(data, size));
  absl::StatusOr<quantc::Model> model = quantc::formats::gguf::ReadGguf(path);
  if (!model.ok()) return 0;

  quantc::fuzz::StreamTensors(model->tensors.entries());
  absl::StatusOr<nlohmann::ordered_json> config = quantc::arch::HfConfigFromGguf(*model);
  if (!config.ok()) return 0;
  model->config = *std::move(config);
  absl::StatusOr<quantc::arch::ModelSpec> spec = quantc::arch::ParseModelSpec(model->config);
  absl::StatusOr<const quantc::arch::ArchAdapter*> adapter = quantc::arch::AdapterForModel(*model);
  if (spec.ok() && adapter.ok()) (void)(*adapter)->Validate(*spec);
  return 0;
}
