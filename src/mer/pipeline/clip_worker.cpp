#include "mer/pipeline/clip_worker.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "mer/core/atomic_file.h"
#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/core/json_file.h"
#include "mer/face/image_io.h"
#include "mer/face/occlusion.h"
#include "mer/face/video_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mer::pipeline {

namespace {

using Clock = std::chrono::steady_clock;

// Writes bytes under a temporary name in the same folder, then renames: readers see either
// the old file or the whole new one.
void write_bytes_atomic(const fs::path& path, const void* data, size_t size) {
  write_file_atomic(path.string(), std::string_view(static_cast<const char*>(data), size));
}

void write_text_atomic(const fs::path& path, const std::string& text) {
  write_bytes_atomic(path, text.data(), text.size());
}

void write_image_atomic(const fs::path& path, const cv::Mat& image, int jpeg_quality) {
  std::vector<uchar> bytes;
  std::vector<int> params;
  if (path.extension() == ".jpg") params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
  if (!cv::imencode(path.extension().string(), image, bytes, params)) {
    throw DataError(path.string() + ": cannot encode image");
  }
  write_bytes_atomic(path, bytes.data(), bytes.size());
}

// What a clip's output depends on besides the parameters: each frame file's path, size and
// modification time (a fixed or replaced frame recomputes the clip).
json frame_signature(const std::vector<std::string>& paths) {
  json out = json::array();
  for (const auto& p : paths) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    const auto mtime = fs::last_write_time(p, ec).time_since_epoch().count();
    out.push_back({p, ec ? -1 : static_cast<int64_t>(size), ec ? 0 : static_cast<int64_t>(mtime)});
  }
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Paths of the files of one clip, relative to the output folder.
struct ClipFiles {
  std::string flow, face, onset, landmarks, record;
  explicit ClipFiles(const std::string& key)
      : flow("flow/" + key + ".png"),
        face("face/" + key + ".jpg"),
        onset("onset/" + key + ".jpg"),
        landmarks("landmarks/" + key + ".csv"),
        record("clips/" + key + ".json") {}
};

}  // namespace

ClipWorker::ClipWorker(const PrepareOptions& options, const fs::path& out,
                       const face::ClipPreprocessor& prototype, const std::string& parameters_hash)
    : options_(options), out_(out), preprocessor_(prototype), hash_(parameters_hash) {}

ClipOutcome ClipWorker::skipped(const ClipJob& job, std::string reason, std::string file,
                                std::string detail) {
  ClipOutcome o;
  o.state = ClipOutcome::State::kSkipped;
  o.skipped = {job.sample.dataset, job.sample.subject, job.sample.sample,
               std::move(reason),  std::move(file),    std::move(detail)};
  return o;
}

bool ClipWorker::reuse(const std::string& key, const json& inputs, ClipOutcome& o) const {
  const ClipFiles files(key);
  auto previous = read_json_if_valid(out_ / files.record);
  if (!previous) return false;
  const bool same = previous->value("version", 0) == kPrepareCacheVersion &&
                    previous->value("parameters_hash", "") == hash_ &&
                    previous->contains("inputs") && (*previous)["inputs"] == inputs;
  const bool files_there =
      fs::is_regular_file(out_ / files.flow) && fs::is_regular_file(out_ / files.face) &&
      fs::is_regular_file(out_ / files.onset) && fs::is_regular_file(out_ / files.landmarks);
  if (same && files_there) {
    o.state = ClipOutcome::State::kCached;
    o.record = std::move(*previous);
    return true;
  }
  o.recomputed = true;
  return false;
}

ClipOutcome ClipWorker::run(const ClipJob& job) {
  ClipOutcome o;
  const auto& a = job.sample.clip;
  auto skip = [&](std::string reason, std::string file, std::string detail) {
    return skipped(job, std::move(reason), std::move(file), std::move(detail));
  };
  const std::string& root = options_.frames_root();
  // Key frames: onset and apex, or every frame onset..offset when the sheet has no apex.
  std::vector<int> numbers;
  if (a.apex >= 0) {
    numbers = {a.onset, a.apex};
  } else {
    if (a.offset <= a.onset) {
      return skip("bad_sheet_row", a.source + ":" + std::to_string(a.source_row),
                  "no apex and no offset after the onset: nothing to spot the apex in");
    }
    for (int n = a.onset; n <= a.offset; ++n) numbers.push_back(n);
  }
  if (options_.videos()) return run_video(job, numbers);
  std::vector<std::string> paths;
  std::vector<int> found_numbers;
  for (size_t i = 0; i < numbers.size(); ++i) {
    try {
      paths.push_back(data::find_frame(root, a, numbers[i]));
      found_numbers.push_back(numbers[i]);
    } catch (const DataError& e) {
      // In a sequence, a missing frame in the middle is only a gap; the onset must exist.
      if (a.apex >= 0 || i == 0) {
        return skip("missing_frame", (fs::path(root) / a.frame_file(numbers[i])).string(),
                    e.what());
      }
    }
  }
  if (paths.size() < 2) {
    return skip("missing_frame", (fs::path(root) / a.frame_file(a.onset + 1)).string(),
                "fewer than 2 frames of " + a.key() + " found under " + root);
  }

  const json inputs = {{"frames", frame_signature(paths)}, {"apex_given", a.apex >= 0}};
  if (reuse(job.key, inputs, o)) return o;

  const face::ImageMode mode =
      options_.preprocessing().colour_crops() ? face::ImageMode::kColour : face::ImageMode::kGrey;
  std::vector<cv::Mat> frames;
  for (const auto& p : paths) {
    try {
      frames.push_back(face::read_image(p, mode));
    } catch (const DataError& e) {
      return skip(fs::exists(p) ? "unreadable_image" : "missing_frame", p, e.what());
    }
  }
  return finish(job, frames, paths, found_numbers, inputs, std::move(o));
}

ClipOutcome ClipWorker::run_video(const ClipJob& job, const std::vector<int>& numbers) {
  ClipOutcome o;
  const auto& a = job.sample.clip;
  auto skip = [&](std::string reason, std::string file, std::string detail) {
    return skipped(job, std::move(reason), std::move(file), std::move(detail));
  };
  const fs::path root(options_.frames_root());
  std::vector<fs::path> candidates;
  for (const auto& stem :
       {fs::path(a.subject) / a.clip, fs::path(a.clip), fs::path(a.frame_dir())}) {
    if (stem.empty()) continue;
    for (const char* ext : {".avi", ".mp4", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv",
                            ".webm", ".AVI", ".MP4", ".MOV"}) {
      candidates.push_back(root / (stem.string() + ext));
    }
  }
  std::string video;
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c)) {
      video = c.string();
      break;
    }
  }
  if (video.empty()) {
    return skip("missing_frame", (root / a.subject / (a.clip + ".avi")).string(),
                "no video of " + a.key() + " under " + root.string() +
                    " (tried <subject>/<clip>, "
                    "<clip> and the clip's frame folder name with the video extensions)");
  }
  const json inputs = {
      {"video", frame_signature({video})}, {"frames", numbers}, {"apex_given", a.apex >= 0}};
  if (reuse(job.key, inputs, o)) return o;
  const face::ImageMode mode =
      options_.preprocessing().colour_crops() ? face::ImageMode::kColour : face::ImageMode::kGrey;
  std::vector<cv::Mat> frames;
  std::vector<int64_t> wanted(numbers.begin(), numbers.end());
  try {
    frames = face::read_video_frames_at(video, mode, wanted);
  } catch (const DataError& e) {
    const bool range = std::string(e.what()).find("out of range") != std::string::npos;
    return skip(range ? "missing_frame" : "unreadable_image", video, e.what());
  }
  std::vector<std::string> paths;
  for (int n : numbers) paths.push_back(face::video_frame_name(video, n));
  return finish(job, frames, paths, numbers, inputs, std::move(o));
}

ClipOutcome ClipWorker::finish(const ClipJob& job, const std::vector<cv::Mat>& frames,
                               const std::vector<std::string>& paths,
                               const std::vector<int>& found_numbers, const json& inputs,
                               ClipOutcome o) {
  const auto& a = job.sample.clip;
  auto skip = [&](std::string reason, std::string file, std::string detail) {
    return skipped(job, std::move(reason), std::move(file), std::move(detail));
  };
  const std::string& root = options_.frames_root();
  const ClipFiles files(job.key);
  // Frames occluded by `mer occlude` come with the clean onset's landmarks: the face is
  // where it was before the occluder was drawn, and a detector may miss a masked face.
  std::optional<face::Landmarks> given_landmarks;
  const fs::path given_file = fs::path(root) / "occlusion" / (job.key + "_landmarks.csv");
  if (fs::is_regular_file(given_file)) {
    try {
      const auto rows = csv::read_file(given_file.string());
      if (rows.size() < 1 + face::kNumLandmarks) throw DataError("fewer than 68 points");
      face::Landmarks points;
      for (int i = 0; i < face::kNumLandmarks; ++i) {
        const auto& f = rows[static_cast<size_t>(i) + 1].fields;
        if (f.size() < 2) throw DataError("row " + std::to_string(i + 2) + " has no x,y");
        points[static_cast<size_t>(i)] = cv::Point2f(std::stof(f[0]), std::stof(f[1]));
      }
      given_landmarks = points;
    } catch (const std::exception& e) {
      return skip("bad_frame", given_file.string(),
                  std::string("unreadable landmarks: ") + e.what());
    }
  }
  face::PreparedClip clip;
  const auto start = Clock::now();
  try {
    clip = preprocessor_.process_frames(
        frames, paths, a.apex >= 0 ? std::optional<int>(1) : std::nullopt, given_landmarks);
  } catch (const DataError& e) {
    const std::string what = e.what();
    if (starts_with(what, "no face found")) return skip("no_face", paths[0], what);
    for (const auto& p : paths) {
      if (starts_with(what, p + ": no face in the apex frame")) return skip("no_face", p, what);
    }
    std::string file = paths[0];
    for (const auto& p : paths) {
      if (starts_with(what, p)) file = p;
    }
    return skip("bad_frame", file, what);
  } catch (const std::exception& e) {
    return skip("error", paths[0], e.what());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  try {
    for (const char* dir : {"flow", "face", "onset", "landmarks", "clips"}) {
      fs::create_directories(out_ / dir);
    }
    const int q = options_.jpeg_quality();
    write_image_atomic(out_ / files.flow, clip.flow_map, q);
    write_image_atomic(out_ / files.face, clip.apex_crop, q);
    write_image_atomic(out_ / files.onset, clip.onset_crop, q);
    std::string csv = "x,y\n";
    json points = json::array();
    for (const auto& p : clip.landmarks) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.2f,%.2f\n", p.x, p.y);
      csv += buf;
      points.push_back({std::round(p.x * 100) / 100, std::round(p.y * 100) / 100});
    }
    write_text_atomic(out_ / files.landmarks, csv);
    // Frames occluded by `mer occlude`: the clip's coverage mask, warped through the clip's
    // alignment and resized like the flow, so that the prepared folder says which flow
    // pixels lie under the occluder (region-weight analysis, bench/occlusion_weights.py).
    const fs::path coverage_file = fs::path(root) / "occlusion" / (job.key + ".png");
    if (fs::is_regular_file(coverage_file)) {
      cv::Mat coverage;
      try {
        coverage = face::read_image(coverage_file.string(), face::ImageMode::kGrey);
      } catch (const DataError& e) {
        return skip("unreadable_image", coverage_file.string(), e.what());
      }
      const int side = clip.alignment.output_size;
      cv::Mat crop;
      cv::warpAffine(coverage, crop, cv::Mat(clip.alignment.matrix), {side, side}, cv::INTER_LINEAR,
                     cv::BORDER_CONSTANT, cv::Scalar(0));
      fs::create_directories(out_ / "occlusion");
      write_image_atomic(out_ / "occlusion" / (job.key + ".png"),
                         face::resize_coverage(crop, clip.flow_map.size()), q);
    }
    const int apex_frame = found_numbers.at(static_cast<size_t>(clip.apex_index));
    o.record = {{"format", "mer-prepared-clip"},
                {"version", kPrepareCacheVersion},
                {"parameters_hash", hash_},
                {"inputs", inputs},
                {"dataset", job.sample.dataset},
                {"subject", job.sample.subject},
                {"clip", job.sample.sample},
                {"onset_frame", a.onset},
                {"apex_frame", apex_frame},
                {"offset_frame", a.offset},
                {"apex_spotted", clip.apex_spotted},
                {"files",
                 {{"flow", files.flow},
                  {"face", files.face},
                  {"onset_face", files.onset},
                  {"landmarks", files.landmarks}}},
                {"landmarks", points},
                {"seconds", std::round(seconds * 1e4) / 1e4}};
    if (clip.apex_spotted) o.record["apex_scores"] = clip.apex_scores;
    // The record goes last: it is what marks the clip finished.
    write_text_atomic(out_ / files.record, o.record.dump(1));
  } catch (const IoError&) {
    throw;  // the disk, not the clip: prepare_dataset stops the run
  } catch (const std::exception& e) {
    return skip("error", (out_ / files.record).string(), e.what());
  }
  o.state = ClipOutcome::State::kComputed;
  return o;
}

}  // namespace mer::pipeline
