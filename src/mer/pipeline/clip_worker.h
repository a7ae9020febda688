#pragma once
// One clip of `mer prepare`: its key frames (frame files, or frames decoded from the clip's
// video), the face pipeline, and its files (flow map, face crops, landmarks) followed by the
// record that marks the clip finished. A clip whose record matches the parameters and inputs
// is reused as it is, so an interrupted or repeated run only computes what changed.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mer/face/clip_preprocessor.h"
#include "mer/pipeline/prepare.h"

namespace mer::pipeline {

struct ClipJob {
  data::ProtocolSample sample;
  std::string key;  // <dataset>_<subject>_<clip>, file-name safe
};

// The result of one clip, kept in memory for labels.csv.
struct ClipOutcome {
  enum class State { kPending, kComputed, kCached, kSkipped } state = State::kPending;
  bool recomputed = false;  // a record was there but no longer matched
  nlohmann::json record;
  SkippedClip skipped;
};

// Prepares clips into one output folder; one worker per thread (it owns a copy of the face
// pipeline).
class ClipWorker {
 public:
  // parameters_hash: the hash of the preprocessing parameters, recorded with every clip.
  ClipWorker(const PrepareOptions& options, const std::filesystem::path& out,
             const face::ClipPreprocessor& prototype, const std::string& parameters_hash);

  // Computes (or reuses) the clip. A problem of the clip (a missing or unreadable frame, no
  // face, ...) is a skipped outcome naming the file; a failed write (IoError) is thrown, since
  // the disk, not the clip, is at fault.
  ClipOutcome run(const ClipJob& job);

 private:
  static ClipOutcome skipped(const ClipJob& job, std::string reason, std::string file,
                             std::string detail);
  // True (with o filled) when the clip's record and files are there and match `inputs`;
  // o.recomputed says a record was there but is out of date.
  bool reuse(const std::string& key, const nlohmann::json& inputs, ClipOutcome& o) const;
  ClipOutcome run_video(const ClipJob& job, const std::vector<int>& numbers);
  // From decoded key frames to the clip's files and record.
  ClipOutcome finish(const ClipJob& job, const std::vector<cv::Mat>& frames,
                     const std::vector<std::string>& paths, const std::vector<int>& found_numbers,
                     const nlohmann::json& inputs, ClipOutcome o);

  const PrepareOptions& options_;
  std::filesystem::path out_;
  face::ClipPreprocessor preprocessor_;
  std::string hash_;
};

}  // namespace mer::pipeline
