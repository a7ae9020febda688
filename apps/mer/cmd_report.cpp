#include "cmd_report.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <opencv2/core/utility.hpp>

#include "mer/core/atomic_file.h"
#include "mer/core/error.h"
#include "mer/report/html_report.h"
#include "mer/report/report_content.h"
#include "mer/report/report_explanations.h"
#include "mer/report/run_reader.h"

namespace fs = std::filesystem;

namespace mer::cli {

ReportCommand::ReportCommand(CLI::App& app) {
  chart_js_ = report::kDefaultChartJs;
  command_ = app.add_subcommand(
      "report", "One offline HTML page (and tidy CSV tables) of finished runs: metrics, "
                "confusion, per-subject accuracy, training curves, comparisons with bootstrap "
                "intervals over subjects, occlusion, explanations");
  auto* c = command_;
  const std::string g_in = "Input", g_out = "Output", g_stats = "Statistics",
                    g_explain = "Explanations";
  c->add_option("runs", runs_,
                "run folders of `mer loso` or `mer evaluate --on-other-data --out`")
      ->required()->check(CLI::ExistingDirectory)->group(g_in);
  c->add_option("--out", out_, "the HTML file to write")->capture_default_str()->group(g_out);
  c->add_option("--csv", csv_, "also write every table as CSV (and the figures) into this folder")
      ->group(g_out);
  c->add_option("--title", title_, "page title")->capture_default_str()->group(g_out);
  c->add_option("--curve-points", curve_points_,
                "most epochs drawn per training curve (every k-th; the CSV has all)")
      ->capture_default_str()->check(CLI::Range(int64_t{10}, int64_t{100000}))->group(g_out);
  c->add_option("--chart-js", chart_js_, "Chart.js file to inline (Debian: libjs-chart.js)")
      ->capture_default_str()->group(g_out);
  c->add_option("--resamples", resamples_, "bootstrap resamples of subjects")
      ->capture_default_str()->check(CLI::Range(int64_t{100}, int64_t{1000000}))->group(g_stats);
  c->add_option("--bootstrap-seed", bootstrap_seed_, "bootstrap seed (same seed, same intervals)")
      ->capture_default_str()->group(g_stats);
  auto* samples = c->add_option("--samples", samples_,
                                "explain these samples (dataset/subject/sample, comma-separated; "
                                "default: per class, correct and wrong ones)")
                      ->delimiter(',')->group(g_explain);
  auto* per_class = c->add_option("--per-class", per_class_,
                                  "default samples: this many correct and wrong ones per class")
                        ->capture_default_str()->check(CLI::Range(1, 20))->group(g_explain);
  c->add_option("--data", data_,
                "data to draw the explanations from (default: each run's own data, as its "
                "summary.json names it)")
      ->check(CLI::ExistingPath)->group(g_explain);
  c->add_flag("--explain-every-run", every_run_,
              "explain every run (default: the first seed of each model)")
      ->group(g_explain);
  auto* none = c->add_flag("--no-explanations", no_explanations_, "leave the figures out")
                   ->group(g_explain);
  none->excludes(samples)->excludes(per_class);
  c->footer(
      "Examples:\n"
      "  mer report runs/st-s1 runs/st-s2 runs/fr-s1 runs/fr-s2 --out report.html --csv report-csv\n"
      "  mer report runs/fr runs/fr-on-glasses --samples casme2/sub01/EP02_01f\n"
      "Runs are compared only with runs of the same kind, data, protocol and subjects; ORACLE "
      "runs are bannered and never compared with honest ones.");
}

int ReportCommand::run() {
  const auto start = std::chrono::steady_clock::now();
  // OpenCV's drawing of small figures is slower with its worker threads than without them.
  cv::setNumThreads(1);
  // First, so that a missing package fails before any work.
  const auto chart_library = report::read_chart_library(chart_js_);
  std::vector<report::RunRecord> runs;
  for (const auto& dir : runs_) runs.push_back(report::read_run(dir));
  const auto content = report::analyse_runs(
      std::move(runs), report::ReportOptions().bootstrap(
                           report::BootstrapOptions().resamples(resamples_).seed(bootstrap_seed_)));
  std::vector<report::ExplanationFigure> figures;
  if (!no_explanations_) {
    figures = report::make_explanations(content, report::ExplanationOptions()
                                                     .data(data_)
                                                     .samples(samples_)
                                                     .per_class(per_class_)
                                                     .every_run(every_run_));
  }
  const auto html = report::render_html(
      content, figures, chart_library,
      report::HtmlReportOptions().title(title_).curve_points(curve_points_));
  if (fs::path(out_).has_parent_path()) fs::create_directories(fs::path(out_).parent_path());
  write_file_atomic(out_, html);
  if (!csv_.empty()) report::write_csv_tables(content, figures, csv_);
  int64_t drawn = 0;
  for (const auto& f : figures) drawn += !f.png.empty();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %s (%.1f MB): %zu run(s), %zu comparison(s), %lld explanation figure(s), "
              "%.2f s\n",
              out_.c_str(), html.size() / 1e6, content.runs.size(), content.comparisons.size(),
              static_cast<long long>(drawn), seconds);
  for (const auto& f : figures) {
    if (f.png.empty()) std::printf("  %s %s: %s\n", f.run.c_str(), f.sample.c_str(), f.note.c_str());
  }
  if (!csv_.empty()) std::printf("tables: %s/*.csv\n", csv_.c_str());
  return 0;
}

}  // namespace mer::cli
