// The model IR: what every reader produces, every pass transforms and every writer consumes.
// A Model is a configuration (config.json as read) plus an ordered tensor table whose entries
// carry lazy TensorSources; companion files (tokenizer, generation config) travel alongside.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "lib/ir/graph.h"
#include "lib/ir/metadata.h"
#include "lib/tensor/tensor.h"
#include "nlohmann/json.hpp"

namespace quantc {

// Where a tensor lives in an N-way model-parallel layout (set by the shard pass, honoured by the
// mp writer, ignored by every other writer). kReplicated: every rank holds it whole; kSplit: rank r
// holds the r-th of N equal contiguous slices along `dim`; kOneRank: only `rank` holds it (a
// routed expert, whole).
struct Placement {
  enum class Kind : uint8_t { kReplicated, kSplit, kOneRank };
  Kind kind = Kind::kReplicated;
  int dim = 0;
  int64_t rank = 0;
};

struct TensorEntry {
  std::string name;
  TensorInfo info;
  std::shared_ptr<const TensorSource> source;
  std::string origin;  // file the tensor was read from (for messages and `inspect`)
  Placement placement;
};

// Streams e's bytes into `sink`, checking that its source yields exactly `expected` bytes: every
// writer's guard against a source that lies. More or fewer bytes is INTERNAL, "<where>: tensor
// <quoted_name>: source <source> produced [more than ]N bytes, expected M for <dtype> <shape>"; an
// error of the source or the sink gets the prefix "<where>: tensor <quoted_name>: " (without
// `where` when its message already starts with it). Each writer quotes names its own way.
absl::Status StreamExactly(const TensorEntry& e, uint64_t expected, std::string_view where,
                           std::string_view quoted_name, ByteSink sink);

// Tensors in a stable order (the input order, which writers keep), with lookup by name.
class TensorTable {
 public:
  absl::Status Add(TensorEntry entry);  // ALREADY_EXISTS on a duplicate name
  const TensorEntry* Find(std::string_view name) const;
  TensorEntry* FindMutable(std::string_view name);
  // Removes every entry for which pred is true, in one pass; returns how many went.
  size_t RemoveIf(absl::FunctionRef<bool(const TensorEntry&)> pred);

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<TensorEntry>& entries() const { return entries_; }
  std::vector<TensorEntry>& mutable_entries() { return entries_; }  // renaming must go through Rebuild
  void RebuildIndex();
  uint64_t TotalBytes() const;

 private:
  std::vector<TensorEntry> entries_;
  // Transparent hashing, so lookups by string_view build no std::string.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, size_t, NameHash, std::equal_to<>> index_;
};

struct Model {
  std::filesystem::path source_path;                 // folder or file it was read from
  // config.json as read, key order kept (so a rewritten config diffs cleanly); passes may edit it.
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  std::vector<std::filesystem::path> aux_files;      // tokenizer etc., copied into folder outputs
  TensorTable tensors;
  std::vector<std::string> pipeline;                 // canonical text of each pass applied, in order
  // Typed key/values for formats that carry them (GGUF). Set by passes (gguf-layout) or readers;
  // writers serialize them as they are. Empty for plain safetensors checkpoints.
  Metadata metadata;
  // Dataflow graphs over the tensors, for graph formats (ONNX): built by a lowering pass
  // (onnx-decoder: one "main_graph"; onnx-npu: embeddings, context, iterator, lm_head, sharing the
  // table), serialized by formats/onnx one file each. Empty otherwise.
  std::vector<Graph> graphs;
  // How tensors are named and laid out: "hf" (Hugging Face names, [out, in] matrices), "gguf"
  // (llama.cpp names and transformations, after gguf-layout or when read from a .gguf file), "mp"
  // (DeepSeek-Infer's model-parallel names and placements, after shard) or "onnx" (initializers of
  // `graph`: [in, out] matrices, MatMulNBits blobs; after onnx-decoder).
  std::string layout = "hf";
  // Ranks of a model-parallel layout ("mp", after the shard pass: DeepSeek-Infer names, each
  // tensor's Placement); 0 otherwise.
  int64_t mp_ranks = 0;
  int64_t mp_rank = -1;  // the rank this model holds, when read from one rank's file


  // "qwen2", "llama", "deepseek_v3", ... from config.model_type ("" if absent).
  std::string model_type() const;
  // The pipeline as one string: "fp8-to-bf16,shard(n=8)".
  std::string PipelineText() const;
};

// Structural invariants checked between passes: unique names, a source on every entry,
// dtype x shape sizes valid, config an object. Cheap; names the first offending tensor.
absl::Status VerifyModel(const Model& model);

}  // namespace quantc
