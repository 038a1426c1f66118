#include "tools/quantc/onnx_output.h"

#include <map>
#include <optional>
#include <set>

#include "formats/onnx/writer.h"
#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "lib/support/version.h"
#include "nlohmann/json.hpp"
#include "passes/onnx_decoder.h"

namespace quantc::tools {
namespace {
namespace fs = std::filesystem;

// transformers.js's file suffix of each dtype (onnx-targets.md §6.1).
std::string_view SuffixOf(std::string_view dtype) {
  if (dtype == "fp16") return "_fp16";
  if (dtype == "q4") return "_q4";
  if (dtype == "q4f16") return "_q4f16";
  return "";
}

// onnxruntime-genai's decoder fields every config shares (onnx-targets.md §3.5).
nlohmann::ordered_json GenaiDecoder(const nlohmann::ordered_json& c) {
  const int64_t heads = c.value("num_attention_heads", int64_t{0}), hidden = c.value("hidden_size", int64_t{0});
  return {{"session_options", {{"log_id", "onnxruntime-genai"}, {"provider_options", nlohmann::json::array()}}},
          {"head_size", c.value("head_dim", heads > 0 ? hidden / heads : int64_t{0})},
          {"hidden_size", hidden},
          {"num_attention_heads", heads},
          {"num_hidden_layers", c.value("num_hidden_layers", int64_t{0})},
          {"num_key_value_heads", c.value("num_key_value_heads", heads)}};
}

nlohmann::ordered_json EosOf(const nlohmann::ordered_json& c) {
  return c.contains("eos_token_id") ? c["eos_token_id"] : nlohmann::ordered_json(0);
}

// genai_config.json's "model" block around a decoder.
nlohmann::ordered_json GenaiModel(const nlohmann::ordered_json& c, int64_t context, nlohmann::ordered_json decoder,
                                  const nlohmann::ordered_json& pad, const std::string& type) {
  return {{"bos_token_id", c.value("bos_token_id", int64_t{0})},
          {"context_length", context},
          {"decoder", std::move(decoder)},
          {"eos_token_id", EosOf(c)},
          {"pad_token_id", pad},
          {"type", type},
          {"vocab_size", c.value("vocab_size", int64_t{0})}};
}

// onnxruntime-genai's config for one of the transformers.js folder's models.
nlohmann::ordered_json GenaiConfig(const Model& model, const std::string& filename) {
  const auto& c = model.config;
  const int64_t context = c.value("max_position_embeddings", int64_t{4096});
  nlohmann::ordered_json decoder = GenaiDecoder(c);
  decoder["filename"] = filename;
  decoder["inputs"] = {{"input_ids", "input_ids"},
                       {"attention_mask", "attention_mask"},
                       {"past_key_names", "past_key_values.%d.key"},
                       {"past_value_names", "past_key_values.%d.value"}};
  decoder["outputs"] = {{"logits", "logits"}, {"present_key_names", "present.%d.key"}, {"present_value_names", "present.%d.value"}};
  const auto pad = c.contains("pad_token_id") && !c["pad_token_id"].is_null() ? c["pad_token_id"] : EosOf(c);
  return {{"model", GenaiModel(c, context, std::move(decoder), pad, model.model_type())},
          {"search",
           {{"do_sample", false}, {"max_length", context}, {"min_length", 0}, {"num_beams", 1},
            {"num_return_sequences", 1}, {"past_present_share_buffer", false}, {"repetition_penalty", 1.0},
            {"temperature", 1.0}, {"top_k", 1}, {"top_p", 1.0}}}};
}

// One graph of `model` to `path`, with quantc's producer and pipeline recorded.
absl::StatusOr<formats::onnx::OnnxWriteResult> WriteGraph(const Model& model, const Graph& g, const fs::path& path,
                                                          Progress* progress,
                                                          formats::onnx::ExternalDataWriter* shared = nullptr) {
  formats::onnx::OnnxWriteOptions write;
  write.producer_version = std::string(kVersion);
  write.progress = progress;
  write.shared_data = shared;
  Graph graph = g;
  graph.metadata.emplace_back("quantc.pipeline", model.PipelineText());
  return formats::onnx::WriteOnnx(model, graph, path, write);
}

// config.json (as given) and the checkpoint's companion files.
absl::Status WriteCompanions(const Model& model, const nlohmann::ordered_json& config, const fs::path& folder) {
  QC_RETURN_IF_ERROR(WriteStringToFile(folder / "config.json", config.dump(2) + "\n"));
  for (const fs::path& aux : model.aux_files) QC_RETURN_IF_ERROR(CopyFile(aux, folder / aux.filename()));
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckOnnxDtypes(const std::vector<std::string>& dtypes) {
  std::set<std::string> seen;
  for (const std::string& d : dtypes) {
    if (d != "fp32" && d != "fp16" && d != "q4" && d != "q4f16") {
      return absl::InvalidArgumentError(StrCat("--dtypes: '", d, "' (expected fp32, fp16, q4 or q4f16)"));
    }
    if (!seen.insert(d).second) return absl::InvalidArgumentError(StrCat("--dtypes: '", d, "' given twice"));
  }
  if (dtypes.empty()) return absl::InvalidArgumentError("--dtypes: empty");
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> WriteOnnxFolder(const Model& model, PassManager& quantize, const fs::path& folder,
                                         const OnnxOutputOptions& options) {
  QC_RETURN_IF_ERROR(CheckOnnxDtypes(options.dtypes));
  std::error_code ec;
  fs::create_directories(folder / "onnx", ec);
  if (ec) return absl::InternalError(StrCat((folder / "onnx").string(), ": ", ec.message()));

  std::optional<Model> quantized;  // the q4 weights, made once for q4 and q4f16
  nlohmann::ordered_json data_files = nlohmann::ordered_json::object();
  std::string genai_file;
  uint64_t written = 0;
  for (const std::string& dtype : options.dtypes) {
    const bool q4 = dtype.starts_with("q4");
    if (q4 && !quantized) {
      quantized = model;
      QC_RETURN_IF_ERROR(quantize.Run(*quantized));
    }
    Model lowered = q4 ? *quantized : model;
    PassManager lower;
    lower.Add(passes::CreateOnnxDecoderPass(
        {.dtype = dtype == "fp16" || dtype == "q4f16" ? "fp16" : "fp32", .accuracy_level = options.accuracy_level}));
    QC_RETURN_IF_ERROR(lower.Run(lowered));
    const std::string file = StrCat("model", SuffixOf(dtype), ".onnx");
    QC_ASSIGN_OR_RETURN(auto result, WriteGraph(lowered, lowered.graphs[0], folder / "onnx" / file, options.progress));
    data_files[file] = result.data_files.size();
    written += lowered.tensors.TotalBytes();
    if (genai_file.empty() || dtype == "q4") genai_file = StrCat("onnx/", file);
  }

  // config.json with the data-file counts transformers.js fetches in the browser.
  nlohmann::ordered_json config = model.config;
  config["transformers.js_config"] = {{"use_external_data_format", data_files}};
  QC_RETURN_IF_ERROR(WriteStringToFile(folder / "genai_config.json", GenaiConfig(model, genai_file).dump(4) + "\n"));
  QC_RETURN_IF_ERROR(WriteCompanions(model, config, folder));
  return written;
}

absl::StatusOr<uint64_t> WriteOnnxQdqFolder(const Model& model, const fs::path& folder, Progress* progress) {
  formats::onnx::ExternalDataWriter shared(folder / "model.onnx.data", 2'000'000'000);
  int64_t chunk = 0, cache = 0;
  for (const Graph& g : model.graphs) {
    const bool npu = g.name == "context" || g.name == "iterator";
    QC_RETURN_IF_ERROR(WriteGraph(model, g, folder / StrCat(g.name, ".onnx"), progress, npu ? &shared : nullptr).status());
    if (g.name == "context") chunk = g.inputs[0].dims[1].value, cache = g.inputs[1].dims[2].value;
  }
  QC_RETURN_IF_ERROR(shared.Close());

  const auto& c = model.config;
  nlohmann::ordered_json decoder = GenaiDecoder(c);
  decoder["inputs"] = {{"input_ids", "input_ids"},
                       {"past_key_names", "past_key_values.%d.key"},
                       {"past_value_names", "past_key_values.%d.value"},
                       {"past_sequence_length", "past_seq_len"},
                       {"total_sequence_length", "total_seq_len"}};
  decoder["outputs"] = {{"present_key_names", "present.%d.key"}, {"present_value_names", "present.%d.value"}};
  decoder["sliding_window"] = {{"window_size", chunk}, {"pad_value", 0}, {"alignment", "left"}, {"slide_key_value_cache", false}};
  nlohmann::ordered_json pipeline = nlohmann::ordered_json::array();
  pipeline.push_back({{"embeddings", {{"filename", "embeddings.onnx"}, {"inputs", {"input_ids"}}, {"outputs", {"inputs_embeds"}}}}});
  pipeline.push_back({{"context", {{"filename", "context.onnx"}, {"run_on_token_gen", false}}}});
  pipeline.push_back({{"iterator", {{"filename", "iterator.onnx"}, {"run_on_prompt", false}}}});
  pipeline.push_back({{"lm_head", {{"filename", "lm_head.onnx"}, {"inputs", {"hidden_states"}}, {"outputs", {"logits"}}}}});
  decoder["pipeline"] = std::move(pipeline);
  const nlohmann::ordered_json genai = {
      {"model", GenaiModel(c, cache, std::move(decoder), EosOf(c), "decoder-pipeline")},
      {"search", {{"do_sample", false}, {"max_length", cache}, {"past_present_share_buffer", true}, {"top_k", 1}}}};
  QC_RETURN_IF_ERROR(WriteStringToFile(folder / "genai_config.json", genai.dump(4) + "\n"));
  QC_RETURN_IF_ERROR(WriteCompanions(model, c, folder));
  uint64_t written = 0;
  for (const TensorEntry& e : model.tensors.entries()) written += e.info.byte_size();
  return written;
}

}  // namespace quantc::tools
