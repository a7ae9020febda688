#include "mer/report/report_explanations.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>

#include "mer/core/error.h"
#include "mer/data/dataset_cache.h"
#include "mer/data/prepared_io.h"
#include "mer/data/synthetic.h"
#include "mer/report/explain_figure.h"

namespace fs = std::filesystem;

namespace mer::report {

namespace {

// The data a run names in summary.json: "DIR", "DIR (parts a,b)", a cache file, or
// "synthetic(subjects=S,samples=N,size=Z,seed=K)" as `mer loso` labels its built-in set.
data::Dataset load_named_data(const std::string& label) {
  static const std::regex synthetic(
      R"(synthetic\(subjects=(\d+),samples=(\d+),size=(\d+),seed=(\d+)\))");
  std::smatch m;
  if (std::regex_match(label, m, synthetic)) {
    return data::make_synthetic(data::SyntheticOptions()
                                    .subjects(std::stoll(m[1]))
                                    .samples_per_subject(std::stoll(m[2]))
                                    .flow_size(std::stoll(m[3]))
                                    .seed(std::stoull(m[4])));
  }
  std::string path = label;
  std::vector<std::string> parts;
  const auto at = label.find(" (parts ");
  if (at != std::string::npos && label.back() == ')') {
    path = label.substr(0, at);
    std::stringstream list(label.substr(at + 8, label.size() - at - 9));
    for (std::string p; std::getline(list, p, ',');) parts.push_back(p);
  }
  if (!fs::exists(path)) throw DataError(path + ": not found");
  auto dataset = data::is_dataset_cache(path) ? data::read_dataset_cache(path)
                                               : data::read_prepared(path);
  return parts.empty() ? dataset : data::select_parts(dataset, parts);
}

}  // namespace

std::vector<ExplanationFigure> make_explanations(const ReportContent& content,
                                                 const ExplanationOptions& options) {
  std::vector<size_t> chosen;
  for (const auto& cmp : content.comparisons) {
    for (const auto& g : cmp.groups) {
      for (size_t i : g.runs) {
        if (!content.runs[i].has_explanations) continue;
        chosen.push_back(i);
        if (!options.every_run()) break;
      }
    }
  }
  std::vector<ExplanationFigure> out;
  if (chosen.empty()) return out;
  // Loaded once per data label; a failure is remembered as the note for every run on it.
  std::map<std::string, std::shared_ptr<data::Dataset>> datasets;
  std::map<std::string, std::string> failures;
  for (size_t i : chosen) {
    const auto& run = content.runs[i];
    const std::string label = options.data().empty() ? run.data() : options.data();
    if (!datasets.count(label) && !failures.count(label)) {
      try {
        datasets[label] = std::make_shared<data::Dataset>(load_named_data(label));
      } catch (const std::exception& e) {
        failures[label] = std::string("no figure: the data could not be read (") + e.what() +
                          "); give it with --data";
      }
    }
    std::string note = failures.count(label) ? failures[label] : "";
    if (note.empty() && datasets[label]->checksum() != run.data_checksum()) {
      note = "no figure: " + label + " is not the data of this run (checksum " +
             datasets[label]->checksum().substr(0, 12) + ", the run's " +
             run.data_checksum().substr(0, 12) + ")";
    }
    // Parsed once for all of this run's figures.
    std::optional<RunExplanations> explanations;
    if (note.empty()) {
      try {
        explanations = read_run_explanations(run.dir);
      } catch (const std::exception& e) {
        note = std::string("no figure: ") + e.what();
      }
    }
    const auto names = run.class_names();
    const auto keys = options.samples().empty()
                          ? default_explanation_samples(run, options.per_class())
                          : options.samples();
    for (const auto& key : keys) {
      ExplanationFigure f;
      f.run = run.name;
      f.sample = key;
      const PredictionRecord* p = nullptr;
      for (const auto& q : run.predictions) {
        if (q.subject_key() + "/" + q.sample == key) p = &q;
      }
      if (!p) {
        f.note = "not a test sample of this run";
        out.push_back(std::move(f));
        continue;
      }
      f.label = names.at(static_cast<size_t>(p->label));
      f.prediction = names.at(static_cast<size_t>(p->prediction));
      f.note = note;
      if (note.empty()) {
        try {
          const auto png = explanation_png(*explanations, *datasets[label], key);
          f.png.assign(png.begin(), png.end());
        } catch (const std::exception& e) {
          f.note = std::string("no figure: ") + e.what();
        }
      }
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace mer::report
