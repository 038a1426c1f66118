// The `quantc` subcommands. Each registers its CLI11 options and returns a runner; main() turns
// any failing Status into one line on stderr and a non-zero exit.
#pragma once

#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"

namespace quantc::tools {

struct GlobalOptions {
  bool quiet = false;
  int threads = 0;  // 0: OpenMP default
  std::string command_line;  // as typed (shell-quoted), for reports
};

using CommandRunner = std::function<absl::Status()>;

CommandRunner AddConvertCommand(CLI::App& app, const GlobalOptions& global);
CommandRunner AddInspectCommand(CLI::App& app, const GlobalOptions& global);
CommandRunner AddPassesCommand(CLI::App& app, const GlobalOptions& global);
CommandRunner AddRunCommand(CLI::App& app, const GlobalOptions& global);
CommandRunner AddEvalCommand(CLI::App& app, const GlobalOptions& global);
CommandRunner AddCompareCommand(CLI::App& app, const GlobalOptions& global);
CommandRunner AddLogitsCommand(CLI::App& app, const GlobalOptions& global);
CommandRunner AddImatrixCommand(CLI::App& app, const GlobalOptions& global);
CommandRunner AddCheckNpuCommand(CLI::App& app, const GlobalOptions& global);
CommandRunner AddValidateCommand(CLI::App& app, const GlobalOptions& global);

}  // namespace quantc::tools
