#pragma once
// Progress reporting for long runs: a redrawn bar with ETA on a terminal, plain
// timestamped lines when the output is not a terminal (logs, CI). Thread-safe: fold workers
// running in parallel all report into one Progress.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>

namespace mer {

// What a listener hears: every advance (done/total units and the status) and every message
// (with done/total unchanged), whether or not the display is quiet.
struct ProgressUpdate {
  int64_t done = 0;
  int64_t total = 0;
  std::string status;   // set by advance()
  std::string message;  // set by message()
};
using ProgressListener = std::function<void(const ProgressUpdate&)>;

class Progress {
 public:
  // total: number of work units (e.g. fold-epochs); label: what is counted.
  Progress(std::string label, int64_t total, std::FILE* stream = stderr);
  // Adds `units` finished units and a short status (e.g. "fold casme2/sub01 epoch 120/500").
  void advance(int64_t units, const std::string& status = "");
  // A message on its own line (e.g. "fold samm/006 done: acc 0.80"), not erasing the bar.
  void message(const std::string& text);
  void finish();
  bool is_terminal() const { return terminal_; }
  // Silences all output (tests, --quiet).
  void set_quiet(bool quiet) { quiet_ = quiet; }
  // Also tells `listener` (e.g. a Python callback) of every update; called under the
  // progress lock, so from one thread at a time.
  void set_listener(ProgressListener listener) { listener_ = std::move(listener); }

 private:
  void draw_locked(const std::string& status);
  std::string eta_locked() const;

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  std::FILE* stream_;
  bool terminal_;
  bool quiet_ = false;
  ProgressListener listener_;
  bool bar_drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::mutex mutex_;
};

// "1h02m", "3m05s", "12s"
std::string format_duration(double seconds);

}  // namespace mer
