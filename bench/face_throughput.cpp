// Throughput of the whole per-clip pipeline (decode onset + apex JPEG, detect, landmarks,
// align, TV-L1, strain map) on real CASME II clips: the first N unflagged clips of
// ../shared/data/casme2/clips.csv (onset and annotated apex), T worker threads, each with its
// own ClipPreprocessor copy sharing one landmark model. OpenCV's own threading is turned off
// (cv::setNumThreads(1)) so that the T workers are the only parallelism; the model load (once,
// ~0.9 s) is outside the timing. Prints clips/s (wall clock), the process CPU time per clip
// and what that makes on `threads` otherwise idle cores (the box is often shared, and CPU time
// is far less sensitive to other load than wall time), and the mean time per stage.
//
// Results, with the machine and load: docs/benchmarks.md, "Face and motion pipeline".
//
// Usage: face_throughput [clips=40] [threads=2] [default|full|SIZExSCALESxWARPS] [opencv_threads=1]
//   full: TvL1Options::full_quality(); e.g. 128x3x2: working size 128, 3 scales, 2 warps.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <opencv2/core.hpp>
#include <string>
#include <thread>

#include "mer/face/clip_preprocessor.h"
#include "face_bench_common.h"

using namespace mer::face;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  try {
    const std::string root = MER_SHARED_DATA "/casme2";
    const size_t count = argc > 1 ? std::stoul(argv[1]) : 40;
    const int threads = argc > 2 ? std::stoi(argv[2]) : 2;
    const std::string flow = argc > 3 ? argv[3] : "default";
    const int opencv_threads = argc > 4 ? std::stoi(argv[4]) : 1;
    cv::setNumThreads(opencv_threads);
    auto clips = bench::casme_clips(root);
    if (clips.size() > count) clips.resize(count);

    ClipPreprocessorOptions options;
    if (flow == "full") {
      options.flow(TvL1Options::full_quality());
    } else if (flow != "default") {
      int size = 0, scales = 0, warps = 0;
      if (std::sscanf(flow.c_str(), "%dx%dx%d", &size, &scales, &warps) != 3) {
        throw mer::ConfigError("flow setting must be default, full or SIZExSCALESxWARPS: " + flow);
      }
      options.flow(TvL1Options().working_size(size).scales(scales).warps(warps));
      options.flow().validate();
    }
    const ClipPreprocessor prototype(options);  // loads the model once
    std::atomic<size_t> next{0};
    std::mutex mutex;
    ClipTiming sum;
    size_t failures = 0;
    auto cpu_seconds = [] {
      rusage usage{};
      getrusage(RUSAGE_SELF, &usage);
      return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
             1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
    };
    const double cpu_start = cpu_seconds();
    const auto start = Clock::now();
    std::vector<std::thread> workers;
    for (int w = 0; w < threads; ++w) {
      workers.emplace_back([&] {
        ClipPreprocessor preprocessor = prototype;  // own detector, shared model
        for (size_t i = next++; i < clips.size(); i = next++) {
          const auto& c = clips[i];
          try {
            const PreparedClip clip =
                preprocessor.process(c.frame_path(root, c.onset), c.frame_path(root, c.apex));
            std::lock_guard<std::mutex> lock(mutex);
            const ClipTiming& t = clip.timing;
            sum.read_ms += t.read_ms;
            sum.detect_ms += t.detect_ms;
            sum.landmarks_ms += t.landmarks_ms;
            sum.align_ms += t.align_ms;
            sum.flow_ms += t.flow_ms;
            sum.map_ms += t.map_ms;
            sum.total_ms += t.total_ms;
          } catch (const mer::DataError& e) {
            std::lock_guard<std::mutex> lock(mutex);
            ++failures;
            std::cerr << "skipped: " << e.what() << "\n";
          }
        }
      });
    }
    for (auto& w : workers) w.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu = cpu_seconds() - cpu_start;
    const double n = static_cast<double>(clips.size() - failures);
    const auto& f = options.flow();
    std::printf("%zu clips (%zu failed), %d threads (OpenCV: %d), TV-L1 %s: working size %d, "
                "scales %d, warps %d\n",
                clips.size(), failures, threads, cv::getNumThreads(), flow.c_str(),
                f.working_size(), f.scales(), f.warps());
    std::printf("%.2f s, %.1f clips/s (wall); CPU %.1f ms per clip, i.e. %.1f clips/s on %d idle "
                "cores\n",
                seconds, n / seconds, 1e3 * cpu / n, threads * n / cpu, threads);
    std::printf("mean ms per clip (one thread): read %.1f, detect %.1f, landmarks %.1f, align %.1f, "
                "flow %.1f, map %.1f, total %.1f\n",
                sum.read_ms / n, sum.detect_ms / n, sum.landmarks_ms / n, sum.align_ms / n,
                sum.flow_ms / n, sum.map_ms / n, sum.total_ms / n);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "face_throughput: " << e.what() << "\n";
    return 1;
  }
}
