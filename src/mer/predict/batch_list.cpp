#include "mer/predict/batch_list.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/face/video_io.h"
#include "mer/pipeline/prepare.h"

namespace fs = std::filesystem;

namespace mer::predict {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

double round_to(double v, double scale) { return std::round(v * scale) / scale; }

std::vector<std::string> top_regions(const ClipPrediction& p, size_t n) {
  std::vector<std::string> out;
  for (const auto& r : p.analysis.motion.regions) {
    if (out.size() >= n) break;
    out.push_back(r.name);
  }
  return out;
}

}  // namespace

int64_t parse_frame_number(const std::string& text, const std::string& what) {
  size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || v < 0) {
    throw ConfigError(what + " '" + text +
                      "' is not a frame number (a whole number >= 0; a video's first frame is 0)");
  }
  return v;
}

std::vector<ClipListEntry> read_clip_list(const std::string& list_path) {
  const auto rows = csv::read_file(list_path);
  if (rows.empty()) throw DataError(list_path + ": empty clip list (expected a header with a path column)");
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < rows[0].fields.size(); ++i) col[lower(trim(rows[0].fields[i]))] = i;
  int path_col = -1;
  for (const char* name : {"path", "video", "clip"}) {
    if (col.count(name)) {
      path_col = static_cast<int>(col[name]);
      break;
    }
  }
  if (path_col < 0) {
    throw DataError(list_path + ": no path column in the header (columns: path or video, and "
                    "optionally onset, apex, label, aus)");
  }
  const fs::path base = fs::path(list_path).parent_path();
  const auto field = [&](const csv::Row& row, const char* name) -> std::string {
    const auto it = col.find(name);
    if (it == col.end() || it->second >= row.fields.size()) return "";
    return trim(row.fields[it->second]);
  };
  std::vector<ClipListEntry> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    bool blank = true;
    for (const auto& f : row.fields) blank = blank && trim(f).empty();
    if (blank) continue;
    ClipListEntry e;
    e.line = row.line;
    e.given = trim(row.fields.size() > static_cast<size_t>(path_col) ? row.fields[path_col] : "");
    e.label = field(row, "label");
    e.source.aus = field(row, "aus");
    const auto resolve = [&](const std::string& p) {
      return fs::path(p).is_absolute() || base.empty() ? p : (base / p).string();
    };
    try {
      if (e.given.empty()) throw ConfigError("no path");
      const std::string path = resolve(e.given);
      const std::string onset = field(row, "onset"), apex = field(row, "apex");
      const bool image = fs::is_regular_file(path) && !face::is_video_file(path);
      if (image) {
        // An onset image file: the apex column names the apex image file.
        if (apex.empty()) throw ConfigError("an image file as path needs the apex image file in the apex column");
        e.source.files = {path, resolve(apex)};
      } else {
        e.source.path = path;
        if (!onset.empty()) e.source.onset = parse_frame_number(onset, "onset");
        if (!apex.empty()) e.source.apex = parse_frame_number(apex, "apex");
        if (e.source.apex && !e.source.onset) throw ConfigError("an apex frame needs an onset frame too");
      }
    } catch (const Error& err) {
      e.error = list_path + ":" + std::to_string(row.line) + ": " + err.what();
    }
    out.push_back(std::move(e));
  }
  if (out.empty()) throw DataError(list_path + ": the clip list has a header but no clips");
  return out;
}

BatchSummary summarise(const std::vector<ClipListEntry>& entries,
                       const std::vector<ClipOutcome>& outcomes, const Predictor& predictor,
                       double seconds, double cpu_seconds) {
  BatchSummary s;
  s.clips = static_cast<int64_t>(entries.size());
  s.seconds = seconds;
  const auto& names = predictor.class_names();
  std::vector<int64_t> labels, predictions;
  std::map<std::string, int64_t> unknown;  // labels that name no class, with their counts
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& p = outcomes[i].prediction;
    if (!p) {
      ++s.failed;
      continue;
    }
    ++s.predicted;
    s.no_motion += p->no_motion;
    if (entries[i].label.empty()) continue;
    const auto it = std::find(names.begin(), names.end(), entries[i].label);
    if (it == names.end()) {
      ++unknown[entries[i].label];
      continue;
    }
    labels.push_back(it - names.begin());
    predictions.push_back(p->result.prediction);
  }
  for (const auto& [label, count] : unknown) {
    s.label_notes.push_back("label '" + label + "' (" + std::to_string(count) +
                            " clips) is not one of the model's classes: left out of UF1/UAR");
  }
  s.labelled = static_cast<int64_t>(labels.size());
  if (!labels.empty()) {
    s.metrics = engine::compute_metrics(labels, predictions, static_cast<int64_t>(names.size()));
  }
  s.clips_per_second = seconds > 0 ? static_cast<double>(s.predicted + s.failed) / seconds : 0;
  s.cpu_seconds_per_clip = s.clips > 0 ? cpu_seconds / static_cast<double>(s.clips) : 0;
  return s;
}

std::string results_csv(const std::vector<ClipListEntry>& entries,
                        const std::vector<ClipOutcome>& outcomes, const Predictor& predictor) {
  const auto& names = predictor.class_names();
  std::vector<std::string> header = {"row", "clip", "status", "prediction"};
  for (const auto& n : names) header.push_back("p_" + n);
  for (const char* h : {"label", "correct", "onset_frame", "apex_frame", "apex_spotted",
                        "motion_px", "no_motion", "top_regions", "seconds", "error"}) {
    header.push_back(h);
  }
  std::string text = csv::join(header) + "\n";
  char buf[64];
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const auto& o = outcomes[i];
    std::vector<std::string> f = {std::to_string(i + 1), e.given};
    if (!o.prediction) {
      f.push_back("error");
      f.push_back("");
      for (size_t k = 0; k < names.size(); ++k) f.push_back("");
      f.insert(f.end(), {e.label, "", "", "", "", "", "", "", "", e.error.empty() ? o.error : e.error});
      text += csv::join(f) + "\n";
      continue;
    }
    const auto& p = *o.prediction;
    const auto& predicted = names.at(static_cast<size_t>(p.result.prediction));
    f.push_back("ok");
    f.push_back(predicted);
    for (double v : p.result.probabilities) {
      std::snprintf(buf, sizeof buf, "%.6f", v);
      f.push_back(buf);
    }
    f.push_back(e.label);
    f.push_back(e.label.empty() ? "" : (e.label == predicted ? "1" : "0"));
    f.push_back(std::to_string(p.onset_frame));
    f.push_back(std::to_string(p.apex_frame));
    f.push_back(p.apex_spotted ? "1" : "0");
    std::snprintf(buf, sizeof buf, "%.4f", p.motion_px);
    f.push_back(buf);
    f.push_back(p.no_motion ? "1" : "0");
    std::string regions;
    for (const auto& r : top_regions(p, 3)) regions += (regions.empty() ? "" : ";") + r;
    f.push_back(regions);
    std::snprintf(buf, sizeof buf, "%.3f", p.seconds);
    f.push_back(buf);
    f.push_back(p.no_motion ? "no facial movement found" : "");
    text += csv::join(f) + "\n";
  }
  return text;
}

nlohmann::json results_json(const std::vector<ClipListEntry>& entries,
                            const std::vector<ClipOutcome>& outcomes, const Predictor& predictor,
                            const BatchSummary& summary) {
  const auto& names = predictor.class_names();
  nlohmann::json clips = nlohmann::json::array();
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const auto& o = outcomes[i];
    nlohmann::json c = {{"row", i + 1}, {"line", e.line}, {"clip", e.given}};
    if (!e.label.empty()) c["label"] = e.label;
    if (!o.prediction) {
      c["status"] = "error";
      c["error"] = e.error.empty() ? o.error : e.error;
      clips.push_back(std::move(c));
      continue;
    }
    const auto& p = *o.prediction;
    nlohmann::json probs = nlohmann::json::object(), regions = nlohmann::json::array();
    for (size_t k = 0; k < names.size(); ++k) probs[names[k]] = round_to(p.result.probabilities[k], 1e6);
    for (const auto& r : p.analysis.motion.regions) {
      if (r.rank > 3) break;
      regions.push_back({{"rank", r.rank}, {"name", r.name}, {"motion", round_to(r.motion, 1e4)}});
    }
    c["status"] = "ok";
    c["prediction"] = names.at(static_cast<size_t>(p.result.prediction));
    c["probabilities"] = probs;
    c["onset"] = p.analysis.onset_file;
    c["apex"] = p.analysis.apex_file;
    c["onset_frame"] = p.onset_frame;
    c["apex_frame"] = p.apex_frame;
    c["apex_spotted"] = p.apex_spotted;
    c["motion_px"] = round_to(p.motion_px, 1e4);
    c["no_motion"] = p.no_motion;
    if (p.no_motion) c["note"] = "no facial movement found";
    c["top_regions"] = regions;
    c["seconds"] = round_to(p.seconds, 1e3);
    clips.push_back(std::move(c));
  }
  nlohmann::json s = {{"clips", summary.clips},
                      {"predicted", summary.predicted},
                      {"failed", summary.failed},
                      {"no_motion", summary.no_motion},
                      {"seconds", round_to(summary.seconds, 1e3)},
                      {"clips_per_second", round_to(summary.clips_per_second, 1e2)},
                      {"cpu_seconds_per_clip", round_to(summary.cpu_seconds_per_clip, 1e4)},
                      {"labelled", summary.labelled}};
  if (summary.labelled > 0) {
    s["uf1"] = round_to(summary.metrics.uf1, 1e4);
    s["uar"] = round_to(summary.metrics.uar, 1e4);
    s["accuracy"] = round_to(summary.metrics.accuracy, 1e4);
  }
  if (!summary.label_notes.empty()) s["label_notes"] = summary.label_notes;
  const auto& first = predictor.first().meta;
  return {{"format", "mer-predictions"},
          {"version", 1},
          {"models", predictor.checkpoint_paths()},
          {"ensemble", predictor.checkpoint_paths().size() > 1},
          {"model", first.value("model", std::string("?"))},
          {"class_names", names},
          {"preprocessing", nlohmann::json::parse(pipeline::describe_preprocessing(predictor.preprocessing()))},
          {"preprocessing_source", predictor.preprocessing_source()},
          {"no_motion_threshold_px", predictor.no_motion_threshold()},
          {"summary", s},
          {"clips", clips}};
}

}  // namespace mer::predict
