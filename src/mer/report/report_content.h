#pragma once
// What a `mer report` page shows, as tidy tables first (style.md 15): every number of the
// page is a cell of one of these tables, which are also written as CSV. Figures stored in
// summary.json are copied from it, never recomputed; what it does not hold (per subject,
// per-class precision, bootstrap intervals, paired differences) is computed from
// predictions.csv. Runs are only compared with runs of the same kind on the same data, under
// the same protocol, on the same subjects; oracle runs therefore never share a table with
// honest ones.
#include <torch/arg.h>

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "mer/report/run_reader.h"
#include "mer/report/run_statistics.h"

namespace mer::report {

// A tidy table: one observation per row; cells are JSON strings, numbers, booleans or null
// (an empty CSV field).
struct Table {
  std::string name;  // CSV file stem, e.g. "metrics"
  std::vector<std::string> columns;
  std::vector<std::vector<nlohmann::json>> rows;

  void add(std::vector<nlohmann::json> row);  // checks the width
  // Numbers are written in the shortest form that reads back to the same double.
  std::string csv() const;
  nlohmann::json to_json() const;  // {"columns": [...], "rows": [[...], ...]}
};

// Seeds of one configuration within a comparison.
struct ComparisonGroup {
  std::string model_label;  // the model and its whole configuration (RunRecord::model_label)
  // What charts and the tables' first line call it: the model's name, and where the comparison
  // holds several configurations of that model, the options in which they differ.
  std::string label;
  std::vector<size_t> runs;  // indices into ReportContent::runs
  MetricIntervals intervals;  // bootstrap over subjects of the mean over its runs
};

struct PairedDifference {
  size_t a = 0, b = 0;  // group indices, a - b
  MetricIntervals difference;
};

// Runs that may be compared: same kind, data, protocol and subjects.
struct Comparison {
  std::string id;     // "c1", "c2", ...
  std::string title;  // "honest, synthetic(...)"
  std::string why_apart;  // how it differs from the other comparisons ("" when alone)
  bool oracle = false;
  std::vector<std::string> subjects;
  std::vector<ComparisonGroup> groups;
  std::vector<PairedDifference> pairs;
};

struct ReportOptions {
  TORCH_ARG(BootstrapOptions, bootstrap) = BootstrapOptions();

 public:
  ReportOptions() = default;
};

struct ReportContent {
  std::vector<RunRecord> runs;  // names made unique ("fr-s1", "fr-s1 (2)")
  std::vector<Comparison> comparisons;
  // Tables by name: runs, metrics, per_class, confusion, per_subject, curves, comparison,
  // paired_differences, selection_gap, occlusion, occlusion_by_model (see report_content.cpp
  // for columns).
  std::map<std::string, Table> tables;
};

// Builds the content. Throws ConfigError on no runs.
ReportContent analyse_runs(std::vector<RunRecord> runs, const ReportOptions& options = {});

// Default explanation samples of a run: for each class, the first correctly and the first
// wrongly predicted test sample (file order of predictions.csv), up to `per_class` of each.
std::vector<std::string> default_explanation_samples(const RunRecord& run, int per_class = 1);

}  // namespace mer::report
