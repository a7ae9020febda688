#pragma once
// Runs the real `mer` binary (MER_BINARY) with arguments and captures its exit code and output;
// shared by the CLI test files.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

struct CliRun {
  int code;
  std::string output;  // stdout, and stderr unless dropped
};

// A shell command line run through popen: its exit code and captured output.
inline CliRun run_command_line(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string output;
  std::array<char, 4096> buffer{};
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

inline CliRun run_mer_binary(const std::string& args, bool with_stderr = true) {
  return run_command_line(std::string(MER_BINARY) + " " + args +
                          (with_stderr ? " 2>&1" : " 2>/dev/null"));
}

// `command` (a shell command line) run in `dir`, stdout and stderr captured.
inline CliRun run_shell_in(const std::string& dir, const std::string& command) {
  return run_command_line("cd '" + dir + "' && " + command + " 2>&1");
}
