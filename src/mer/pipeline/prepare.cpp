#include "mer/pipeline/prepare.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <optional>
#include <set>
#include <thread>

#include <sys/resource.h>

#include "mer/core/checksum.h"
#include "mer/core/atomic_file.h"
#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/core/json_file.h"
#include "mer/core/progress.h"
#include "mer/core/version.h"
#include "mer/pipeline/clip_worker.h"

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

// Sheet rows the adapter skipped: an emotion problem is an unknown label, the rest a bad row.
SkippedClip from_sheet_row(const std::string& dataset, const data::SkippedRow& row) {
  const bool label = row.reason.find("emotion") != std::string::npos;
  return {dataset, "", "", label ? "unknown_label" : "bad_sheet_row",
          row.source + ":" + std::to_string(row.row), row.reason};
}

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
  manifest = read_json_if_valid(file);
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

  std::vector<ClipJob> jobs;
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
  write_file_atomic((out / "manifest.json").string(), m.dump(2));

  // Only the landmark model load can fail here (a DataError naming it).
  const face::ClipPreprocessor prototype(options.preprocessing());
  // The workers are the parallelism: OpenCV's own threads on top would oversubscribe.
  const int cv_threads = cv::getNumThreads();
  cv::setNumThreads(1);
  std::vector<ClipOutcome> outcomes(jobs.size());
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
      ClipOutcome o;
      try {
        o = worker.run(jobs[i]);
      } catch (const IoError&) {
        std::lock_guard<std::mutex> lock(io_mutex);
        if (!io_failure) io_failure = std::current_exception();
        return;
      } catch (const std::exception& e) {  // a bug or the system, not the clip: keep going
        o.state = ClipOutcome::State::kSkipped;
        o.skipped = {jobs[i].sample.dataset, jobs[i].sample.subject, jobs[i].sample.sample,
                     "error", "", e.what()};
      }
      if (o.state == ClipOutcome::State::kComputed && !labels_removed) {
        // The folder no longer matches its labels.csv until the end of the run.
        std::lock_guard<std::mutex> lock(labels_mutex);
        if (!labels_removed) {
          std::error_code ec;
          fs::remove(out / "labels.csv", ec);
          labels_removed = true;
        }
      }
      const char* state = o.state == ClipOutcome::State::kCached     ? "cached"
                          : o.state == ClipOutcome::State::kComputed ? "done"
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
    if (o.state == ClipOutcome::State::kComputed || o.state == ClipOutcome::State::kCached) {
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
    if (o.state == ClipOutcome::State::kSkipped || o.state == ClipOutcome::State::kPending) {
      report.skipped.push_back(o.skipped);
      continue;
    }
    if (o.state == ClipOutcome::State::kCached) ++report.cached;
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
  write_file_atomic((out / "skipped.csv").string(), skipped);
  report.clips_per_second =
      report.computed > 0 && report.seconds > 0 ? report.computed / report.seconds : 0.0;
  report.cpu_seconds_per_clip = report.computed > 0 ? cpu_seconds / report.computed : 0.0;

  m["class_names"] = report.class_names;
  m["counts"] = {{"annotated", report.annotated}, {"selected", report.selected},
                 {"prepared", report.prepared()}, {"skipped", report.skipped_by_reason()}};
  write_file_atomic((out / "manifest.json").string(), m.dump(2));
  if (report.prepared() == 0) {
    throw DataError("prepare: none of the " + std::to_string(report.selected) +
                    " selected clips could be prepared; see " + (out / "skipped.csv").string());
  }
  write_file_atomic((out / "landmarks.csv").string(), landmark_csv);
  write_file_atomic((out / "labels.csv").string(), labels);
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
