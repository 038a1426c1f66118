// `quantc convert IN -o OUT [--format safetensors] [--passes PIPELINE]`
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "lib/support/strings.h"
#include "fmt/core.h"
#include "formats/hf/hf_folder.h"
#include "lib/pass/pass_manager.h"
#include "lib/pass/pipeline.h"
#include "lib/support/file_util.h"
#include "lib/support/output_dir.h"
#include "lib/support/progress.h"
#include "lib/support/status_macros.h"
#include "passes/fp8_to_bf16.h"
#include "passes/registry.h"
#include "tools/quantc/commands.h"

namespace quantc::tools {
namespace {
namespace fs = std::filesystem;

struct ConvertOptions {
  std::string input, output, format = "safetensors", passes, max_shard_size = "5GB";
  bool passes_given = false, force = false;
};

// The pipeline the user named, or the default one for this input and format.
absl::StatusOr<std::vector<std::unique_ptr<Pass>>> BuildPipeline(const ConvertOptions& o, const Model& model) {
  if (o.passes_given) return ParsePipeline(o.passes, passes::Registry());
  std::vector<std::unique_ptr<Pass>> pipeline;
  // A safetensors output is for engines that load BF16: dequantize FP8 unless told otherwise.
  if (passes::HasFp8Weights(model)) pipeline.push_back(passes::CreateFp8ToBf16Pass());
  return pipeline;
}

absl::Status RunConvert(const ConvertOptions& o, const GlobalOptions& global) {
  auto start = std::chrono::steady_clock::now();
  QC_ASSIGN_OR_RETURN(uint64_t max_shard, ParseByteSize(o.max_shard_size));
  if (max_shard == 0) return absl::InvalidArgumentError("--max-shard-size must be positive");
  std::error_code ec;
  if (fs::exists(o.output, ec) && fs::equivalent(o.input, o.output, ec)) {
    return absl::InvalidArgumentError(StrCat(o.output, ": output is the input"));
  }
  // Take the output (lock, refuse an existing one) before any work, so a doomed run fails at once.
  QC_ASSIGN_OR_RETURN(auto out, AtomicOutput::Begin(o.output, AtomicOutput::Kind::kDirectory, o.force));

  QC_ASSIGN_OR_RETURN(Model model, formats::ReadHfFolder(o.input));
  const uint64_t bytes_in = model.tensors.TotalBytes();
  const size_t tensors_in = model.tensors.size();

  PassManager pm;
  QC_ASSIGN_OR_RETURN(auto pipeline, BuildPipeline(o, model));
  pm.AddAll(std::move(pipeline));
  QC_RETURN_IF_ERROR(pm.Run(model));

  const uint64_t bytes_out = model.tensors.TotalBytes();
  {
    Progress progress("convert", bytes_out, model.tensors.size(), !global.quiet && Progress::StderrIsTerminal());
    formats::HfWriteOptions write;
    write.max_shard_bytes = max_shard;
    write.progress = &progress;
    QC_RETURN_IF_ERROR(formats::WriteHfFolder(model, out->staging(), write));
  }
  QC_RETURN_IF_ERROR(out->Commit());

  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!global.quiet) {
    for (const std::string& note : pm.notes()) fmt::print(stderr, "note: {}\n", note);
    fmt::print("converted {} -> {} ({})\n", o.input, o.output, o.format);
    fmt::print("  tensors   {} in, {} out\n", tensors_in, model.tensors.size());
    fmt::print("  bytes     {} read, {} written\n", FormatBytes(bytes_in), FormatBytes(bytes_out));
    fmt::print("  pipeline  {}\n", model.pipeline.empty() ? "(none)" : model.PipelineText());
    for (const auto& [pass, stats] : pm.statistics()) {
      for (const auto& [key, n] : stats.counts()) fmt::print("  {:<9} {} = {}\n", "", key, n);
    }
    fmt::print("  time      {:.2f} s ({}/s moved)\n", secs, FormatBytes((bytes_in + bytes_out) / std::max(secs, 1e-9)));
  }
  return absl::OkStatus();
}

}  // namespace

CommandRunner AddConvertCommand(CLI::App& app, const GlobalOptions& global) {
  auto o = std::make_shared<ConvertOptions>();
  app.add_option("input", o->input, "checkpoint folder (config.json + safetensors) or .safetensors file")
      ->required();
  app.add_option("-o,--output", o->output, "output folder (written atomically)")->required();
  app.add_option("--format", o->format, "output format")->check(CLI::IsMember({"safetensors"}))->capture_default_str();
  app.add_option("--passes", o->passes,
                 "pass pipeline, e.g. 'fp8-to-bf16' (default: fp8-to-bf16 when the input has FP8 weights; "
                 "'' for none; see `quantc passes`)");
  app.add_option("--max-shard-size", o->max_shard_size, "largest output shard, e.g. 5GB, 500MB")
      ->capture_default_str();
  app.add_flag("-f,--force", o->force, "replace an existing output (only once the new one is complete)");
  return [o, &global, &app]() {
    o->passes_given = app.count("--passes") > 0;
    return RunConvert(*o, global);
  };
}

}  // namespace quantc::tools
