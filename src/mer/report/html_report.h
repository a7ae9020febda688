#pragma once
// The `mer report` page: one self-contained HTML file (the chart library, the styles, the
// data and the explanation PNGs inlined; nothing fetched, so it opens offline from disk), and
// the same tables as tidy CSV files. The page draws its charts from the tables embedded in it
// (a JSON block, id "report-data"), so a number in a chart is a cell of a CSV file.
// After drawing, the page's script records what it drew on the element with id
// "render-status": data-charts (chart canvases), data-drawn (those with a non-empty dataset
// and painted pixels), data-errors (script errors caught), and data-done="1".
#include <torch/arg.h>

#include <string>
#include <vector>

#include "mer/report/report_content.h"

namespace mer::report {

// Debian's libjs-chart.js (3.9).
inline constexpr const char* kDefaultChartJs = "/usr/share/javascript/chart.js/chart.min.js";

// One explanation figure of `mer explain` for the page, or why there is none.
struct ExplanationFigure {
  std::string run;     // run name (RunRecord::name)
  std::string sample;  // "dataset/subject/sample"
  std::string label, prediction;  // class names
  std::string png;     // PNG file bytes; empty when `note` says why there is no figure
  std::string note;
};

struct HtmlReportOptions {
  TORCH_ARG(std::string, chart_js) = kDefaultChartJs;
  TORCH_ARG(std::string, title) = "mer report";
  // Most points per fold curve drawn (every k-th epoch and the last; medians likewise), at 5
  // significant digits. The curves CSV holds every epoch, exactly.
  TORCH_ARG(int64_t, curve_points) = 125;

 public:
  HtmlReportOptions() = default;
};

// The chart library's source. Throws ConfigError naming the file and the Debian package when
// it is missing.
std::string read_chart_library(const std::string& path);

// The page as a string.
std::string render_html(const ReportContent& content,
                        const std::vector<ExplanationFigure>& explanations,
                        const std::string& chart_library, const HtmlReportOptions& options = {});

// Writes every table of `content` as DIR/<name>.csv, DIR/curves.csv (every fold's curve, every
// epoch), DIR/explanations.csv and the explanation PNGs as DIR/figures/*.png.
void write_csv_tables(const ReportContent& content,
                      const std::vector<ExplanationFigure>& explanations, const std::string& dir);

}  // namespace mer::report
