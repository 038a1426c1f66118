// `quantc inspect PATH [--json]`: tensors (name, dtype, shape, bytes, shard), totals by dtype,
// and an architecture summary read from config.json (for a GGUF file: rebuilt from its keys, and
// the keys themselves, arrays abbreviated).
#include <map>
#include <string>

#include "fmt/core.h"
#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "nlohmann/json.hpp"
#include "tools/common/model_io.h"
#include "tools/quantc/commands.h"

namespace quantc::tools {
namespace {

struct InspectOptions {
  std::string path;
  bool json = false;
  bool tensors = true;
};

// The config keys worth a glance, under the names the architectures use.
constexpr const char* kSummaryKeys[] = {
    "model_type", "num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads",
    "num_key_value_heads", "head_dim", "vocab_size", "tie_word_embeddings", "q_lora_rank", "kv_lora_rank",
    "n_routed_experts", "n_shared_experts", "num_experts_per_tok", "moe_intermediate_size",
    "first_k_dense_replace", "num_nextn_predict_layers", "torch_dtype"};

nlohmann::ordered_json ArchitectureSummary(const Model& model) {
  nlohmann::ordered_json arch = nlohmann::ordered_json::object();
  if (auto it = model.config.find("architectures"); it != model.config.end() && it->is_array() && !it->empty()) {
    arch["architecture"] = (*it)[0];
  }
  for (const char* key : kSummaryKeys) {
    if (auto it = model.config.find(key); it != model.config.end() && !it->is_null()) arch[key] = *it;
  }
  if (auto it = model.config.find("quantization_config"); it != model.config.end()) arch["quantization_config"] = *it;
  return arch;
}

absl::Status RunInspect(const InspectOptions& o) {
  QC_ASSIGN_OR_RETURN(Model model, ReadModel(o.path));
  struct Totals {
    uint64_t tensors = 0, bytes = 0, elements = 0;
  };
  std::map<std::string, Totals> by_dtype;
  Totals all;
  for (const TensorEntry& e : model.tensors.entries()) {
    Totals& t = by_dtype[std::string(Name(e.info.dtype))];
    for (Totals* x : {&t, &all}) {
      x->tensors += 1;
      x->bytes += e.info.byte_size();
      x->elements += e.info.num_elements();
    }
  }
  nlohmann::ordered_json arch = ArchitectureSummary(model);

  if (o.json) {
    nlohmann::ordered_json j;
    j["path"] = o.path;
    j["config"] = arch;
    if (!model.metadata.empty()) {
      for (const auto& [key, value] : model.metadata.entries()) j["metadata"][key] = value.DebugString();
    }
    j["num_tensors"] = all.tensors;
    j["total_bytes"] = all.bytes;
    j["total_elements"] = all.elements;
    for (const auto& [dtype, t] : by_dtype) {
      j["dtypes"][dtype] = {{"tensors", t.tensors}, {"bytes", t.bytes}, {"elements", t.elements}};
    }
    j["tensors"] = nlohmann::ordered_json::array();
    if (o.tensors) {
      for (const TensorEntry& e : model.tensors.entries()) {
        j["tensors"].push_back({{"name", e.name},
                                {"dtype", Name(e.info.dtype)},
                                {"shape", e.info.shape},
                                {"bytes", e.info.byte_size()},
                                {"shard", e.origin}});
      }
    }
    fmt::print("{}\n", j.dump(2));
    return absl::OkStatus();
  }

  fmt::print("{}\n", o.path);
  for (const auto& [key, value] : arch.items()) fmt::print("  {:<26} {}\n", key, value.dump());
  if (!model.metadata.empty()) {
    fmt::print("\nmetadata ({} keys)\n", model.metadata.size());
    for (const auto& [key, value] : model.metadata.entries()) fmt::print("  {:<40} {}\n", key, value.DebugString());
  }
  if (o.tensors) {
    size_t width = 4;
    for (const TensorEntry& e : model.tensors.entries()) width = std::max(width, e.name.size());
    fmt::print("\n{:<{}}  {:<8} {:<16} {:>12}  {}\n", "name", width, "dtype", "shape", "bytes", "shard");
    for (const TensorEntry& e : model.tensors.entries()) {
      fmt::print("{:<{}}  {:<8} {:<16} {:>12}  {}\n", e.name, width, Name(e.info.dtype),
                 ShapeToString(e.info.shape), e.info.byte_size(), e.origin);
    }
  }
  fmt::print("\n{:<8} {:>8} {:>14} {:>16}\n", "dtype", "tensors", "elements", "bytes");
  for (const auto& [dtype, t] : by_dtype) {
    fmt::print("{:<8} {:>8} {:>14} {:>16}  {}\n", dtype, t.tensors, t.elements, t.bytes, FormatBytes(t.bytes));
  }
  fmt::print("{:<8} {:>8} {:>14} {:>16}  {}\n", "total", all.tensors, all.elements, all.bytes, FormatBytes(all.bytes));
  return absl::OkStatus();
}

}  // namespace

CommandRunner AddInspectCommand(CLI::App& app, const GlobalOptions& global) {
  (void)global;
  auto o = std::make_shared<InspectOptions>();
  app.add_option("path", o->path, "checkpoint folder, .safetensors file or .gguf file")->required();
  app.add_flag("--json", o->json, "machine-readable output");
  app.add_flag("!--no-tensors", o->tensors, "only the summary and totals");
  return [o] { return RunInspect(*o); };
}

}  // namespace quantc::tools
