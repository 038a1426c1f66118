// quantc: read a checkpoint, run passes, write it in another format. See docs/user-guide.md.
#include <csignal>
#include <cstdio>
#include <map>
#include <string>

#include "CLI/CLI.hpp"
#include "fmt/core.h"
#include "lib/support/parallel.h"
#include "lib/support/version.h"
#include "tools/quantc/commands.h"

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) must surface as a write error naming the file, not kill us.
  std::signal(SIGXFSZ, SIG_IGN);

  CLI::App app{"quantc — a compiler for LLM checkpoints: read, transform (passes), write, validate"};
  app.set_version_flag("--version", "quantc " + std::string(quantc::kVersion));
  app.require_subcommand(1);
  app.fallthrough();  // global options (--quiet, --threads) work after the subcommand too
  quantc::tools::GlobalOptions global;
  for (int i = 0; i < argc; ++i) {
    const std::string a = i == 0 ? std::string("quantc") : std::string(argv[i]);
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,%+@") == std::string::npos;
    global.command_line += (i ? " " : "") + (plain ? a : "'" + a + "'");
  }
  app.add_flag("-q,--quiet", global.quiet, "no progress line and no summary");
  app.add_option("-j,--threads", global.threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);

  std::map<const CLI::App*, quantc::tools::CommandRunner> runners;
  auto add = [&](const char* name, const char* help, auto add_fn) {
    CLI::App* sub = app.add_subcommand(name, help);
    runners[sub] = add_fn(*sub, global);
  };
  add("convert", "convert a checkpoint, running a pass pipeline", quantc::tools::AddConvertCommand);
  add("inspect", "list a checkpoint's tensors, dtypes and architecture", quantc::tools::AddInspectCommand);
  add("passes", "list the available passes and their options", quantc::tools::AddPassesCommand);
  add("run", "generate a greedy continuation with the reference runner", quantc::tools::AddRunCommand);
  add("eval", "perplexity, and KL divergence against a reference model", quantc::tools::AddEvalCommand);
  add("compare", "per-layer hidden-state error between two models", quantc::tools::AddCompareCommand);
  add("logits", "teacher-forced top-1 predictions and a greedy continuation, as JSON", quantc::tools::AddLogitsCommand);
  add("check-npu", "check NPU-side ONNX models against QNN's rules (static shapes, per-channel weights, QDQ units)",
      quantc::tools::AddCheckNpuCommand);
  add("validate", "is a quantized model good enough: candidates vs a reference on every target, gates, HTML report",
      quantc::tools::AddValidateCommand);
  add("imatrix", "compute an importance matrix (llama.cpp imatrix GGUF) on a calibration text", quantc::tools::AddImatrixCommand);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  quantc::SetNumThreads(global.threads);
  for (const auto& [sub, run] : runners) {
    if (!sub->parsed()) continue;
    absl::Status status = run();
    if (!status.ok()) {
      fmt::print(stderr, "quantc {}: error: {}\n", sub->get_name(), std::string(status.message()));
      return 1;
    }
  }
  return 0;
}
