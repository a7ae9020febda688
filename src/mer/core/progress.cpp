#include "mer/core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace mer {

namespace {
constexpr int kBarWidth = 30;
// Plain (non-terminal) output prints at most this often, so logs stay readable.
constexpr double kPlainIntervalSeconds = 10.0;
constexpr double kTerminalIntervalSeconds = 0.2;
}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  char buf[32];
  if (seconds < 10) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
    return buf;
  }
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  }
  return buf;
}

Progress::Progress(std::string label, int64_t total, std::FILE* stream)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      stream_(stream),
      terminal_(isatty(fileno(stream)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::hours(1)) {}

std::string Progress::eta_locked() const {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (done_ == 0) return "ETA ?";
  const double remaining = elapsed * static_cast<double>(total_ - done_) / done_;
  return "elapsed " + format_duration(elapsed) + ", ETA " + format_duration(remaining);
}

void Progress::draw_locked(const std::string& status) {
  const double fraction = std::min(1.0, static_cast<double>(done_) / total_);
  if (terminal_) {
    const int filled = static_cast<int>(fraction * kBarWidth);
    std::string bar(filled, '#');
    bar.resize(kBarWidth, '-');
    std::fprintf(stream_, "\r\033[K%s [%s] %5.1f%% %s %s", label_.c_str(), bar.c_str(),
                 100.0 * fraction, eta_locked().c_str(), status.c_str());
    bar_drawn_ = true;
  } else {
    std::fprintf(stream_, "%s: %lld/%lld (%.1f%%), %s %s\n", label_.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_), 100.0 * fraction,
                 eta_locked().c_str(), status.c_str());
  }
  std::fflush(stream_);
}

void Progress::advance(int64_t units, const std::string& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += units;
  if (listener_) listener_({done_, total_, status, ""});
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  const double interval = terminal_ ? kTerminalIntervalSeconds : kPlainIntervalSeconds;
  if (since < interval && done_ < total_) return;
  last_draw_ = now;
  draw_locked(status);
}

void Progress::message(const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (listener_) listener_({done_, total_, "", text});
  if (quiet_) return;
  if (terminal_ && bar_drawn_) std::fprintf(stream_, "\r\033[K");
  std::fprintf(stream_, "%s\n", text.c_str());
  bar_drawn_ = false;
  std::fflush(stream_);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (quiet_) return;
  if (terminal_ && bar_drawn_) std::fprintf(stream_, "\n");
  bar_drawn_ = false;
  std::fflush(stream_);
}

}  // namespace mer
