// The report's content and page on small real runs (report_fixtures.h): numbers equal
// summary.json, recomputation from predictions.csv agrees with it, CSV tables are written,
// runs that must not be compared are kept apart.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/report/html_report.h"
#include "mer/report/report_content.h"
#include "mer/report/run_reader.h"
#include "mer/report/run_statistics.h"
#include "report_fixtures.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mer::report {

namespace {

class ReportOnRuns : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    runs_ = testing::small_runs(error);
    ASSERT_TRUE(error.empty()) << error;
  }
  std::vector<RunRecord> read(const std::vector<std::string>& dirs) {
    std::vector<RunRecord> out;
    for (const auto& d : dirs) out.push_back(read_run(d));
    return out;
  }
  testing::SmallRuns runs_;
};

const Table& table(const ReportContent& c, const std::string& name) { return c.tables.at(name); }

json cell(const Table& t, const std::vector<json>& row, const std::string& column) {
  const auto at = std::find(t.columns.begin(), t.columns.end(), column) - t.columns.begin();
  return row.at(static_cast<size_t>(at));
}

std::string page_data(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"report-data\">";
  const auto a = html.find(open) + open.size();
  return html.substr(a, html.find("</script>", a) - a);
}

}  // namespace

TEST_F(ReportOnRuns, NumbersInThePageEqualSummaryJson) {
  const auto content = analyse_runs(read(runs_.all()));
  const auto html = render_html(content, {}, "/* chart library */");
  const auto data = json::parse(page_data(html));
  for (const auto& run : content.runs) {
    const auto& s = run.summary;
    // The embedded tables (what the charts draw) hold summary.json's values exactly.
    bool overall = false;
    int parts = 0;
    for (const auto& row : data["tables"]["metrics"]["rows"]) {
      if (row[0] != run.name || row[2] != "reported") continue;
      const auto& m = row[1] == "all" ? s : s.at("per_dataset").at(row[1].get<std::string>());
      overall |= row[1] == "all";
      parts += row[1] != "all";
      EXPECT_EQ(row[4], m.at("uf1"));
      EXPECT_EQ(row[5], m.at("uar"));
      EXPECT_EQ(row[6], m.at("accuracy"));
    }
    EXPECT_TRUE(overall);
    EXPECT_EQ(parts, static_cast<int>(s.at("per_dataset").size()));
    // The table cells carry the exact value beside the 4 shown decimals.
    for (const char* metric : {"uf1", "uar", "accuracy"}) {
      EXPECT_NE(html.find("data-value=\"" + s.at(metric).dump() + "\""), std::string::npos)
          << run.name << " " << metric;
    }
    // Recomputed from predictions.csv, the pooled figures agree with summary.json exactly.
    const auto subjects = subject_confusions(run);
    Confusion pooled = subjects.confusion.front();
    for (size_t i = 1; i < subjects.confusion.size(); ++i) {
      for (size_t a = 0; a < pooled.size(); ++a)
        for (size_t b = 0; b < pooled.size(); ++b) pooled[a][b] += subjects.confusion[i][a][b];
    }
    EXPECT_EQ(json(pooled), s.at("confusion")) << run.name;
    const auto m = pooled_metrics(pooled);
    EXPECT_EQ(m.uf1, s.at("uf1").get<double>()) << run.name;
    EXPECT_EQ(m.uar, s.at("uar").get<double>()) << run.name;
    EXPECT_EQ(m.accuracy, s.at("accuracy").get<double>()) << run.name;
  }
  // Per-class recall and F1 as summary.json stores them.
  const auto& pc = table(content, "per_class");
  for (const auto& row : pc.rows) {
    const auto& run = *std::find_if(content.runs.begin(), content.runs.end(),
                                    [&](const RunRecord& r) { return r.name == row[0]; });
    const auto names = run.class_names();
    const auto k = std::find(names.begin(), names.end(), row[1]) - names.begin();
    EXPECT_EQ(cell(pc, row, "recall"), run.summary.at("per_class").at("recall").at(k));
    EXPECT_EQ(cell(pc, row, "f1"), run.summary.at("per_class").at("f1").at(k));
  }
  // The comparison's mean of one-seed groups is the run's figure, and the bootstrap
  // estimate recomputed from predictions.csv is the same number.
  for (const auto& row : table(content, "comparison").rows) {
    if (cell(table(content, "comparison"), row, "runs").get<std::string>().find(' ') != std::string::npos) continue;
    EXPECT_EQ(cell(table(content, "comparison"), row, "mean"),
              cell(table(content, "comparison"), row, "estimate"));
  }
}

TEST_F(ReportOnRuns, PairedDifferenceOfARunWithItselfIsZero) {
  const auto run = read_run(runs_.st1);
  const auto s = subject_confusions(run);
  const std::vector<std::vector<Confusion>> g = {aligned_confusions(s, s.subjects)};
  const auto d = paired_difference(g, g);
  for (const auto& i : {d.uf1, d.uar, d.accuracy}) {
    EXPECT_EQ(i.estimate, 0.0);
    EXPECT_EQ(i.low, 0.0);
    EXPECT_EQ(i.high, 0.0);
  }
  // The same run given twice is one model with two runs, never a pair with itself.
  const auto content = analyse_runs(read({runs_.st1, runs_.st1}));
  ASSERT_EQ(content.comparisons.size(), 1u);
  EXPECT_EQ(content.comparisons[0].groups.size(), 1u);
  EXPECT_EQ(content.runs[1].name, "st-s1 (2)");
}

TEST_F(ReportOnRuns, OracleDataAndKindsAreNeverMixedInAComparison) {
  auto runs = read(runs_.all());
  auto other = runs[0];  // st-s1 as if trained on other data
  other.name = "st-s1-elsewhere";
  other.summary["data_checksum"] = "0123456789abcdef";
  other.summary["data"] = "data/elsewhere";
  runs.push_back(other);
  const auto content = analyse_runs(runs);
  std::map<std::string, std::set<std::string>> members;  // comparison -> run names
  for (const auto& c : content.comparisons) {
    for (const auto& g : c.groups)
      for (size_t i : g.runs) members[c.id].insert(content.runs[i].name);
    // Within a comparison: one kind, one protocol, one data checksum.
    std::set<std::string> keys;
    for (const auto& g : c.groups)
      for (size_t i : g.runs) {
        const auto& r = content.runs[i];
        keys.insert(r.protocol() + "|" + r.data_checksum() + "|" +
                    (r.kind == RunKind::kLoso ? "loso" : "other"));
        EXPECT_EQ(r.oracle(), c.oracle);
      }
    EXPECT_EQ(keys.size(), 1u) << c.id;
    EXPECT_FALSE(c.why_apart.empty()) << c.id;
  }
  ASSERT_EQ(content.comparisons.size(), 5u);
  // Honest STSTNet (2 seeds) and FR together; inner-val, oracle, other data, the occluded
  // evaluation each alone, saying why.
  const auto& honest = content.comparisons[0];
  EXPECT_EQ(members[honest.id], (std::set<std::string>{"st-s1", "st-s2", "fr-s1"}));
  ASSERT_EQ(honest.groups.size(), 2u);
  EXPECT_EQ(honest.groups[0].runs.size(), 2u);
  EXPECT_EQ(honest.pairs.size(), 1u);
  for (const auto& c : content.comparisons) {
    if (members[c.id] == std::set<std::string>{"st-oracle-s1"}) {
      EXPECT_TRUE(c.oracle);
    }
    if (members[c.id] == std::set<std::string>{"st-s1-elsewhere"}) {
      EXPECT_NE(c.why_apart.find("other data"), std::string::npos) << c.why_apart;
    }
  }
  EXPECT_NE(honest.why_apart.find("protocol oracle"), std::string::npos) << honest.why_apart;
  // The page bannners exactly the oracle run.
  const auto html = render_html(content, {}, "");
  size_t banners = 0;
  for (size_t at = 0; (at = html.find("class=\"oracle-banner\"", at)) != std::string::npos; ++at) ++banners;
  EXPECT_EQ(banners, 1u);
  EXPECT_NE(html.find("class=\"oracle-banner\" data-run=\"st-oracle-s1\""), std::string::npos);
}

TEST_F(ReportOnRuns, OcclusionPairsTheEvaluationWithItsCleanRun) {
  const auto content = analyse_runs(read({runs_.fr, runs_.fr_on_block}));
  const auto& t = table(content, "occlusion");
  ASSERT_EQ(t.rows.size(), 3u);  // uf1, uar, accuracy
  const auto clean = read_run(runs_.fr).summary;
  const auto occluded = read_run(runs_.fr_on_block).summary;
  EXPECT_EQ(cell(t, t.rows[0], "clean_run"), "fr-s1");
  EXPECT_EQ(cell(t, t.rows[0], "condition"), "synth-block30");
  EXPECT_EQ(cell(t, t.rows[0], "clean"), clean.at("uf1"));
  EXPECT_EQ(cell(t, t.rows[0], "occluded"), occluded.at("uf1"));
  EXPECT_EQ(table(content, "occlusion_by_model").rows.size(), 3u);
  // The evaluation trained nothing: no curves; the LOSO run has one per fold.
  EXPECT_TRUE(content.runs[1].curves.empty());
  EXPECT_EQ(content.runs[0].curves.size(), 4u);
}

TEST_F(ReportOnRuns, ChartsNameModelsShortlyAndConfigurationsByWhatDiffers) {
  // Different models: each is called by its name, the table keeps the whole configuration.
  auto content = analyse_runs(read({runs_.st1, runs_.fr}));
  ASSERT_EQ(content.comparisons.size(), 1u);
  const auto& groups = content.comparisons[0].groups;
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].label, "ststnet");
  EXPECT_EQ(groups[1].label, "fr");
  EXPECT_NE(groups[1].model_label.find("branch_channels="), std::string::npos);
  const auto& t = table(content, "comparison");
  for (const auto& row : t.rows) {
    EXPECT_EQ(cell(t, row, "label"), cell(t, row, "model").get<std::string>().substr(0, 3) == "fr "
                                         ? json("fr") : json("ststnet"));
  }
  // Two configurations of one model beside another model: the option that differs, only.
  auto runs = read({runs_.st1, runs_.st1, runs_.fr});
  runs[0].summary["model_options"] = {{"dropout", "0.5"}, {"patch", "3"}};
  runs[1].summary["model_options"] = {{"dropout", "0.3"}, {"patch", "3"}};
  content = analyse_runs(runs);
  ASSERT_EQ(content.comparisons.size(), 1u);
  std::set<std::string> labels;
  for (const auto& g : content.comparisons[0].groups) labels.insert(g.label);
  EXPECT_EQ(labels, (std::set<std::string>{"ststnet (dropout=0.5)", "ststnet (dropout=0.3)", "fr"}));
  const auto& p = table(content, "paired_differences");
  ASSERT_FALSE(p.rows.empty());
  for (const auto& row : p.rows) {
    EXPECT_TRUE(labels.count(cell(p, row, "label_a").get<std::string>()));
    EXPECT_TRUE(labels.count(cell(p, row, "label_b").get<std::string>()));
  }
  // The page's tables show the short label, the whole configuration below it.
  const auto html = render_html(content, {}, "/* chart library */");
  EXPECT_NE(html.find("<b>ststnet (dropout=0.3)</b><br><span class=\"config\">ststnet (dropout=0.3, "
                      "patch=3)</span>"),
            std::string::npos);
}

TEST_F(ReportOnRuns, OracleComparisonsShowTheSameTrainingsLastEpochBesideThem) {
  const auto content = analyse_runs(read({runs_.st1, runs_.oracle}));
  const auto& t = table(content, "selection_gap");
  const auto& oracle = *std::find_if(content.runs.begin(), content.runs.end(),
                                     [](const RunRecord& r) { return r.oracle(); });
  ASSERT_TRUE(oracle.summary.contains("honest_last_epoch"));
  std::set<std::string> metrics;
  for (const auto& row : t.rows) {
    const auto metric = cell(t, row, "metric").get<std::string>();
    metrics.insert(metric);
    const auto& comparison = *std::find_if(
        content.comparisons.begin(), content.comparisons.end(),
        [&](const Comparison& c) { return c.id == cell(t, row, "comparison"); });
    EXPECT_TRUE(comparison.oracle);  // never beside an honest comparison
    EXPECT_EQ(cell(t, row, "oracle"), oracle.summary.at(metric));
    EXPECT_EQ(cell(t, row, "last_epoch"), oracle.summary.at("honest_last_epoch").at(metric));
    EXPECT_EQ(cell(t, row, "gap").get<double>(),
              oracle.summary.at(metric).get<double>() -
                  oracle.summary.at("honest_last_epoch").at(metric).get<double>());
    EXPECT_TRUE(cell(t, row, "gap_sd").is_null());  // one run: no spread
  }
  EXPECT_EQ(metrics, (std::set<std::string>{"uf1", "uar", "accuracy"}));
  const auto html = render_html(content, {}, "/* chart library */");
  EXPECT_NE(html.find("What the selection adds"), std::string::npos);
  EXPECT_NE(html.find("<canvas data-chart=\"gap\""), std::string::npos);
  // Honest runs alone: no such section.
  const auto honest = analyse_runs(read({runs_.st1, runs_.fr}));
  EXPECT_TRUE(table(honest, "selection_gap").rows.empty());
  EXPECT_EQ(render_html(honest, {}, "").find("What the selection adds"), std::string::npos);
}

TEST_F(ReportOnRuns, CsvTablesAreWritten) {
  const auto content = analyse_runs(read(runs_.all()));
  const auto dir = fs::path(runs_.root) / ("csv-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  write_csv_tables(content, {}, dir.string());
  for (const char* name : {"runs", "metrics", "per_class", "confusion", "per_subject", "curves",
                           "curve_medians", "comparison", "paired_differences", "selection_gap", "occlusion",
                           "occlusion_by_model", "explanations"}) {
    EXPECT_TRUE(fs::is_regular_file(dir / (std::string(name) + ".csv"))) << name;
  }
  // A CSV reads back to the table, numbers to the same doubles.
  const auto rows = csv::read_file((dir / "runs.csv").string());
  ASSERT_EQ(rows.size(), content.runs.size() + 1);
  const auto& columns = rows[0].fields;
  const auto uf1 = std::find(columns.begin(), columns.end(), "uf1") - columns.begin();
  for (size_t r = 0; r < content.runs.size(); ++r) {
    EXPECT_EQ(std::stod(rows[r + 1].fields[uf1]), content.runs[r].summary.at("uf1").get<double>());
  }
  // Every epoch of every fold.
  size_t epochs = 0;
  for (const auto& r : content.runs)
    for (const auto& c : r.curves) epochs += c.train_loss.size();
  EXPECT_EQ(csv::read_file((dir / "curves.csv").string()).size(), epochs + 1);
  fs::remove_all(dir);
}

TEST_F(ReportOnRuns, CliWritesThePageAndFailsClearlyWithoutTheChartLibrary) {
  const auto out = fs::path(runs_.root) / ("cli-" + std::to_string(::getpid()));
  fs::remove_all(out);
  const auto ok = run_mer_binary("report " + runs_.st1 + " " + runs_.fr + " --out " +
                                 (out / "r.html").string() + " --csv " + (out / "csv").string());
  ASSERT_EQ(ok.code, 0) << ok.output;
  EXPECT_TRUE(fs::is_regular_file(out / "r.html"));
  EXPECT_TRUE(fs::is_regular_file(out / "csv" / "comparison.csv"));
  // FR explains itself: figures for its samples, embedded and written beside the CSVs.
  EXPECT_FALSE(fs::is_empty(out / "csv" / "figures")) << ok.output;
  std::ifstream in(out / "r.html");
  std::stringstream html;
  html << in.rdbuf();
  EXPECT_NE(html.str().find("data:image/png;base64,"), std::string::npos);
  EXPECT_EQ(html.str().find("src=\"http"), std::string::npos);  // offline: nothing fetched

  const auto missing = run_mer_binary("report " + runs_.st1 + " --chart-js /nonexistent/chart.js --out " +
                                      (out / "x.html").string());
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.output.find("libjs-chart.js"), std::string::npos) << missing.output;
  EXPECT_FALSE(fs::exists(out / "x.html"));
  const auto not_a_run = run_mer_binary("report " + runs_.data + " --out " + (out / "y.html").string());
  EXPECT_NE(not_a_run.code, 0);
  EXPECT_NE(not_a_run.output.find("summary.json"), std::string::npos) << not_a_run.output;
  fs::remove_all(out);
}

}  // namespace mer::report
