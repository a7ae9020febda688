#include "mer/report/html_report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mer/core/atomic_file.h"
#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/core/version.h"
#include "mer/report/html_assets.h"
#include "mer/report/html_comparisons.h"
#include "mer/report/html_text.h"

namespace fs = std::filesystem;

namespace mer::report {

namespace {

using html::anchor;
using html::base64;
using html::canvas;
using html::duration;
using html::esc;
using html::fixed;
using html::num;
using html::text_of;
using nlohmann::json;

// Written whole or not at all: a reader never sees half a table.
void write_text(const std::string& path, const std::string& text) {
  write_file_atomic(path, text);
}


// Rows of `table` whose first column is `run`.
std::vector<const std::vector<json>*> rows_of(const Table& table, const std::string& run) {
  std::vector<const std::vector<json>*> out;
  for (const auto& row : table.rows) {
    if (row[0] == run) out.push_back(&row);
  }
  return out;
}


std::string selection_label(const RunRecord& r) {
  if (r.protocol() == "inner-val") return "validation UF1 (inner-val: picks each fold's epoch)";
  if (r.protocol() == "oracle") return "TEST-subject accuracy (ORACLE: picks each fold's epoch)";
  return "";
}

// Every k-th epoch and the last, so long runs stay light in the page.
std::vector<size_t> sampled_epochs(size_t epochs, int64_t points) {
  std::vector<size_t> out;
  if (epochs == 0) return out;
  const size_t step = std::max<size_t>(1, (epochs + points - 1) / std::max<int64_t>(points, 1));
  for (size_t e = 0; e < epochs; e += step) out.push_back(e);
  if (out.back() != epochs - 1) out.push_back(epochs - 1);
  return out;
}

// Curve points are drawn, not read: 5 significant digits keep a 68-fold run's page light
// (curves.csv and curve_medians.csv hold the exact values).
double display(double v) {
  if (v == 0 || !std::isfinite(v)) return v;
  const double scale = std::pow(10.0, 4 - std::floor(std::log10(std::fabs(v))));
  return std::round(v * scale) / scale;
}

json page_curves(const ReportContent& content, const HtmlReportOptions& options) {
  json out = json::object();
  const auto& medians = content.tables.at("curve_medians");
  for (const auto& r : content.runs) {
    if (r.curves.empty()) continue;
    json run = {{"selection_label", selection_label(r)},
                {"selection_axis", r.protocol() == "oracle" ? "TEST-subject accuracy"
                                                            : "validation UF1"}};
    for (const char* metric : {"train_loss", "train_accuracy", "selection_score"}) {
      const auto series = [&](const FoldCurve& c) -> const std::vector<double>& {
        return metric[6] == 'l' ? c.train_loss
                                : metric[6] == 'a' ? c.train_accuracy : c.selection_score;
      };
      size_t epochs = 0;
      for (const auto& c : r.curves) epochs = std::max(epochs, series(c).size());
      if (epochs == 0) continue;
      const auto keep = sampled_epochs(epochs, options.curve_points());
      json folds = json::array();
      for (const auto& c : r.curves) {
        json points = json::array();
        for (size_t e : keep) {
          if (e < series(c).size()) points.push_back({e + 1, display(series(c)[e])});
        }
        folds.push_back({{"fold", c.fold}, {"points", points}});
      }
      std::vector<double> median(epochs);
      for (const auto& row : medians.rows) {
        if (row[0] == r.name && row[1] == metric) {
          median[row[2].get<size_t>() - 1] = row[3].get<double>();
        }
      }
      json med = json::array();
      for (size_t e : keep) med.push_back({e + 1, display(median[e])});
      run[metric] = {{"folds", folds}, {"median", med}};
    }
    out[r.name] = run;
  }
  return out;
}

void run_header(std::ostream& o, const RunRecord& r) {
  const auto& s = r.summary;
  o << "<section class=\"run\" id=\"" << anchor(r.name) << "\" data-run=\"" << esc(r.name)
    << "\">\n<h2>" << esc(r.name) << " <span class=\"sub\">" << esc(r.model_label()) << ", "
    << (r.oracle() ? "ORACLE" : esc(r.protocol())) << "</span></h2>\n";
  if (r.oracle()) {
    o << "<div class=\"oracle-banner\" data-run=\"" << esc(r.name)
      << "\"><strong>ORACLE RUN</strong> &mdash; each fold's epoch was chosen by its accuracy on "
         "the <em>test</em> subject. These figures are inflated; they reproduce paper tables "
         "only and are never compared with honest runs in this report.";
    if (s.contains("honest_last_epoch")) {
      const auto& h = s.at("honest_last_epoch");
      o << " The same runs' last epoch (honest): UF1 " << fixed(h.at("uf1").get<double>())
        << ", UAR " << fixed(h.at("uar").get<double>()) << ", accuracy "
        << fixed(h.at("accuracy").get<double>()) << ".";
    }
    o << "</div>\n";
  }
  o << "<dl class=\"facts\">";
  const auto fact = [&](const std::string& name, const std::string& value) {
    if (!value.empty()) o << "<dt>" << esc(name) << "</dt><dd>" << esc(value) << "</dd>";
  };
  fact("folder", r.dir);
  if (r.kind == RunKind::kOtherData) {
    fact("evaluation", s.value("evaluation", std::string()));
    fact("models of", r.source_run());
  }
  fact("model", r.model_label());
  const std::string note = s.value("protocol_note", std::string());
  fact("protocol", note.rfind(r.protocol(), 0) == 0 ? note : r.protocol() + ": " + note);
  fact("epochs", text_of(s.value("epochs", json())));
  fact("seed", text_of(s.value("seed", json())));
  fact("folds", text_of(s.value("folds", json())) + " of " + text_of(s.value("folds_total", json())) +
                    (s.value("complete", true) ? "" : " (INCOMPLETE run)"));
  fact("data", r.data());
  fact("data checksum", r.data_checksum());
  if (s.contains("landmarks_checksum")) fact("landmarks checksum", text_of(s.at("landmarks_checksum")));
  if (s.contains("training")) {
    std::string t;
    for (const auto& [k, v] : s.at("training").items()) t += (t.empty() ? "" : ", ") + k + " " + text_of(v);
    fact("training", t);
  }
  fact("mer version", s.value("mer_version", std::string()));
  fact("date", r.written + " (summary.json written)");
  std::string time = s.contains("seconds") ? duration(s.at("seconds").get<double>()) : "";
  if (s.contains("fold_seconds")) time += ", fold training " + duration(s.at("fold_seconds").get<double>());
  fact("time taken", time);
  o << "</dl>\n";
}

void run_metrics(std::ostream& o, const ReportContent& c, const RunRecord& r) {
  const auto& m = c.tables.at("metrics");
  o << "<div class=\"row\"><div><h3>Metrics</h3><table class=\"metrics\" data-run=\"" << esc(r.name)
    << "\"><tr><th>part</th><th>n</th><th>UF1</th><th>UAR</th><th>accuracy</th></tr>";
  for (const auto* row : rows_of(m, r.name)) {
    const auto& v = *row;
    const bool honest = v[2] == "honest_last_epoch";
    o << "<tr data-part=\"" << esc(text_of(v[1])) << "\" data-figure=\"" << text_of(v[2])
      << "\"" << (v[1] == "all" && !honest ? " class=\"total\"" : "") << "><td>"
      << esc(text_of(v[1])) << (honest ? " (last epoch, honest)" : "") << "</td>" << num(v[3])
      << num(v[4]) << num(v[5]) << num(v[6]) << "</tr>";
  }
  o << "</table>\n";
  const auto& pc = c.tables.at("per_class");
  o << "<h3>Per class</h3><table class=\"per-class\" data-run=\"" << esc(r.name)
    << "\"><tr><th>class</th><th>support</th><th>precision</th><th>recall</th><th>F1</th></tr>";
  for (const auto* row : rows_of(pc, r.name)) {
    const auto& v = *row;
    o << "<tr><td>" << esc(text_of(v[1])) << "</td>" << num(v[2]) << num(v[4]) << num(v[5])
      << num(v[6]) << "</tr>";
  }
  o << "</table></div>\n";
  // Confusion heat maps, drawn as tables: exact counts stay readable.
  const auto names = r.class_names();
  const auto confusion = r.summary.at("confusion").get<Confusion>();
  for (int normalised = 0; normalised < 2; ++normalised) {
    o << "<div><h3>Confusion " << (normalised ? "(row-normalised: recall on the diagonal)" : "(counts)")
      << "</h3><table class=\"heatmap\" data-run=\"" << esc(r.name) << "\" data-kind=\""
      << (normalised ? "share" : "count") << "\"><tr><th class=\"corner\">true \\ predicted</th>";
    for (const auto& n : names) o << "<th>" << esc(n) << "</th>";
    o << "</tr>";
    int64_t most = 1;
    for (const auto& row : confusion) for (auto v : row) most = std::max(most, v);
    for (size_t a = 0; a < names.size(); ++a) {
      int64_t total = 0;
      for (auto v : confusion[a]) total += v;
      o << "<tr><th>" << esc(names[a]) << "</th>";
      for (size_t b = 0; b < names.size(); ++b) {
        const double share = total ? confusion[a][b] / static_cast<double>(total) : 0.0;
        const double level = normalised ? share : confusion[a][b] / static_cast<double>(most);
        char style[96];
        std::snprintf(style, sizeof style, "background:rgba(33,102,172,%.3f);color:%s", level,
                      level > 0.55 ? "#fff" : "#111");
        o << "<td style=\"" << style << "\">"
          << (normalised ? (total ? fixed(share, 2) : "&ndash;") : std::to_string(confusion[a][b]))
          << "</td>";
      }
      o << "</tr>";
    }
    o << "</table></div>\n";
  }
  o << "</div>\n";
}

void run_charts(std::ostream& o, const RunRecord& r) {
  const std::string attr = "data-run=\"" + esc(r.name) + "\"";
  const auto subjects = r.subjects().size();
  o << canvas("subjects", attr, static_cast<int>(std::min<size_t>(260 + subjects * 6, 520)),
              "Accuracy per test subject (worst first; n = its samples)");
  if (r.curves.empty()) {
    o << "<p class=\"note\">No training curves: "
      << (r.kind == RunKind::kOtherData ? "this run tests trained models, it trained none."
                                        : "the run folder has no folds/*/fold.json.")
      << "</p>\n";
    return;
  }
  o << "<div class=\"row\">";
  o << canvas("curve", attr + " data-metric=\"train_loss\"", 260,
              "Training loss per epoch (thin: each fold; bold: median)");
  if (!r.curves.front().train_accuracy.empty()) {
    o << canvas("curve", attr + " data-metric=\"train_accuracy\"", 260,
                "Training accuracy per epoch (thin: each fold; bold: median)");
  }
  if (!r.curves.front().selection_score.empty()) {
    o << canvas("curve", attr + " data-metric=\"selection_score\"", 260,
                selection_label(r) + " per epoch");
  }
  o << "</div>\n";
  if (r.curves.front().train_accuracy.empty()) {
    o << "<p class=\"note\">Training accuracy per epoch is not recorded in this run's fold.json "
         "(runs of an older mer).</p>\n";
  }
}

void explanations_section(std::ostream& o, const RunRecord& r,
                          const std::vector<ExplanationFigure>& explanations) {
  std::vector<const ExplanationFigure*> mine;
  for (const auto& e : explanations) if (e.run == r.name) mine.push_back(&e);
  if (mine.empty()) return;
  o << "<h3>Explanations (mer explain)</h3><div class=\"explanations\">";
  for (const auto* e : mine) {
    o << "<figure class=\"explanation\" data-sample=\"" << esc(e->sample) << "\"><figcaption>"
      << esc(e->sample) << ": true " << esc(e->label) << ", predicted " << esc(e->prediction)
      << (e->label == e->prediction ? " (correct)" : " (wrong)") << "</figcaption>";
    if (!e->png.empty()) {
      o << "<img alt=\"explanation of " << esc(e->sample) << "\" src=\"data:image/png;base64,"
        << base64(e->png) << "\">";
    } else {
      o << "<p class=\"note\">" << esc(e->note) << "</p>";
    }
    o << "</figure>";
  }
  o << "</div>\n";
}


std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
  return text;
}

void overview(std::ostream& o, const ReportContent& c) {
  o << "<section id=\"runs\"><h2>Runs</h2><table class=\"runs-table\"><tr><th>run</th><th>model"
       "</th><th>protocol</th><th>data</th><th>seed</th><th>epochs</th><th>folds</th><th>UF1"
       "</th><th>UAR</th><th>accuracy</th></tr>";
  for (const auto& r : c.runs) {
    const auto& s = r.summary;
    o << "<tr" << (r.oracle() ? " class=\"oracle-row\"" : "") << "><td><a href=\"#"
      << anchor(r.name) << "\">" << esc(r.name) << "</a></td><td>" << esc(r.model_label())
      << "</td><td>" << (r.oracle() ? "<span class=\"badge\">ORACLE</span>" : esc(r.protocol()))
      << "</td><td>" << esc(r.kind == RunKind::kOtherData ? "tested on " + r.data() : r.data())
      << "</td>" << num(s.value("seed", json())) << num(s.value("epochs", json()))
      << num(s.value("folds", json())) << num(s.at("uf1")) << num(s.at("uar"))
      << num(s.at("accuracy")) << "</tr>";
  }
  o << "</table></section>\n";
}

}  // namespace

std::string read_chart_library(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(path + " not found: mer report inlines Debian's Chart.js; install it with "
                      "`apt-get install libjs-chart.js` (scripts/bootstrap.sh does)");
  }
  std::stringstream text;
  text << in.rdbuf();
  const std::string source = text.str();
  // Inlined in a <script> element: the library must not close it.
  if (source.find("</script") != std::string::npos) {
    throw ConfigError(path + ": contains \"</script\" and cannot be inlined");
  }
  return source;
}

std::string render_html(const ReportContent& c, const std::vector<ExplanationFigure>& explanations,
                        const std::string& chart_library, const HtmlReportOptions& options) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
    << esc(options.title()) << "</title>\n<style>" << kReportCss << "</style>\n<script>"
    << kErrorCaptureJs << "</script>\n</head><body>\n<header><h1>" << esc(options.title())
    << "</h1><p>" << c.runs.size() << " run(s); written " << now_utc() << " by mer "
    << kVersion << ". Tables as CSV: mer report --csv DIR.</p><nav>";
  o << "<a href=\"#runs\">runs</a>";
  if (c.runs.size() > 1 || !c.comparisons.empty()) o << " <a href=\"#comparison\">comparison</a>";
  if (!c.tables.at("occlusion").rows.empty()) o << " <a href=\"#occlusion\">occlusion</a>";
  for (const auto& r : c.runs) {
    o << " <a href=\"#" << anchor(r.name) << "\"" << (r.oracle() ? " class=\"oracle-link\"" : "")
      << ">" << esc(r.name) << (r.oracle() ? " (ORACLE)" : "") << "</a>";
  }
  o << "</nav></header>\n<main>\n";
  overview(o, c);
  comparison_section(o, c);
  occlusion_section(o, c);
  for (const auto& r : c.runs) {
    run_header(o, r);
    run_metrics(o, c, r);
    run_charts(o, r);
    explanations_section(o, r, explanations);
    o << "</section>\n";
  }
  o << "</main>\n<div id=\"render-status\" data-done=\"0\"></div>\n";
  json data = {{"tables", json::object()}, {"curves", page_curves(c, options)}};
  for (const auto& [name, table] : c.tables) {
    if (name != "curve_medians") data["tables"][name] = table.to_json();
  }
  std::string text = data.dump();
  // "</" would end the script element; "<\/" is the same JSON string.
  for (size_t at = 0; (at = text.find("</", at)) != std::string::npos; at += 3) {
    text.replace(at, 2, "<\\/");
  }
  o << "<script type=\"application/json\" id=\"report-data\">" << text << "</script>\n";
  o << "<script>" << chart_library << "\n</script>\n<script>" << kReportJs << "</script>\n";
  o << "</body></html>\n";
  return o.str();
}

void write_csv_tables(const ReportContent& content,
                      const std::vector<ExplanationFigure>& explanations, const std::string& dir) {
  fs::create_directories(dir);
  for (const auto& [name, table] : content.tables) {
    write_text((fs::path(dir) / (name + ".csv")).string(), table.csv());
  }
  // Every epoch of every fold: written directly, it is by far the largest table.
  std::ostringstream curves;
  curves << "run,fold,epoch,train_loss,train_accuracy,selection_score,selection_metric,epoch_used\n";
  char number[40];
  const auto cell = [&](const std::vector<double>& v, size_t e) {
    if (e >= v.size()) return std::string();
    std::snprintf(number, sizeof number, "%.17g", v[e]);
    return std::string(number);
  };
  for (const auto& r : content.runs) {
    const std::string metric = r.protocol() == "inner-val" ? "validation_uf1"
                               : r.protocol() == "oracle"  ? "test_accuracy"
                                                           : "";
    for (const auto& c : r.curves) {
      const std::string prefix = csv::escape(r.name) + "," + csv::escape(c.fold) + ",";
      for (size_t e = 0; e < c.train_loss.size(); ++e) {
        curves << prefix << e + 1 << "," << cell(c.train_loss, e) << ","
               << cell(c.train_accuracy, e) << "," << cell(c.selection_score, e) << ","
               << (c.selection_score.empty() ? "" : metric) << ","
               << (static_cast<int64_t>(e + 1) == c.epoch_used ? "true" : "false") << "\n";
      }
    }
  }
  write_text((fs::path(dir) / "curves.csv").string(), curves.str());
  Table t{"explanations", {"run", "sample", "label", "prediction", "correct", "figure", "note"}, {}};
  if (!explanations.empty()) fs::create_directories(fs::path(dir) / "figures");
  for (const auto& e : explanations) {
    std::string file;
    if (!e.png.empty()) {
      file = "figures/" + anchor(e.run) + "_" + e.sample + ".png";
      std::replace(file.begin() + 8, file.end(), '/', '_');
      write_file_atomic((fs::path(dir) / file).string(), e.png);
    }
    t.add({e.run, e.sample, e.label, e.prediction, e.label == e.prediction,
           file.empty() ? json() : json(file), e.note});
  }
  write_text((fs::path(dir) / "explanations.csv").string(), t.csv());
}

}  // namespace mer::report
