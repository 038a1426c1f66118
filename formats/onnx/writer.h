// Writes one of a model's dataflow graphs (model.graphs, after a lowering pass such as onnx-decoder)
// as an ONNX ModelProto with its weights in external data (onnx-targets.md §1, §6.2):
//   IR version 10, the graph's opset imports ("" 21 and com.microsoft 1 for the decoders);
//   the table's tensors that the graph reads are its initializers, in table order; tensors up to
//   `inline_max_bytes` stay inside the .onnx as raw_data, the rest go to external data files at
//   4096-aligned offsets, so loaders can map them and models over the 2 GB protobuf limit work;
//   by default the data files are named as transformers.js expects: "<file>.onnx_data", then
//   "_data_1", "_data_2" ... when a file would pass `max_data_file_bytes` (browsers fetch each into
//   one ArrayBuffer). Several graphs can share one data file set (ExternalDataWriter): a tensor
//   already written there is referenced, not written again (the NPU pipeline's context and
//   iterator models share their weights).
// Tensor bytes stream from their sources straight to the data file; nothing holds the weights.
// The files are created new (never overwritten) inside the caller's staging folder; a failure
// leaves them for the caller's AtomicOutput to remove. Sub-byte data is packed as ONNX packs it
// (element 2i in the low nibble), which is how quantc's F4 is stored already.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/support/file_util.h"
#include "lib/support/progress.h"

namespace quantc::formats::onnx {

// External data files "<first>", "<first>_1", ... written tensor by tensor at aligned offsets;
// remembers where each tensor went, so later graphs can reference it.
class ExternalDataWriter {
 public:
  struct Location {
    std::string file;  // file name, relative to the .onnx files' folder
    uint64_t offset = 0, length = 0;
  };
  ExternalDataWriter(std::filesystem::path first_file, uint64_t max_file_bytes);
  ~ExternalDataWriter();
  // Streams `e` (exactly `bytes`), or returns where an earlier call put the tensor of that name.
  absl::StatusOr<Location> Write(const TensorEntry& e, uint64_t bytes, std::string_view where, Progress* progress);
  absl::Status Close();
  const std::vector<std::filesystem::path>& files() const { return files_; }

 private:
  std::filesystem::path first_;
  uint64_t max_file_bytes_;
  std::unique_ptr<OutputFile> file_;
  std::vector<std::filesystem::path> files_;
  std::map<std::string, Location> written_;
};

struct OnnxWriteOptions {
  uint64_t inline_max_bytes = 1024;               // at most this many bytes: raw_data in the .onnx
  uint64_t max_data_file_bytes = 2'000'000'000;   // a new data file before passing this
  std::string producer_name = "quantc";
  std::string producer_version;
  Progress* progress = nullptr;  // Advance(bytes) as tensor data is written, Advance(0, 1) per tensor
  // Shared data files (owned by the caller, closed by it); null: "<file>_data" files of this graph.
  ExternalDataWriter* shared_data = nullptr;
};

struct OnnxWriteResult {
  std::vector<std::filesystem::path> data_files;  // in order: <file>_data, <file>_data_1, ...
};

// Writes `graph` (one of model.graphs) and the tensors it reads to `path` (a new .onnx file) and
// its data files beside it. INVALID_ARGUMENT, naming the file and the node, tensor or value, when
// the graph is empty, reads a name that nothing defines, or holds a dtype ONNX cannot spell;
// INTERNAL when a source yields the wrong number of bytes.
absl::StatusOr<OnnxWriteResult> WriteOnnx(const Model& model, const Graph& graph, const std::filesystem::path& path,
                                          const OnnxWriteOptions& options);

// ONNX's TensorProto.DataType number for a dtype; 0 (UNDEFINED) when ONNX has none (ggml blocks).
int OnnxDataType(DType dtype);

}  // namespace quantc::formats::onnx
