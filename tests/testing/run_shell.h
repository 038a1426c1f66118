// Running the quantc binary from tests: a shell command's exit status and combined output.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace quantc::testing {

struct ShellResult {
  int exit_code;
  std::string output;  // stdout + stderr
};

inline ShellResult RunShell(const std::string& command) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

// A path quoted for the shell.
inline std::string Q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace quantc::testing
