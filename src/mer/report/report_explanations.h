#pragma once
// The explanation figures of `mer explain` (explain_figure.h) for a report: chosen samples of
// the runs whose models explain themselves (RUN/explain.json), drawn from the data each run
// was tested on. A figure that cannot be drawn (data absent or changed) becomes a note saying
// why, never a silent gap. Needs OpenCV (MER_WITH_VISION).
#include <torch/arg.h>

#include <string>
#include <vector>

#include "mer/report/html_report.h"
#include "mer/report/report_content.h"

namespace mer::report {

struct ExplanationOptions {
  // Prepared folder or `mer cache` file for every run; "" = each run's own "data" of
  // summary.json (a folder, a cache, or the built-in synthetic set it names).
  TORCH_ARG(std::string, data) = "";
  // Sample keys "dataset/subject/sample"; empty = default_explanation_samples per run.
  TORCH_ARG(std::vector<std::string>, samples) = {};
  // Default samples: this many correct and this many wrong ones per class.
  TORCH_ARG(int, per_class) = 1;
  // false: only the first run (lowest seed) of each model in each comparison, since the
  // seeds' figures look alike; true: every run with explanations.
  TORCH_ARG(bool, every_run) = false;

 public:
  ExplanationOptions() = default;
};

std::vector<ExplanationFigure> make_explanations(const ReportContent& content,
                                                 const ExplanationOptions& options = {});

}  // namespace mer::report
