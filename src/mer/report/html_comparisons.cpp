#include "mer/report/html_comparisons.h"

#include <algorithm>
#include <string>
#include <vector>

#include "mer/report/html_text.h"

namespace mer::report {

using html::canvas;
using html::esc;
using html::fixed;
using html::num;
using html::signed_fixed;
using html::text_of;
using nlohmann::json;

namespace {

std::string interval_cell(const json& mean, const json& sd, const json& low, const json& high) {
  std::string text = fixed(mean.get<double>());
  if (!sd.is_null()) text += " &plusmn; " + fixed(sd.get<double>());
  return "<td class=\"num\" data-value=\"" + mean.dump() + "\">" + text +
         "<br><span class=\"ci\">[" + fixed(low.get<double>()) + ", " + fixed(high.get<double>()) +
         "]</span></td>";
}

// A compared model: its short label, and below it the whole configuration when that says more.
std::string group_cell(const ComparisonGroup& group) {
  std::string cell = "<b>" + esc(group.label) + "</b>";
  if (group.model_label != group.label) {
    cell += "<br><span class=\"config\">" + esc(group.model_label) + "</span>";
  }
  return cell;
}

// Under an oracle comparison: the same trainings' last epoch (honest) beside each oracle
// figure, so that the page shows what the selection on the test subject adds.
void selection_gap(std::ostream& o, const ReportContent& c, const Comparison& cmp) {
  const auto& t = c.tables.at("selection_gap");
  std::vector<const std::vector<json>*> rows;
  for (const auto& row : t.rows) {
    if (row[0] == cmp.id) rows.push_back(&row);
  }
  if (rows.empty()) return;
  o << "<h4>What the selection adds</h4><p class=\"note\">The same trainings' last epoch "
       "(honest: no choice made on a test subject) beside the oracle figure; gap = oracle "
       "&minus; last epoch, run by run, mean &plusmn; sd over the runs (seeds).</p>"
       "<table class=\"gap-table\"><tr><th>model</th><th>runs (seeds)</th><th>UF1 oracle</th>"
       "<th>UF1 last epoch</th><th>UF1 gap</th><th>UAR oracle</th><th>UAR last epoch</th>"
       "<th>UAR gap</th></tr>";
  for (const auto& group : cmp.groups) {
    std::vector<const std::vector<json>*> mine;
    for (const auto* row : rows) {
      if ((*row)[1] == group.model_label && (*row)[5] != "accuracy") mine.push_back(row);
    }
    if (mine.empty()) continue;
    o << "<tr><td>" << group_cell(group) << "</td><td>" << group.runs.size() << " ("
      << esc(text_of((*mine.front())[4])) << ")</td>";
    for (const auto* row : mine) {
      const auto& r = *row;
      o << num(r[6]) << num(r[7]) << "<td class=\"num\" data-value=\"" << r[8].dump()
        << "\">" << signed_fixed(r[8].get<double>())
        << (r[9].is_null() ? "" : " &plusmn; " + fixed(r[9].get<double>())) << "</td>";
    }
    o << "</tr>";
  }
  o << "</table>\n"
    << canvas("gap", "data-comparison=\"" + cmp.id + "\"", 230,
              "UF1 of the same trainings: last epoch (honest) and the epoch chosen on the test "
              "subject (ORACLE)");
}

}  // namespace

void comparison_section(std::ostream& o, const ReportContent& c) {
  o << "<section id=\"comparison\"><h2>Comparison</h2><p class=\"note\">Per model: mean &plusmn; "
       "sd of summary.json's figures over its runs (seeds); below it the 95% interval of a "
       "bootstrap over LOSO subjects (subjects drawn with replacement, UF1/UAR recomputed "
       "from the pooled confusion matrix of the drawn subjects, averaged over the seeds). Paired "
       "differences use the same draws for both models, on the same folds. Runs on other data, "
       "under another protocol or on other subjects are in separate comparisons.</p>\n";
  const auto& t = c.tables.at("comparison");
  const auto& p = c.tables.at("paired_differences");
  for (const auto& cmp : c.comparisons) {
    o << "<div class=\"comparison" << (cmp.oracle ? " oracle" : "") << "\" data-comparison=\""
      << cmp.id << "\"><h3>" << cmp.id << ": " << esc(cmp.title) << "</h3>";
    if (cmp.oracle) {
      o << "<p class=\"oracle-note\">ORACLE runs only: epochs chosen on the test subject; "
           "inflated figures, kept apart from every honest comparison.</p>";
    }
    if (!cmp.why_apart.empty()) o << "<p class=\"note\">" << esc(cmp.why_apart) << "</p>";
    o << "<table class=\"comparison-table\"><tr><th>model</th><th>runs (seeds)</th><th>UF1</th>"
         "<th>UAR</th><th>accuracy</th></tr>";
    for (size_t g = 0; g < cmp.groups.size(); ++g) {
      std::vector<const std::vector<json>*> rows;
      for (const auto& row : t.rows) {
        if (row[0] == cmp.id && row[3] == cmp.groups[g].model_label) rows.push_back(&row);
      }
      const auto& f = *rows.front();
      o << "<tr><td>" << group_cell(cmp.groups[g]) << "</td><td>" << cmp.groups[g].runs.size()
        << " (" << esc(text_of(f[6])) << ")</td>";
      for (const auto* row : rows) o << interval_cell((*row)[8], (*row)[9], (*row)[11], (*row)[12]);
      o << "</tr>";
    }
    o << "</table>\n";
    o << canvas("comparison", "data-comparison=\"" + cmp.id + "\"", 230,
                "Mean over seeds with the 95% bootstrap interval over subjects");
    if (!cmp.pairs.empty()) {
      o << "<table class=\"paired-table\"><tr><th>difference</th><th>UF1</th><th>UAR</th>"
           "<th>accuracy</th></tr>";
      for (const auto& pair : cmp.pairs) {
        const auto& a = cmp.groups[pair.a].model_label;
        const auto& b = cmp.groups[pair.b].model_label;
        o << "<tr><td title=\"" << esc(a) << " &minus; " << esc(b) << "\">"
          << esc(cmp.groups[pair.a].label) << " &minus; " << esc(cmp.groups[pair.b].label)
          << "</td>";
        for (const auto& row : p.rows) {
          if (row[0] == cmp.id && row[1] == a && row[2] == b) {
            o << "<td class=\"num\" data-value=\"" << row[6].dump() << "\">"
              << signed_fixed(row[6].get<double>())
              << "<br><span class=\"ci\">[" << fixed(row[7].get<double>()) << ", "
              << fixed(row[8].get<double>()) << "]</span></td>";
          }
        }
        o << "</tr>";
      }
      o << "</table>\n";
      o << canvas("paired", "data-comparison=\"" + cmp.id + "\"",
                  static_cast<int>(140 + 40 * cmp.pairs.size()),
                  "Paired differences on the same folds (95% bootstrap interval; 0 = no difference)");
    }
    if (cmp.oracle) selection_gap(o, c, cmp);
    o << "</div>\n";
  }
  o << "</section>\n";
}

void occlusion_section(std::ostream& o, const ReportContent& c) {
  const auto& t = c.tables.at("occlusion_by_model");
  if (c.tables.at("occlusion").rows.empty()) return;
  o << "<section id=\"occlusion\"><h2>Occlusion</h2><p class=\"note\">Clean-trained LOSO models "
       "tested on occluded copies of their test subjects (mer evaluate --on-other-data); clean = "
       "the same run on its own data. Means over the runs (seeds) of each model.</p>\n";
  std::vector<std::string> models;
  for (const auto& row : t.rows) {
    if (std::find(models.begin(), models.end(), row[0]) == models.end()) models.push_back(row[0]);
  }
  if (models.empty()) {
    o << "<p class=\"note\">The clean runs of these evaluations were not found (give them to "
         "mer report, or keep them at the folder their summary.json names).</p>";
  }
  for (const auto& model : models) {
    o << "<div class=\"occlusion\" data-model=\"" << esc(model) << "\"><h3>" << esc(model)
      << "</h3><table class=\"occlusion-table\"><tr><th>tested on</th><th>runs</th><th>clean UF1"
         "</th><th>occluded UF1</th><th>change</th><th>clean UAR</th><th>occluded UAR</th>"
         "<th>change</th></tr>";
    std::vector<std::string> conditions;
    for (const auto& row : t.rows) {
      if (row[0] == model && std::find(conditions.begin(), conditions.end(), row[1]) == conditions.end())
        conditions.push_back(row[1]);
    }
    for (const auto& cond : conditions) {
      o << "<tr><td>" << esc(cond) << "</td>";
      bool first = true;
      for (const char* metric : {"uf1", "uar"}) {
        for (const auto& row : t.rows) {
          if (row[0] == model && row[1] == cond && row[3] == metric) {
            if (first) o << num(row[2]);
            first = false;
            o << num(row[4]) << num(row[5]) << num(row[6]);
          }
        }
      }
      o << "</tr>";
    }
    o << "</table>\n"
      << canvas("occlusion", "data-model=\"" + esc(model) + "\"", 260, "Clean -> occluded, " + model);
    o << "</div>\n";
  }
  o << "</section>\n";
}

}  // namespace mer::report
