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

// onnxruntime-genai's config (onnx-targets.md §3.5) for one of the written models.
nlohmann::ordered_json GenaiConfig(const Model& model, const std::string& filename) {
  const auto& c = model.config;
  const int64_t heads = c.value("num_attention_heads", int64_t{0}), hidden = c.value("hidden_size", int64_t{0});
  const int64_t context = c.value("max_position_embeddings", int64_t{4096});
  nlohmann::ordered_json decoder = {
      {"session_options", {{"log_id", "onnxruntime-genai"}, {"provider_options", nlohmann::json::array()}}},
      {"filename", filename},
      {"head_size", c.value("head_dim", heads > 0 ? hidden / heads : int64_t{0})},
      {"hidden_size", hidden},
      {"num_attention_heads", heads},
      {"num_hidden_layers", c.value("num_hidden_layers", int64_t{0})},
      {"num_key_value_heads", c.value("num_key_value_heads", heads)},
      {"inputs",
       {{"input_ids", "input_ids"},
        {"attention_mask", "attention_mask"},
        {"past_key_names", "past_key_values.%d.key"},
        {"past_value_names", "past_key_values.%d.value"}}},
      {"outputs", {{"logits", "logits"}, {"present_key_names", "present.%d.key"}, {"present_value_names", "present.%d.value"}}},
  };
  const auto eos = c.contains("eos_token_id") ? c["eos_token_id"] : nlohmann::ordered_json(0);
  return {{"model",
           {{"bos_token_id", c.value("bos_token_id", int64_t{0})},
            {"context_length", context},
            {"decoder", decoder},
            {"eos_token_id", eos},
            {"pad_token_id", c.contains("pad_token_id") && !c["pad_token_id"].is_null() ? c["pad_token_id"] : eos},
            {"type", model.model_type()},
            {"vocab_size", c.value("vocab_size", int64_t{0})}}},
          {"search",
           {{"do_sample", false}, {"max_length", context}, {"min_length", 0}, {"num_beams", 1},
            {"num_return_sequences", 1}, {"past_present_share_buffer", false}, {"repetition_penalty", 1.0},
            {"temperature", 1.0}, {"top_k", 1}, {"top_p", 1.0}}}};
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
    formats::onnx::OnnxWriteOptions write;
    write.producer_version = std::string(kVersion);
    write.progress = options.progress;
    lowered.graphs[0].metadata.emplace_back("quantc.pipeline", lowered.PipelineText());
    QC_ASSIGN_OR_RETURN(auto result, formats::onnx::WriteOnnx(lowered, lowered.graphs[0], folder / "onnx" / file, write));
    data_files[file] = result.data_files.size();
    written += lowered.tensors.TotalBytes();
    if (genai_file.empty() || dtype == "q4") genai_file = StrCat("onnx/", file);
  }

  // config.json with the data-file counts transformers.js fetches in the browser.
  nlohmann::ordered_json config = model.config;
  config["transformers.js_config"] = {{"use_external_data_format", data_files}};
  QC_RETURN_IF_ERROR(WriteStringToFile(folder / "config.json", config.dump(2) + "\n"));
  QC_RETURN_IF_ERROR(WriteStringToFile(folder / "genai_config.json", GenaiConfig(model, genai_file).dump(4) + "\n"));
  for (const fs::path& aux : model.aux_files) QC_RETURN_IF_ERROR(CopyFile(aux, folder / aux.filename()));
  return written;
}

absl::StatusOr<uint64_t> WriteOnnxQdqFolder(const Model& model, const fs::path& folder, Progress* progress) {
  formats::onnx::ExternalDataWriter shared(folder / "model.onnx.data", 2'000'000'000);
  uint64_t written = 0;
  for (const Graph& g : model.graphs) {
    formats::onnx::OnnxWriteOptions write;
    write.producer_version = std::string(kVersion);
    write.progress = progress;
    if (g.name == "context" || g.name == "iterator") write.shared_data = &shared;
    Graph graph = g;
    graph.metadata.emplace_back("quantc.pipeline", model.PipelineText());
    QC_RETURN_IF_ERROR(formats::onnx::WriteOnnx(model, graph, folder / StrCat(g.name, ".onnx"), write).status());
  }
  QC_RETURN_IF_ERROR(shared.Close());
  for (const TensorEntry& e : model.tensors.entries()) written += e.info.byte_size();

  const auto& c = model.config;
  const int64_t heads = c.value("num_attention_heads", int64_t{0}), hidden = c.value("hidden_size", int64_t{0});
  const auto eos = c.contains("eos_token_id") ? c["eos_token_id"] : nlohmann::ordered_json(0);
  int64_t chunk = 0, cache = 0;
  for (const Graph& g : model.graphs) {
    if (g.name == "context") chunk = g.inputs[0].dims[1].value;
    if (g.name == "context") cache = g.inputs[1].dims[2].value;
  }
  nlohmann::ordered_json inputs = {{"input_ids", "input_ids"},
                                   {"past_key_names", "past_key_values.%d.key"},
                                   {"past_value_names", "past_key_values.%d.value"},
                                   {"past_sequence_length", "past_seq_len"},
                                   {"total_sequence_length", "total_seq_len"}};
  nlohmann::ordered_json outputs = {{"present_key_names", "present.%d.key"}, {"present_value_names", "present.%d.value"}};
  nlohmann::ordered_json pipeline = nlohmann::ordered_json::array();
  pipeline.push_back({{"embeddings", {{"filename", "embeddings.onnx"}, {"inputs", {"input_ids"}}, {"outputs", {"inputs_embeds"}}}}});
  pipeline.push_back({{"context", {{"filename", "context.onnx"}, {"run_on_token_gen", false}}}});
  pipeline.push_back({{"iterator", {{"filename", "iterator.onnx"}, {"run_on_prompt", false}}}});
  pipeline.push_back({{"lm_head", {{"filename", "lm_head.onnx"}, {"inputs", {"hidden_states"}}, {"outputs", {"logits"}}}}});
  nlohmann::ordered_json genai = {
      {"model",
       {{"bos_token_id", c.value("bos_token_id", int64_t{0})},
        {"context_length", cache},
        {"decoder",
         {{"session_options", {{"log_id", "onnxruntime-genai"}, {"provider_options", nlohmann::json::array()}}},
          {"head_size", c.value("head_dim", heads > 0 ? hidden / heads : int64_t{0})},
          {"hidden_size", hidden},
          {"num_attention_heads", heads},
          {"num_hidden_layers", c.value("num_hidden_layers", int64_t{0})},
          {"num_key_value_heads", c.value("num_key_value_heads", heads)},
          {"inputs", inputs},
          {"outputs", outputs},
          {"sliding_window", {{"window_size", chunk}, {"pad_value", 0}, {"alignment", "left"}, {"slide_key_value_cache", false}}},
          {"pipeline", pipeline}}},
        {"eos_token_id", eos},
        {"pad_token_id", eos},
        {"type", "decoder-pipeline"},
        {"vocab_size", c.value("vocab_size", int64_t{0})}}},
      {"search", {{"do_sample", false}, {"max_length", cache}, {"past_present_share_buffer", true}, {"top_k", 1}}}};
  QC_RETURN_IF_ERROR(WriteStringToFile(folder / "genai_config.json", genai.dump(4) + "\n"));
  QC_RETURN_IF_ERROR(WriteStringToFile(folder / "config.json", c.dump(2) + "\n"));
  for (const fs::path& aux : model.aux_files) QC_RETURN_IF_ERROR(CopyFile(aux, folder / aux.filename()));
  return written;
}

}  // namespace quantc::tools
