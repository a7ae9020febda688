#pragma once
// Fixtures of the reliability suite: the real `mer` binary run in a child process under a
// file-size limit (writes fail with EFBIG, SIGXFSZ ignored: a full disk as far as the writer
// can tell) or killed with SIGKILL after a delay; a synthetic prepared folder; file helpers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mer::reliability {

namespace fs = std::filesystem;

struct ChildRun {
  int code = -1;    // exit status, -1 when killed by a signal
  int signal = 0;   // the signal that ended it, 0 when it exited
  std::string output;  // stdout + stderr
};

struct ChildOptions {
  rlim_t file_size_limit = RLIM_INFINITY;  // RLIMIT_FSIZE in bytes
  double kill_after_s = -1;                // SIGKILL after this many seconds (< 0: never)
};

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Runs MER_BINARY with `args` in a child process. Its output goes through a pipe, not a file:
// a file would fall under the child's own file-size limit.
inline ChildRun run_mer(const std::vector<std::string>& args, const ChildOptions& options = {}) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[1]);
    ::signal(SIGXFSZ, SIG_IGN);
    if (options.file_size_limit != RLIM_INFINITY) {
      const rlimit limit{options.file_size_limit, options.file_size_limit};
      ::setrlimit(RLIMIT_FSIZE, &limit);
    }
    std::vector<char*> argv;
    std::string binary = MER_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  ChildRun run;
  std::thread reader([&] {
    char buffer[4096];
    for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) run.output.append(buffer, static_cast<size_t>(n));
  });
  int status = 0;
  if (options.kill_after_s >= 0) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::microseconds(static_cast<int64_t>(options.kill_after_s * 1e6));
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  } else {
    ::waitpid(pid, &status, 0);
  }
  reader.join();
  ::close(fds[0]);
  if (WIFEXITED(status)) run.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
  return run;
}

// Lines of `text` that are error lines of mer.
inline std::vector<std::string> error_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("mer: error", 0) == 0) lines.push_back(line);
  }
  return lines;
}

// The run failed cleanly: exit code 1 or 2 (no signal), one error line containing every
// fragment, no LibTorch stack trace, no source location, no std::terminate.
inline void expect_clean_error(const ChildRun& run, const std::vector<std::string>& fragments) {
  EXPECT_EQ(run.signal, 0) << run.output;
  EXPECT_TRUE(run.code == 1 || run.code == 2) << "exit " << run.code << "\n" << run.output;
  const auto lines = error_lines(run.output);
  EXPECT_EQ(lines.size(), 1u) << run.output;
  for (const auto& f : fragments) {
    EXPECT_NE(run.output.find(f), std::string::npos) << "missing '" << f << "' in\n" << run.output;
  }
  for (const char* bad : {"terminate called", "Exception raised from", ".cpp:", ".cc:", "frame #"}) {
    EXPECT_EQ(run.output.find(bad), std::string::npos) << "'" << bad << "' in\n" << run.output;
  }
}

// Files under `dir` whose name ends with `suffix`.
inline std::vector<std::string> files_ending(const fs::path& dir, const std::string& suffix) {
  std::vector<std::string> found;
  if (!fs::exists(dir)) return found;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      found.push_back(e.path().string());
    }
  }
  return found;
}

// A fresh folder per test, removed at the end.
class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    path_ = fs::temp_directory_path() / ("mer_reliability_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// predictions.csv less its run-dependent nothing (it has none), summary.json's figures.
inline std::string results_of(const fs::path& out) { return read_file(out / "predictions.csv"); }

}  // namespace mer::reliability
