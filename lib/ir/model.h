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
#include "lib/ir/metadata.h"
#include "lib/tensor/tensor.h"
#include "nlohmann/json.hpp"

namespace quantc {

struct TensorEntry {
  std::string name;
  TensorInfo info;
  std::shared_ptr<const TensorSource> source;
  std::string origin;  // file the tensor was read from (for messages and `inspect`)
};

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
  // How tensors are named and laid out: "hf" (Hugging Face names, [out, in] matrices) or "gguf"
  // (llama.cpp names and transformations, after gguf-layout or when read from a .gguf file).
  std::string layout = "hf";

  // "qwen2", "llama", "deepseek_v3", ... from config.model_type ("" if absent).
  std::string model_type() const;
  // The pipeline as one string: "fp8-to-bf16,shard(n=8)".
  std::string PipelineText() const;
};

// Structural invariants checked between passes: unique names, a source on every entry,
// dtype x shape sizes valid, config an object. Cheap; names the first offending tensor.
absl::Status VerifyModel(const Model& model);

}  // namespace quantc
