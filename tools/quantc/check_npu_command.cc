// `quantc check-npu PATH`: checks the NPU-side models of an onnx-qdq folder (context.onnx and
// iterator.onnx), or the given .onnx files, against the QNN rules of lib/ir/npu_rules.h. Prints
// every violation, one per line, and fails when there is any.
#include <filesystem>
#include <string>
#include <vector>

#include "fmt/core.h"
#include "formats/onnx/reader.h"
#include "lib/ir/npu_rules.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "tools/quantc/commands.h"

namespace quantc::tools {
namespace {
namespace fs = std::filesystem;

absl::Status RunCheckNpu(const std::vector<std::string>& paths, const GlobalOptions& global) {
  std::vector<fs::path> files;
  for (const std::string& p : paths) {
    if (fs::is_directory(p)) {
      for (const char* name : {"context.onnx", "iterator.onnx"}) {
        if (!fs::exists(fs::path(p) / name)) return absl::NotFoundError(StrCat((fs::path(p) / name).string(), ": missing (not an onnx-qdq folder)"));
        files.push_back(fs::path(p) / name);
      }
    } else {
      files.emplace_back(p);
    }
  }
  size_t violations = 0;
  for (const fs::path& f : files) {
    Model model;
    QC_ASSIGN_OR_RETURN(Graph g, formats::onnx::ReadOnnx(f, model));
    g.name = f.string();
    const std::vector<std::string> found = CheckNpuRules(model, g);
    for (const std::string& line : found) fmt::print("{}\n", line);
    if (found.empty() && !global.quiet) fmt::print("{}: ok ({} nodes)\n", f.string(), g.nodes.size());
    violations += found.size();
  }
  if (violations > 0) return absl::FailedPreconditionError(StrCat(violations, " QNN rule violation(s)"));
  return absl::OkStatus();
}

}  // namespace

CommandRunner AddCheckNpuCommand(CLI::App& app, const GlobalOptions& global) {
  auto paths = std::make_shared<std::vector<std::string>>();
  app.add_option("path", *paths, "an onnx-qdq folder (its context and iterator models) or .onnx files")->required()
      ->check(CLI::ExistingPath);
  return [paths, &global] { return RunCheckNpu(*paths, global); };
}

}  // namespace quantc::tools
