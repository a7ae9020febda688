#pragma once
// Splitting a loop of independent items over threads, for library code that runs outside
// LibTorch's own pool (mer is not compiled with OpenMP, so at::parallel_for would run serially).
#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace mer {

// Calls body(begin, end) on contiguous chunks covering [0, count), one chunk per thread, on at
// most `threads` threads (0 = one per core); the calling thread takes the first chunk. The
// first exception thrown by any chunk is rethrown after all chunks have ended. `body` must
// only write what belongs to its own items.
template <typename Body>
void parallel_chunks(int64_t count, int threads, Body&& body) {
  if (count <= 0) return;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int64_t chunks = std::min<int64_t>(threads, count);
  std::vector<std::exception_ptr> failures(static_cast<size_t>(chunks));
  auto run = [&](int64_t c) {
    try {
      body(count * c / chunks, count * (c + 1) / chunks);
    } catch (...) {
      failures[static_cast<size_t>(c)] = std::current_exception();
    }
  };
  std::vector<std::thread> workers;
  for (int64_t c = 1; c < chunks; ++c) workers.emplace_back(run, c);
  run(0);
  for (auto& w : workers) w.join();
  for (const auto& f : failures) {
    if (f) std::rethrow_exception(f);
  }
}

}  // namespace mer
