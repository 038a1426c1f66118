// `quantc passes`: every registered pass, its summary and options.
#include "fmt/core.h"
#include "passes/registry.h"
#include "tools/quantc/commands.h"

namespace quantc::tools {

CommandRunner AddPassesCommand(CLI::App& app, const GlobalOptions& global) {
  (void)app;
  (void)global;
  return [] {
    for (const PassInfo& info : passes::Registry()) {
      fmt::print("{:<14} {}\n", info.name, info.summary);
      auto pass = info.create();
      for (const std::string& line : DescribeOptions(*pass)) fmt::print("  {:<12} {}\n", "", line);
    }
    return absl::OkStatus();
  };
}

}  // namespace quantc::tools
