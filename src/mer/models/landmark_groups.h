#pragma once
// Small helpers shared by the models whose nodes or regions sit on the 68 iBUG landmarks
// (dere-grl, rrrn): index groups of the layout, and the one-time notice that a model falls
// back to its template face because the data has no landmarks.
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace mer::models {

// Points of the iBUG layout.
constexpr int64_t kLandmarks = 68;

// Landmark indices first..last, inclusive (e.g. 48..67 = the mouth).
inline std::vector<int64_t> landmark_range(int64_t first, int64_t last) {
  std::vector<int64_t> out;
  for (int64_t i = first; i <= last; ++i) out.push_back(i);
  return out;
}

// The indices of `a` followed by those of `b`.
inline std::vector<int64_t> concat_landmarks(std::vector<int64_t> a,
                                             const std::vector<int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Says once per process and model, on stderr, that `model` places its nodes on the fixed
// template layout described in `header` for every sample. Thread-safe.
inline void warn_template_landmarks_once(const std::string& model, const std::string& header) {
  static std::mutex mutex;
  static std::set<std::string> warned;
  std::lock_guard<std::mutex> lock(mutex);
  if (!warned.insert(model).second) return;
  std::fprintf(stderr,
               "%s: the data has no landmarks; using the fixed template layout (%s) for every "
               "sample. Find real ones with `mer landmarks`.\n",
               model.c_str(), header.c_str());
}

}  // namespace mer::models
