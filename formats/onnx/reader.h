// Reads ONNX files quantc writes (and any like them) back into the IR: the ModelProto's graph as a
// Graph (lib/ir/graph.h: inputs, outputs, nodes, attributes of the kinds the writer emits, opsets,
// metadata) and its initializers as tensors of a Model — raw_data held in memory, external data
// mapped from its file (location relative to the .onnx). For `quantc check-npu` and the NPU target,
// which run what was shipped. Errors name the file and the tensor, node or attribute.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"

namespace quantc::formats::onnx {

// Adds the file's initializers to `model.tensors` (a name already there must be the same bytes'
// twin: a shared data file read twice is fine, a different tensor is ALREADY_EXISTS) and returns
// its graph, named after the file's stem.
absl::StatusOr<Graph> ReadOnnx(const std::filesystem::path& path, Model& model);

// quantc's DType for an ONNX TensorProto.DataType; nullopt for types quantc does not hold.
std::optional<DType> DTypeFromOnnx(int onnx_type);

}  // namespace quantc::formats::onnx
