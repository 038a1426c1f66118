// Writes a model's dataflow graph (model.graph, after a lowering pass such as onnx-decoder) as an
// ONNX ModelProto with its weights in external data (onnx-targets.md §1, §6.2):
//   IR version 10, the graph's opset imports ("" 21 and com.microsoft 1 for the decoders);
//   every tensor of the table is an initializer; tensors up to `inline_max_bytes` stay inside the
//   .onnx as raw_data, the rest go to external data files at 4096-aligned offsets, in table order,
//   so loaders can map them and models over the 2 GB protobuf limit work;
//   data files are named as transformers.js expects: "<file>.onnx_data", then "_data_1", "_data_2"
//   ... when a file would pass `max_data_file_bytes` (browsers fetch each into one ArrayBuffer).
// Tensor bytes stream from their sources straight to the data file; nothing holds the weights.
// The files are created new (never overwritten) inside the caller's staging folder; a failure
// leaves them for the caller's AtomicOutput to remove. Sub-byte data is packed as ONNX packs it
// (element 2i in the low nibble), which is how quantc's F4 is stored already.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/support/progress.h"

namespace quantc::formats::onnx {

struct OnnxWriteOptions {
  uint64_t inline_max_bytes = 1024;               // at most this many bytes: raw_data in the .onnx
  uint64_t max_data_file_bytes = 2'000'000'000;   // a new data file before passing this
  std::string producer_name = "quantc";
  std::string producer_version;
  Progress* progress = nullptr;  // Advance(bytes) as tensor data is written, Advance(0, 1) per tensor
};

struct OnnxWriteResult {
  std::vector<std::filesystem::path> data_files;  // in order: <file>_data, <file>_data_1, ...
};

// Writes `model.graph` and the model's tensors to `path` (a new .onnx file) and its data files
// beside it. INVALID_ARGUMENT, naming the file and the node, tensor or value, when the graph is
// empty, reads a name that nothing defines, or holds a dtype ONNX cannot spell; INTERNAL when a
// source yields the wrong number of bytes.
absl::StatusOr<OnnxWriteResult> WriteOnnx(const Model& model, const std::filesystem::path& path,
                                          const OnnxWriteOptions& options);

// ONNX's TensorProto.DataType number for a dtype; 0 (UNDEFINED) when ONNX has none (ggml blocks).
int OnnxDataType(DType dtype);

}  // namespace quantc::formats::onnx
