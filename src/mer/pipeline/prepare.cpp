#include "mer/pipeline/prepare.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <set>
#include <thread>

#include <sys/resource.h>

#include "mer/core/checksum.h"
#include "mer/core/csv.h"
#include "mer/core/atomic_file.h"
#include "mer/core/error.h"
#include "mer/core/progress.h"
#include "mer/core/version.h"
#include "mer/face/image_io.h"
#include "mer/face/video_io.h"
#include "mer/face/occlusion.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mer::pipeline {

namespace {

using Clock = std::chrono::steady_clock;

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

// Reasons that say a clip could not be prepared (they count against the share).
const std::set<std::string> kFailureReasons = {"missing_frame", "unreadable_image", "no_face",
                                               "bad_frame",     "error",            "unknown_label",
                                               "bad_sheet_row"};

json parameters_json(const PrepareOptions& o) {
  json p = preprocessing_to_json(o.preprocessing());
  p["jpeg_quality"] = o.jpeg_quality();
  p["cache_version"] = kPrepareCacheVersion;
  return p;
}

std::string hash_of(const json& j) {
  Fnv1a h;
  h.update(j.dump());
  return h.hex();
}

std::string safe_name(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    out += ok ? c : '_';
  }
  return out;
}

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

std::optional<json> read_json(const fs::path& path) {
  if (!fs::is_regular_file(path)) return std::nullopt;
  try {
    std::ifstream in(path);
    return json::parse(in);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Sheet rows the adapter skipped: an emotion problem is an unknown label, the rest a bad row.
SkippedClip from_sheet_row(const std::string& dataset, const data::SkippedRow& row) {
  const bool label = row.reason.find("emotion") != std::string::npos;
  return {dataset, "", "", label ? "unknown_label" : "bad_sheet_row",
          row.source + ":" + std::to_string(row.row), row.reason};
}

struct Job {
  data::ProtocolSample sample;
  std::string key;  // <dataset>_<subject>_<clip>, file-name safe
};

// The result of one clip, kept in memory for labels.csv.
struct Outcome {
  enum class State { kPending, kComputed, kCached, kSkipped } state = State::kPending;
  bool recomputed = false;
  json record;
  SkippedClip skipped;
};

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

class ClipWorker {
 public:
  ClipWorker(const PrepareOptions& options, const fs::path& out, const face::ClipPreprocessor& proto,
             const std::string& parameters_hash)
      : options_(options), out_(out), preprocessor_(proto), hash_(parameters_hash) {}

  Outcome run(const Job& job) {
    Outcome o;
    const auto& a = job.sample.clip;
    auto skip = [&](std::string reason, std::string file, std::string detail) {
      o.state = Outcome::State::kSkipped;
      o.skipped = {job.sample.dataset, job.sample.subject, job.sample.sample, std::move(reason),
                   std::move(file), std::move(detail)};
      return o;
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
    if (options_.videos()) return run_video(job, numbers, skip);
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

    const ClipFiles files(job.key);
    const json inputs = {{"frames", frame_signature(paths)}, {"apex_given", a.apex >= 0}};
    if (auto previous = read_json(out_ / files.record)) {
      const bool same = previous->value("version", 0) == kPrepareCacheVersion &&
                        previous->value("parameters_hash", "") == hash_ &&
                        previous->contains("inputs") && (*previous)["inputs"] == inputs;
      const bool files_there =
          fs::is_regular_file(out_ / files.flow) && fs::is_regular_file(out_ / files.face) &&
          fs::is_regular_file(out_ / files.onset) && fs::is_regular_file(out_ / files.landmarks);
      if (same && files_there) {
        o.state = Outcome::State::kCached;
        o.record = std::move(*previous);
        return o;
      }
      o.recomputed = true;
    }

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
    return finish(job, frames, paths, found_numbers, inputs, std::move(o), skip);
  }

 private:
  template <typename Skip>
  Outcome run_video(const Job& job, const std::vector<int>& numbers, Skip& skip) {
    Outcome o;
    const auto& a = job.sample.clip;
    const fs::path root(options_.frames_root());
    std::vector<fs::path> candidates;
    for (const auto& stem : {fs::path(a.subject) / a.clip, fs::path(a.clip), fs::path(a.frame_dir())}) {
      if (stem.empty()) continue;
      for (const char* ext : {".avi", ".mp4", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm",
                              ".AVI", ".MP4", ".MOV"}) {
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
                  "no video of " + a.key() + " under " + root.string() + " (tried <subject>/<clip>, "
                  "<clip> and the clip's frame folder name with the video extensions)");
    }
    const ClipFiles files(job.key);
    const json inputs = {{"video", frame_signature({video})}, {"frames", numbers},
                         {"apex_given", a.apex >= 0}};
    if (auto previous = read_json(out_ / files.record)) {
      const bool same = previous->value("version", 0) == kPrepareCacheVersion &&
                        previous->value("parameters_hash", "") == hash_ &&
                        previous->contains("inputs") && (*previous)["inputs"] == inputs;
      const bool files_there =
          fs::is_regular_file(out_ / files.flow) && fs::is_regular_file(out_ / files.face) &&
          fs::is_regular_file(out_ / files.onset) && fs::is_regular_file(out_ / files.landmarks);
      if (same && files_there) {
        o.state = Outcome::State::kCached;
        o.record = std::move(*previous);
        return o;
      }
      o.recomputed = true;
    }
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
    return finish(job, frames, paths, numbers, inputs, std::move(o), skip);
  }

  // From decoded key frames to the clip's files and record.
  template <typename Skip>
  Outcome finish(const Job& job, const std::vector<cv::Mat>& frames,
                 const std::vector<std::string>& paths, const std::vector<int>& found_numbers,
                 const json& inputs, Outcome o, Skip& skip) {
    const auto& a = job.sample.clip;
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
        return skip("bad_frame", given_file.string(), std::string("unreadable landmarks: ") + e.what());
      }
    }
    face::PreparedClip clip;
    const auto start = Clock::now();
    try {
      clip = preprocessor_.process_frames(frames, paths,
                                          a.apex >= 0 ? std::optional<int>(1) : std::nullopt,
                                          given_landmarks);
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
        cv::warpAffine(coverage, crop, cv::Mat(clip.alignment.matrix), {side, side},
                       cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0));
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
      throw;  // the disk, not the clip: stops the run (see below)
    } catch (const std::exception& e) {
      return skip("error", (out_ / files.record).string(), e.what());
    }
    o.state = Outcome::State::kComputed;
    return o;
  }

 private:
  const PrepareOptions& options_;
  fs::path out_;
  face::ClipPreprocessor preprocessor_;
  std::string hash_;
};

// The "all" protocol: every clip, labelled with its coded emotion, classes sorted by name.
data::Selection select_all(const std::vector<data::ClipAnnotation>& clips,
                           const data::ProtocolOptions& options) {
  data::Selection s;
  s.protocol = "all";
  std::set<std::string> names;
  for (const auto& a : clips) names.insert(a.emotion);
  s.class_names.assign(names.begin(), names.end());
  for (const auto& a : clips) {
    const bool excluded = std::any_of(options.exclude().begin(), options.exclude().end(),
                                      [&](const data::ClipRef& r) { return r.matches(a); });
    if (excluded) {
      s.excluded.push_back({a.dataset, a.subject, a.clip, "on the exclusion list (flagged, --exclude-flagged)"});
      continue;
    }
    const auto label = std::find(s.class_names.begin(), s.class_names.end(), a.emotion) -
                       s.class_names.begin();
    s.samples.push_back({a.dataset, a.subject, a.clip, label, a.emotion, a});
  }
  return s;
}

data::Selection select(const PrepareOptions& o, const std::vector<data::ClipAnnotation>& clips,
                       const data::ProtocolOptions& selection, std::vector<std::string>& notes) {
  if (o.protocol() == "all") return select_all(clips, selection);
  if (o.protocol() != "megc2019") {
    return data::select_protocol(o.protocol(), {{o.dataset(), clips}}, selection);
  }
  // The composite from one database: the other parts are simply absent.
  const std::vector<data::ClipAnnotation> none;
  const bool c = o.dataset() == "casme2", sa = o.dataset() == "samm", sm = o.dataset() == "smic";
  if (!c && !sa && !sm) {
    throw ConfigError("protocol megc2019 covers casme2, samm and smic, not " + o.dataset());
  }
  data::Selection s = data::select_megc2019(c ? clips : none, sa ? clips : none,
                                            sm ? clips : none, selection);
  // The list's entries of the other databases are expected to be missing here.
  int64_t others = 0;
  std::vector<std::string> kept;
  for (auto& n : s.notes) {
    const bool foreign = n.find("is in the MEGC2019 list but not among the clips read") !=
                             std::string::npos &&
                         n.find(": " + o.dataset() + " ") == std::string::npos;
    if (foreign) ++others;
    else kept.push_back(std::move(n));
  }
  s.notes = std::move(kept);
  if (others > 0) {
    notes.push_back("megc2019: " + std::to_string(others) +
                    " entries of the list belong to the other databases and are not prepared "
                    "here (prepare each database, then train on the part you want)");
  }
  return s;
}

void check_out_dir(const fs::path& out, std::optional<json>& manifest) {
  manifest.reset();
  if (!fs::exists(out)) return;
  if (!fs::is_directory(out)) throw ConfigError(out.string() + ": exists and is not a folder");
  const fs::path file = out / "manifest.json";
  if (!fs::exists(file)) {
    if (fs::directory_iterator(out) != fs::directory_iterator()) {
      throw ConfigError(out.string() + ": not empty and not a `mer prepare` folder (no "
                        "manifest.json); choose a new or empty --out");
    }
    return;
  }
  manifest = read_json(file);
  if (!manifest || manifest->value("format", "") != kPreparedFormat) {
    throw ConfigError(file.string() + ": unreadable or not a mer prepare manifest; choose "
                      "another --out or remove the folder");
  }
  const int version = manifest->value("version", 0);
  if (version != kPrepareCacheVersion) {
    throw ConfigError(file.string() + ": prepare cache version " + std::to_string(version) +
                      " is not supported (this mer writes version " +
                      std::to_string(kPrepareCacheVersion) + "); prepare into a new --out");
  }
}

std::string label_csv_header() {
  std::vector<std::string> h = {"dataset",      "subject",     "sample",       "label",
                                "emotion",      "flow",        "face",         "onset_face",
                                "landmarks",    "onset_frame", "apex_frame",   "offset_frame",
                                "apex_spotted", "coded_emotion", "action_units"};
  for (int au : data::kActionUnitList) h.push_back("au" + std::to_string(au));
  return csv::join(h);
}

}  // namespace

face::ClipPreprocessorOptions default_preprocessing() {
  return face::ClipPreprocessorOptions().alignment(face::AlignmentOptions::megc2019());
}

const std::vector<std::string>& framing_names() {
  static const std::vector<std::string> names = {"megc2019", "margin", "whole-frame"};
  return names;
}

face::AlignmentOptions framing_by_name(const std::string& name) {
  if (name == "megc2019") return face::AlignmentOptions::megc2019();
  if (name == "margin") return face::AlignmentOptions();
  if (name == "whole-frame") return face::AlignmentOptions().framing(face::Framing::kWholeFrame);
  throw ConfigError("unknown framing '" + name + "' (known: megc2019, margin, whole-frame)");
}

std::vector<std::string> prepare_protocol_names() {
  auto names = data::protocol_names();
  names.push_back("all");
  return names;
}

void PrepareOptions::validate() const {
  const auto& dbs = data::database_names();
  if (std::find(dbs.begin(), dbs.end(), dataset()) == dbs.end()) {
    std::string list;
    for (const auto& d : dbs) list += (list.empty() ? "" : ", ") + d;
    throw ConfigError("prepare: unknown dataset '" + dataset() + "' (known: " + list + ")");
  }
  const auto protocols = prepare_protocol_names();
  if (std::find(protocols.begin(), protocols.end(), protocol()) == protocols.end()) {
    std::string list;
    for (const auto& p : protocols) list += (list.empty() ? "" : ", ") + p;
    throw ConfigError("prepare: unknown protocol '" + protocol() + "' (known: " + list + ")");
  }
  if (frames_root().empty()) throw ConfigError("prepare: frames_root (--root) is empty");
  if (annotations().empty()) throw ConfigError("prepare: annotations (--annotations) is empty");
  if (jobs() < 1 || jobs() > 256) {
    throw ConfigError("prepare: jobs must be 1..256, got " + std::to_string(jobs()));
  }
  if (jpeg_quality() < 1 || jpeg_quality() > 100) {
    throw ConfigError("prepare: jpeg_quality must be 1..100, got " + std::to_string(jpeg_quality()));
  }
  adapter().validate(dataset());
  selection().validate();
  preprocessing().validate();
}

int64_t PrepareReport::failed() const {
  int64_t n = 0;
  for (const auto& s : skipped) {
    const bool sheet_row = s.reason == "bad_sheet_row" || s.reason == "unknown_label";
    n += kFailureReasons.count(s.reason) && (sheet_rows_count || !sheet_row) ? 1 : 0;
  }
  return n;
}

double PrepareReport::share_prepared() const {
  const int64_t total = prepared() + failed();
  return total == 0 ? 1.0 : static_cast<double>(prepared()) / static_cast<double>(total);
}

std::map<std::string, int64_t> PrepareReport::skipped_by_reason() const {
  std::map<std::string, int64_t> counts;
  for (const auto& s : skipped) ++counts[s.reason];
  return counts;
}

PrepareReport prepare_dataset(const PrepareOptions& options, const std::string& out_dir) {
  options.validate();
  const fs::path out(out_dir);
  if (!fs::is_directory(options.frames_root())) {
    throw DataError(options.frames_root() + (options.videos() ? ": video root is not a folder"
                                                              : ": frames root is not a folder"));
  }
  std::optional<json> manifest;
  check_out_dir(out, manifest);

  PrepareReport report;
  report.out_dir = out_dir;
  report.sheet_rows_count = options.protocol() == "all";
  const data::AnnotationSet sheet =
      data::read_annotations(options.dataset(), options.annotations(), options.adapter());
  report.annotated = static_cast<int64_t>(sheet.clips.size());
  report.notes.insert(report.notes.end(), sheet.notes.begin(), sheet.notes.end());

  data::ProtocolOptions selection = options.selection();
  if (options.exclude_flagged()) {
    std::vector<data::ClipRef> flagged;
    if (options.flags_sheet().empty() || options.flags_sheet() == options.annotations()) {
      flagged = data::flagged_clips(sheet.clips);
    } else {
      flagged = data::flagged_clips(
          data::read_annotations(options.dataset(), options.flags_sheet(), options.adapter()).clips);
    }
    auto exclude = selection.exclude();
    exclude.insert(exclude.end(), flagged.begin(), flagged.end());
    selection.exclude(exclude);
    report.notes.push_back("excluding " + std::to_string(flagged.size()) + " flagged clip(s) of " +
                           (options.flags_sheet().empty() ? options.annotations()
                                                          : options.flags_sheet()));
  }
  const data::Selection chosen = select(options, sheet.clips, selection, report.notes);
  report.notes.insert(report.notes.end(), chosen.notes.begin(), chosen.notes.end());

  std::vector<Job> jobs;
  std::vector<bool> only_used(options.only().size(), false);
  for (const auto& s : chosen.samples) {
    if (!options.only().empty()) {
      bool wanted = false;
      for (size_t k = 0; k < options.only().size(); ++k) {
        if (options.only()[k].matches(s.clip)) wanted = only_used[k] = true;
      }
      if (!wanted) continue;
    }
    jobs.push_back({s, safe_name(s.dataset + "_" + s.subject + "_" + s.sample)});
  }
  for (size_t k = 0; k < options.only().size(); ++k) {
    if (!only_used[k]) {
      const auto& r = options.only()[k];
      report.notes.push_back("--only " + r.subject + "/" + r.clip +
                             ": not among the clips the protocol selected");
    }
  }
  if (jobs.empty()) {
    throw ConfigError("prepare: no clip to prepare (" + std::to_string(sheet.clips.size()) +
                      " read from " + options.annotations() + ", " +
                      std::to_string(chosen.samples.size()) + " selected by protocol " +
                      options.protocol() + (options.only().empty() ? "" : ", none matches --only") +
                      ")");
  }
  report.selected = static_cast<int64_t>(jobs.size());

  // Manifest first: it claims the folder and records what the clips are computed with.
  const json parameters = parameters_json(options);
  const std::string parameters_hash = hash_of(parameters);
  if (manifest && manifest->contains("parameters") && (*manifest)["parameters"] != parameters) {
    report.notes.push_back("parameters changed since the last run into " + out_dir + " (" +
                           describe_changes((*manifest)["parameters"], parameters) +
                           "): its clips are recomputed");
  }
  fs::create_directories(out);
  json m = {{"format", kPreparedFormat},
            {"version", kPrepareCacheVersion},
            {"mer_version", kVersion},
            {"parameters", parameters},
            {"parameters_hash", parameters_hash},
            {"dataset", options.dataset()},
            {"annotations", options.annotations()},
            {"frames_root", options.frames_root()},
            {"videos", options.videos()},
            {"protocol", options.protocol()},
            {"exclude_flagged", options.exclude_flagged()},
            {"megc2019_list", options.selection().megc2019_list()}};
  write_text_atomic(out / "manifest.json", m.dump(2));

  // Only the landmark model load can fail here (a DataError naming it).
  const face::ClipPreprocessor prototype(options.preprocessing());
  // The workers are the parallelism: OpenCV's own threads on top would oversubscribe.
  const int cv_threads = cv::getNumThreads();
  cv::setNumThreads(1);
  std::vector<Outcome> outcomes(jobs.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> labels_removed{false};
  std::mutex labels_mutex;
  Progress progress("prepare " + options.dataset(), static_cast<int64_t>(jobs.size()));
  progress.set_quiet(options.quiet());
  const auto start = Clock::now();
  const double cpu_start = process_cpu_seconds();
  // A failed write (full disk, quota, read-only) stops every worker: the same failure would
  // skip every later clip. Finished clips stay; a rerun after freeing space resumes.
  std::exception_ptr io_failure;
  std::mutex io_mutex;
  auto work = [&] {
    ClipWorker worker(options, out, prototype, parameters_hash);
    for (size_t i = next++; i < jobs.size(); i = next++) {
      {
        std::lock_guard<std::mutex> lock(io_mutex);
        if (io_failure) return;
      }
      Outcome o;
      try {
        o = worker.run(jobs[i]);
      } catch (const IoError&) {
        std::lock_guard<std::mutex> lock(io_mutex);
        if (!io_failure) io_failure = std::current_exception();
        return;
      } catch (const std::exception& e) {  // a bug or the system, not the clip: keep going
        o.state = Outcome::State::kSkipped;
        o.skipped = {jobs[i].sample.dataset, jobs[i].sample.subject, jobs[i].sample.sample,
                     "error", "", e.what()};
      }
      if (o.state == Outcome::State::kComputed && !labels_removed) {
        // The folder no longer matches its labels.csv until the end of the run.
        std::lock_guard<std::mutex> lock(labels_mutex);
        if (!labels_removed) {
          std::error_code ec;
          fs::remove(out / "labels.csv", ec);
          labels_removed = true;
        }
      }
      const char* state = o.state == Outcome::State::kCached     ? "cached"
                          : o.state == Outcome::State::kComputed ? "done"
                                                                 : "skipped";
      progress.advance(1, jobs[i].key + " " + state);
      outcomes[i] = std::move(o);
    }
  };
  std::vector<std::thread> threads;
  const int n_threads = std::min<int>(options.jobs(), static_cast<int>(jobs.size()));
  for (int t = 0; t < n_threads; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  progress.finish();
  cv::setNumThreads(cv_threads);
  if (io_failure) std::rethrow_exception(io_failure);
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu_seconds = process_cpu_seconds() - cpu_start;
  report.jobs = n_threads;

  // Classes: the protocol's, less any that no prepared clip has (read_prepared wants every
  // label 0..K-1 present), in protocol order.
  std::vector<bool> present(chosen.class_names.size(), false);
  for (size_t i = 0; i < jobs.size(); ++i) {
    const auto& o = outcomes[i];
    if (o.state == Outcome::State::kComputed || o.state == Outcome::State::kCached) {
      present[static_cast<size_t>(jobs[i].sample.label)] = true;
    }
  }
  std::vector<int64_t> new_label(chosen.class_names.size(), -1);
  for (size_t k = 0; k < chosen.class_names.size(); ++k) {
    if (present[k]) {
      new_label[k] = static_cast<int64_t>(report.class_names.size());
      report.class_names.push_back(chosen.class_names[k]);
    } else {
      report.notes.push_back("class " + chosen.class_names[k] +
                             " has no prepared clip and is left out of labels.csv");
    }
  }

  std::string labels = label_csv_header() + "\n";
  // The onset landmarks of every prepared clip, also gathered into the folder's landmarks.csv
  // (the format of data/landmarks_io.h, written here by hand: this library has no LibTorch),
  // so that landmark-based models place their nodes and regions on each clip's own face
  // without a `mer landmarks` pass over the crops.
  std::string landmark_csv = "dataset,subject,sample,face_size";
  for (int k = 0; k < face::kNumLandmarks; ++k) {
    landmark_csv += ",x" + std::to_string(k) + ",y" + std::to_string(k);
  }
  landmark_csv += ",source\n";
  const std::string crop_side = std::to_string(options.preprocessing().alignment().output_size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    const auto& o = outcomes[i];
    const auto& s = jobs[i].sample;
    if (o.state == Outcome::State::kSkipped || o.state == Outcome::State::kPending) {
      report.skipped.push_back(o.skipped);
      continue;
    }
    if (o.state == Outcome::State::kCached) ++report.cached;
    else ++report.computed;
    report.recomputed += o.recomputed ? 1 : 0;
    const json& r = o.record;
    const auto& files = r.at("files");
    std::vector<std::string> row = {s.dataset,
                                    s.subject,
                                    s.sample,
                                    std::to_string(new_label[static_cast<size_t>(s.label)]),
                                    s.emotion,
                                    files.at("flow").get<std::string>(),
                                    files.at("face").get<std::string>(),
                                    files.at("onset_face").get<std::string>(),
                                    files.at("landmarks").get<std::string>(),
                                    std::to_string(r.at("onset_frame").get<int>()),
                                    std::to_string(r.at("apex_frame").get<int>()),
                                    std::to_string(r.at("offset_frame").get<int>()),
                                    r.at("apex_spotted").get<bool>() ? "1" : "0",
                                    s.clip.emotion_raw,
                                    s.clip.action_units.text};
    for (float v : s.clip.action_units.vector) row.push_back(v > 0 ? "1" : "0");
    labels += csv::join(row) + "\n";
    const json& points = r.at("landmarks");
    if (points.size() != static_cast<size_t>(face::kNumLandmarks)) {
      throw DataError((out / "clips" / (jobs[i].key + ".json")).string() + ": " +
                      std::to_string(points.size()) + " landmarks in the clip record, expected " +
                      std::to_string(face::kNumLandmarks));
    }
    std::vector<std::string> lm = {s.dataset, s.subject, s.sample, crop_side};
    for (const auto& p : points) {
      char x[32], y[32];
      std::snprintf(x, sizeof x, "%.2f", p.at(0).get<double>());
      std::snprintf(y, sizeof y, "%.2f", p.at(1).get<double>());
      lm.push_back(x);
      lm.push_back(y);
    }
    lm.push_back("onset");
    landmark_csv += csv::join(lm) + "\n";
  }
  if (options.only().empty()) {
    for (const auto& row : sheet.skipped) report.skipped.push_back(from_sheet_row(options.dataset(), row));
  }
  for (const auto& e : chosen.excluded) {
    report.skipped.push_back({e.dataset, e.subject, e.clip, "not_in_protocol", "", e.reason});
  }

  std::string skipped = "dataset,subject,clip,reason,file,detail\n";
  for (const auto& s : report.skipped) {
    skipped += csv::join({s.dataset, s.subject, s.clip, s.reason, s.file, s.detail}) + "\n";
  }
  write_text_atomic(out / "skipped.csv", skipped);
  report.clips_per_second =
      report.computed > 0 && report.seconds > 0 ? report.computed / report.seconds : 0.0;
  report.cpu_seconds_per_clip = report.computed > 0 ? cpu_seconds / report.computed : 0.0;

  m["class_names"] = report.class_names;
  m["counts"] = {{"annotated", report.annotated}, {"selected", report.selected},
                 {"prepared", report.prepared()}, {"skipped", report.skipped_by_reason()}};
  write_text_atomic(out / "manifest.json", m.dump(2));
  if (report.prepared() == 0) {
    throw DataError("prepare: none of the " + std::to_string(report.selected) +
                    " selected clips could be prepared; see " + (out / "skipped.csv").string());
  }
  write_text_atomic(out / "landmarks.csv", landmark_csv);
  write_text_atomic(out / "labels.csv", labels);
  return report;
}

std::string format_report(const PrepareReport& r) {
  char buf[256];
  std::string s;
  std::snprintf(buf, sizeof buf, "prepared %lld of %lld clips to prepare (%.1f%%) into %s\n",
                static_cast<long long>(r.prepared()), static_cast<long long>(r.prepared() + r.failed()),
                100.0 * r.share_prepared(), r.out_dir.c_str());
  s += buf;
  // How the clips to prepare relate to the sheet: its readable clips, minus those the
  // protocol leaves out, plus unreadable rows where they count as clips lost.
  const auto by_reason = r.skipped_by_reason();
  const auto count = [&](const char* reason) {
    auto it = by_reason.find(reason);
    return it == by_reason.end() ? int64_t{0} : it->second;
  };
  const int64_t bad_rows = count("bad_sheet_row") + count("unknown_label");
  std::snprintf(buf, sizeof buf, "  the sheet: %lld clips read, %lld not in the protocol%s\n",
                static_cast<long long>(r.annotated), static_cast<long long>(count("not_in_protocol")),
                bad_rows > 0 ? (", " + std::to_string(bad_rows) + " rows unreadable" +
                                (r.sheet_rows_count ? " (counted as clips lost)" : ""))
                                   .c_str()
                             : "");
  s += buf;
  std::snprintf(buf, sizeof buf, "  %lld computed%s, %lld cached from an earlier run\n",
                static_cast<long long>(r.computed),
                r.recomputed > 0 ? (" (" + std::to_string(r.recomputed) + " recomputed)").c_str() : "",
                static_cast<long long>(r.cached));
  s += buf;
  if (r.computed > 0) {
    std::snprintf(buf, sizeof buf,
                  "  %.1f s, %.1f clips/s with %d jobs; %.0f ms CPU per clip (%.1f clips/s on %d "
                  "idle cores)\n",
                  r.seconds, r.clips_per_second, r.jobs, 1000.0 * r.cpu_seconds_per_clip,
                  r.cpu_seconds_per_clip > 0 ? r.jobs / r.cpu_seconds_per_clip : 0.0, r.jobs);
    s += buf;
  }
  std::string classes;
  for (const auto& c : r.class_names) classes += (classes.empty() ? "" : ", ") + c;
  s += "  classes: " + classes + "\n";
  const auto counts = r.skipped_by_reason();
  if (!counts.empty()) {
    std::string list;
    for (const auto& [reason, n] : counts) {
      list += (list.empty() ? "" : ", ") + reason + " " + std::to_string(n);
    }
    s += "  skipped: " + list + " (see " + r.out_dir + "/skipped.csv)\n";
    int shown = 0;
    for (const auto& k : r.skipped) {
      if (!kFailureReasons.count(k.reason)) continue;
      if (++shown > 10) {
        s += "    ...\n";
        break;
      }
      const std::string what = k.clip.empty() ? k.file : k.subject + "/" + k.clip;
      s += "    " + what + ": " + k.reason + ": " + k.detail + "\n";
    }
  }
  for (const auto& n : r.notes) s += "  note: " + n + "\n";
  return s;
}

}  // namespace mer::pipeline
