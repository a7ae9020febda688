#include "mer/report/run_reader.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/core/version.h"

namespace fs = std::filesystem;

namespace mer::report {

namespace {

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw DataError(path.string() + ": not found");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw DataError(path.string() + ": unreadable JSON (" + e.what() + ")");
  }
}

// Pages carry a date per run; summary.json's own time is the one thing every run has.
std::string modification_time(const fs::path& path) {
  const auto file_time = fs::last_write_time(path);
  const auto system_time = std::chrono::time_point_cast<std::chrono::system_clock::duration>(
      file_time - fs::file_time_type::clock::now() + std::chrono::system_clock::now());
  const std::time_t t = std::chrono::system_clock::to_time_t(system_time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
  return text;
}

std::vector<PredictionRecord> read_predictions(const fs::path& path, int64_t num_classes) {
  if (!fs::is_regular_file(path)) throw DataError(path.string() + ": not found");
  const auto rows = csv::read_file(path.string());
  if (rows.empty()) throw DataError(path.string() + ": empty");
  const auto& header = rows.front().fields;
  std::map<std::string, size_t> column;
  for (size_t i = 0; i < header.size(); ++i) column[header[i]] = i;
  for (const char* name : {"dataset", "subject", "sample", "label", "pred"}) {
    if (!column.count(name)) {
      throw DataError(path.string() + ": no column '" + name + "' (not a mer predictions.csv)");
    }
  }
  std::vector<PredictionRecord> out;
  out.reserve(rows.size() - 1);
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r].fields;
    if (f.size() != header.size()) {
      throw DataError(path.string() + ":" + std::to_string(rows[r].line) + ": " +
                      std::to_string(f.size()) + " fields, the header has " +
                      std::to_string(header.size()));
    }
    PredictionRecord p;
    p.dataset = f[column["dataset"]];
    p.subject = f[column["subject"]];
    p.sample = f[column["sample"]];
    try {
      p.label = std::stoll(f[column["label"]]);
      p.prediction = std::stoll(f[column["pred"]]);
    } catch (const std::exception&) {
      throw DataError(path.string() + ":" + std::to_string(rows[r].line) +
                      ": label or pred is not a class index");
    }
    if (p.label < 0 || p.label >= num_classes || p.prediction < 0 ||
        p.prediction >= num_classes) {
      throw DataError(path.string() + ":" + std::to_string(rows[r].line) +
                      ": class index outside the " + std::to_string(num_classes) +
                      " classes of summary.json");
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<double> doubles(const nlohmann::json& j, const char* key) {
  return j.contains(key) ? j.at(key).get<std::vector<double>>() : std::vector<double>{};
}

// Fold curves in the run's fold order (the order of predictions.csv); folds without a
// fold.json (a run folder copied without folds/) simply have no curve.
std::vector<FoldCurve> read_curves(const fs::path& dir, const std::vector<std::string>& order) {
  std::map<std::string, FoldCurve> by_fold;
  const fs::path folds = dir / "folds";
  if (!fs::is_directory(folds)) return {};
  for (const auto& entry : fs::directory_iterator(folds)) {
    const fs::path file = entry.path() / "fold.json";
    if (!fs::is_regular_file(file)) continue;
    const auto j = read_json(file);
    if (j.value("version", -1) != kResultsVersion) {
      throw DataError(file.string() + ": fold result of unknown version " +
                      std::to_string(j.value("version", -1)));
    }
    FoldCurve c;
    c.fold = j.at("fold").get<std::string>();
    c.train_loss = doubles(j, "train_loss");
    c.train_accuracy = doubles(j, "train_accuracy");
    c.selection_score = doubles(j, "selection_score");
    c.epoch_used = j.value("epoch_used", int64_t{0});
    c.epochs_run = j.value("epochs_run", int64_t{0});
    if (c.train_loss.empty()) continue;  // nothing was trained (an ensemble's fold): no curve
    by_fold[c.fold] = std::move(c);
  }
  std::vector<FoldCurve> out;
  for (const auto& key : order) {
    auto it = by_fold.find(key);
    if (it != by_fold.end()) out.push_back(std::move(it->second));
  }
  return out;
}

}  // namespace

std::string RunRecord::model() const { return summary.value("model", std::string("?")); }
std::string RunRecord::protocol() const { return summary.value("protocol", std::string("?")); }
bool RunRecord::oracle() const { return kind == RunKind::kLoso && protocol() == "oracle"; }
std::vector<std::string> RunRecord::class_names() const {
  return summary.at("class_names").get<std::vector<std::string>>();
}

std::map<std::string, std::string> RunRecord::option_texts() const {
  std::map<std::string, std::string> out;
  if (!summary.contains("model_options")) return out;
  for (const auto& [key, value] : summary.at("model_options").items()) {
    out[key] = key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return out;
}

std::string RunRecord::model_label() const {
  std::string options;
  for (const auto& [key, text] : option_texts()) options += (options.empty() ? "" : ", ") + text;
  return options.empty() ? model() : model() + " (" + options + ")";
}

std::string RunRecord::data() const { return summary.value("data", std::string()); }
std::string RunRecord::data_checksum() const {
  return summary.value("data_checksum", std::string());
}
std::string RunRecord::source_run() const {
  return kind == RunKind::kOtherData ? summary.value("run", std::string()) : std::string();
}

std::vector<std::string> RunRecord::subjects() const {
  std::set<std::string> keys;
  for (const auto& p : predictions) keys.insert(p.subject_key());
  return {keys.begin(), keys.end()};
}

RunRecord read_run(const std::string& dir) {
  const fs::path root(dir);
  if (!fs::is_directory(root)) throw DataError(dir + ": not a folder");
  RunRecord run;
  run.dir = dir;
  run.name = root.lexically_normal().filename().string();
  if (run.name.empty()) run.name = root.lexically_normal().parent_path().filename().string();
  const fs::path summary_file = root / "summary.json";
  if (!fs::is_regular_file(summary_file)) {
    throw DataError(summary_file.string() +
                    ": not found (is " + dir + " a finished `mer loso` or `mer evaluate "
                    "--on-other-data` output?)");
  }
  run.summary = read_json(summary_file);
  if (run.summary.value("version", -1) != kResultsVersion) {
    throw DataError(summary_file.string() + ": results version " +
                    std::to_string(run.summary.value("version", -1)) +
                    " is not one this mer reads (" + std::to_string(kResultsVersion) + ")");
  }
  for (const char* key : {"model", "protocol", "class_names", "confusion", "uf1", "uar",
                          "accuracy", "per_dataset"}) {
    if (!run.summary.contains(key)) {
      throw DataError(summary_file.string() + ": no \"" + key + "\" (not a mer summary)");
    }
  }
  run.kind = run.summary.contains("tested_on") ? RunKind::kOtherData : RunKind::kLoso;
  run.written = modification_time(summary_file);
  const auto classes = static_cast<int64_t>(run.class_names().size());
  run.predictions = read_predictions(root / "predictions.csv", classes);
  if (run.kind == RunKind::kLoso) {
    std::vector<std::string> order;
    std::set<std::string> seen;
    // Folds are subjects, or dataset parts in a run grouped by part.
    const bool by_part = run.summary.value("group_by", std::string("subject")) == "dataset";
    for (const auto& p : run.predictions) {
      const auto key = by_part ? p.dataset : p.subject_key();
      if (seen.insert(key).second) order.push_back(key);
    }
    run.curves = read_curves(root, order);
  }
  run.has_explanations = fs::is_regular_file(root / "explain.json");
  return run;
}

}  // namespace mer::report
