#include "mer/report/report_content.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "mer/core/csv.h"
#include "mer/core/error.h"

namespace fs = std::filesystem;

namespace mer::report {

void Table::add(std::vector<nlohmann::json> row) {
  MER_CHECK(row.size() == columns.size(), "table " + name + ": row of " +
                                              std::to_string(row.size()) + " cells, " +
                                              std::to_string(columns.size()) + " columns");
  rows.push_back(std::move(row));
}

std::string Table::csv() const {
  std::ostringstream out;
  out << csv::join(columns) << "\n";
  std::vector<std::string> fields(columns.size());
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      const auto& v = row[c];
      fields[c] = v.is_null() ? "" : v.is_string() ? v.get<std::string>() : v.dump();
    }
    out << csv::join(fields) << "\n";
  }
  return out.str();
}

nlohmann::json Table::to_json() const { return {{"columns", columns}, {"rows", rows}}; }

namespace {

using nlohmann::json;
const char* const kMetrics[] = {"uf1", "uar", "accuracy"};

json maybe(const json& j, const char* key) { return j.contains(key) ? j.at(key) : json(); }

std::string short_checksum(const std::string& c) { return c.size() > 12 ? c.substr(0, 12) : c; }

Interval pick(const MetricIntervals& m, const std::string& metric) {
  return metric == "uf1" ? m.uf1 : metric == "uar" ? m.uar : m.accuracy;
}

void make_names_unique(std::vector<RunRecord>& runs) {
  std::map<std::string, int> seen;
  for (auto& r : runs) {
    const int n = ++seen[r.name];
    if (n > 1) r.name += " (" + std::to_string(n) + ")";
  }
}

Table runs_table(const std::vector<RunRecord>& runs) {
  Table t{"runs",
          {"run", "dir", "kind", "model", "model_label", "protocol", "oracle", "protocol_note",
           "epochs", "seed", "folds", "folds_total", "n", "uf1", "uar", "accuracy", "data",
           "data_checksum", "trained_on", "mer_version", "written", "seconds", "fold_seconds",
           "training"},
          {}};
  for (const auto& r : runs) {
    const auto& s = r.summary;
    t.add({r.name, r.dir, r.kind == RunKind::kLoso ? "loso" : "other-data", r.model(),
           r.model_label(), r.protocol(), r.oracle(), maybe(s, "protocol_note"),
           maybe(s, "epochs"), maybe(s, "seed"), maybe(s, "folds"), maybe(s, "folds_total"),
           maybe(s, "n"), s.at("uf1"), s.at("uar"), s.at("accuracy"), r.data(),
           r.data_checksum(), maybe(s, "trained_on"), maybe(s, "mer_version"), r.written,
           maybe(s, "seconds"), maybe(s, "fold_seconds"),
           s.contains("training") ? json(s.at("training").dump()) : json()});
  }
  return t;
}

Table metrics_table(const std::vector<RunRecord>& runs) {
  Table t{"metrics", {"run", "part", "figure", "n", "uf1", "uar", "accuracy"}, {}};
  for (const auto& r : runs) {
    const auto& s = r.summary;
    t.add({r.name, "all", "reported", maybe(s, "n"), s.at("uf1"), s.at("uar"), s.at("accuracy")});
    for (const auto& [part, m] : s.at("per_dataset").items()) {
      t.add({r.name, part, "reported", maybe(m, "n"), m.at("uf1"), m.at("uar"), m.at("accuracy")});
    }
    if (s.contains("honest_last_epoch")) {
      const auto& h = s.at("honest_last_epoch");
      t.add({r.name, "all", "honest_last_epoch", maybe(s, "n"), h.at("uf1"), h.at("uar"),
             h.at("accuracy")});
    }
  }
  return t;
}

Table per_class_table(const std::vector<RunRecord>& runs) {
  Table t{"per_class", {"run", "class", "support", "predicted", "precision", "recall", "f1"}, {}};
  for (const auto& r : runs) {
    const auto names = r.class_names();
    const auto confusion = r.summary.at("confusion").get<Confusion>();
    const json* per_class = r.summary.contains("per_class") ? &r.summary.at("per_class") : nullptr;
    for (size_t c = 0; c < names.size(); ++c) {
      int64_t support = 0, predicted = 0;
      for (size_t o = 0; o < names.size(); ++o) {
        support += confusion[c][o];
        predicted += confusion[o][c];
      }
      const int64_t tp = confusion[c][c];
      // Recall and F1 as summary.json stores them; precision is the one it does not.
      const json recall = per_class ? per_class->at("recall").at(c)
                                    : json(support ? tp / static_cast<double>(support) : 0.0);
      const json f1 = per_class ? per_class->at("f1").at(c)
                                : json(support + predicted
                                           ? 2.0 * tp / static_cast<double>(support + predicted)
                                           : 0.0);
      t.add({r.name, names[c], support, predicted,
             predicted ? json(tp / static_cast<double>(predicted)) : json(), recall, f1});
    }
  }
  return t;
}

Table confusion_table(const std::vector<RunRecord>& runs) {
  Table t{"confusion", {"run", "true", "predicted", "count", "row_share"}, {}};
  for (const auto& r : runs) {
    const auto names = r.class_names();
    const auto confusion = r.summary.at("confusion").get<Confusion>();
    for (size_t a = 0; a < names.size(); ++a) {
      int64_t row = 0;
      for (auto v : confusion[a]) row += v;
      for (size_t b = 0; b < names.size(); ++b) {
        t.add({r.name, names[a], names[b], confusion[a][b],
               row ? json(confusion[a][b] / static_cast<double>(row)) : json()});
      }
    }
  }
  return t;
}

Table per_subject_table(const std::vector<RunRecord>& runs) {
  Table t{"per_subject", {"run", "subject", "n", "correct", "accuracy"}, {}};
  for (const auto& r : runs) {
    const auto table = subject_confusions(r);
    struct Row {
      std::string subject;
      int64_t n, correct;
    };
    std::vector<Row> rows;
    for (size_t s = 0; s < table.subjects.size(); ++s) {
      int64_t n = 0, correct = 0;
      const auto& c = table.confusion[s];
      for (size_t a = 0; a < c.size(); ++a) {
        correct += c[a][a];
        for (auto v : c[a]) n += v;
      }
      rows.push_back({table.subjects[s], n, correct});
    }
    // The order of the bar chart: worst subject first.
    std::stable_sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) {
      return x.correct * y.n < y.correct * x.n;
    });
    for (const auto& row : rows) {
      t.add({r.name, row.subject, row.n, row.correct, row.correct / static_cast<double>(row.n)});
    }
  }
  return t;
}

// Median over the folds that ran that epoch (inner-val with patience stops folds early).
Table curve_medians_table(const std::vector<RunRecord>& runs) {
  Table t{"curve_medians", {"run", "metric", "epoch", "median", "folds"}, {}};
  for (const auto& r : runs) {
    for (const char* metric : {"train_loss", "train_accuracy", "selection_score"}) {
      size_t epochs = 0;
      const auto series = [&](const FoldCurve& c) -> const std::vector<double>& {
        return metric[6] == 'l' ? c.train_loss
                                : metric[6] == 'a' ? c.train_accuracy : c.selection_score;
      };
      for (const auto& c : r.curves) epochs = std::max(epochs, series(c).size());
      for (size_t e = 0; e < epochs; ++e) {
        std::vector<double> v;
        for (const auto& c : r.curves) {
          if (e < series(c).size()) v.push_back(series(c)[e]);
        }
        t.add({r.name, metric, static_cast<int64_t>(e + 1), percentile(v, 0.5),
               static_cast<int64_t>(v.size())});
      }
    }
  }
  return t;
}

struct Key {
  std::string kind, data, checksum, trained_on_checksum, protocol;
  std::vector<std::string> subjects;
  bool operator<(const Key& o) const {
    return std::tie(kind, checksum, trained_on_checksum, protocol, subjects) <
           std::tie(o.kind, o.checksum, o.trained_on_checksum, o.protocol, o.subjects);
  }
};

Key key_of(const RunRecord& r) {
  Key k;
  k.kind = r.kind == RunKind::kLoso ? "loso" : "other-data";
  k.data = r.data();
  k.checksum = r.data_checksum();
  k.trained_on_checksum = r.summary.value("trained_on_checksum", std::string());
  k.protocol = r.protocol();
  k.subjects = r.subjects();
  return k;
}

// Labels short enough for a chart's legend and axis: whole configurations run to hundreds of
// characters. A model alone in the comparison is called by its name; several configurations of
// one model by the name and the options in which they differ.
void set_short_labels(std::vector<ComparisonGroup>& groups, const std::vector<RunRecord>& runs) {
  for (auto& g : groups) {
    const auto& run = runs[g.runs.front()];
    std::vector<std::map<std::string, std::string>> siblings;  // this model's configurations
    for (const auto& other : groups) {
      if (runs[other.runs.front()].model() == run.model()) {
        siblings.push_back(runs[other.runs.front()].option_texts());
      }
    }
    g.label = run.model();
    if (siblings.size() < 2) continue;
    std::set<std::string> keys;
    for (const auto& options : siblings) {
      for (const auto& [key, text] : options) keys.insert(key);
    }
    const auto mine = run.option_texts();
    std::string differing;
    for (const auto& key : keys) {
      const auto text_of = [&](const std::map<std::string, std::string>& options) {
        const auto it = options.find(key);
        return it == options.end() ? key + " unset" : it->second;
      };
      const bool differs = std::any_of(siblings.begin(), siblings.end(), [&](const auto& options) {
        return text_of(options) != text_of(mine);
      });
      if (differs) differing += (differing.empty() ? "" : ", ") + text_of(mine);
    }
    g.label += " (" + differing + ")";
  }
}

std::string why_apart(const Key& mine, const std::vector<std::pair<std::string, Key>>& others) {
  std::string out;
  for (const auto& [id, k] : others) {
    std::vector<std::string> reasons;
    if (k.kind != mine.kind) {
      reasons.push_back(k.kind == "loso" ? "LOSO runs, not models tested on other data"
                                         : "models tested on other data, not LOSO runs");
    }
    if (k.checksum != mine.checksum) {
      reasons.push_back("other data (" + k.data + ", checksum " + short_checksum(k.checksum) + ")");
    } else if (k.trained_on_checksum != mine.trained_on_checksum) {
      reasons.push_back("models trained on other data");
    }
    if (k.protocol != mine.protocol) {
      reasons.push_back("protocol " + k.protocol +
                        (k.protocol == "oracle" ? " (epochs chosen on the test subject)" : ""));
    }
    if (k.subjects != mine.subjects) {
      reasons.push_back("other test subjects (" + std::to_string(k.subjects.size()) + " vs " +
                        std::to_string(mine.subjects.size()) + ")");
    }
    std::string joined;
    for (const auto& reason : reasons) joined += (joined.empty() ? "" : "; ") + reason;
    out += (out.empty() ? "" : ", ") + id + ": " + joined;
  }
  return out.empty() ? "" : "Not compared with " + out + ".";
}

std::vector<Comparison> make_comparisons(const std::vector<RunRecord>& runs,
                                         const ReportOptions& options) {
  // Comparisons in the order their first run was given.
  std::vector<Key> keys;
  std::vector<std::vector<size_t>> members;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto k = key_of(runs[i]);
    size_t at = 0;
    while (at < keys.size() && (keys[at] < k || k < keys[at])) ++at;
    if (at == keys.size()) {
      keys.push_back(k);
      members.emplace_back();
    }
    members[at].push_back(i);
  }
  std::vector<Comparison> out;
  std::vector<SubjectConfusions> tables;
  tables.reserve(runs.size());
  for (const auto& r : runs) tables.push_back(subject_confusions(r));
  for (size_t c = 0; c < keys.size(); ++c) {
    const auto& k = keys[c];
    Comparison cmp;
    cmp.id = "c" + std::to_string(c + 1);
    const auto& first = runs[members[c].front()];
    cmp.oracle = first.oracle();
    cmp.title = k.kind == "loso"
                    ? "protocol " + std::string(cmp.oracle ? "ORACLE" : k.protocol) + ", data " +
                          k.data
                    : "trained on " + first.summary.value("trained_on", std::string("?")) +
                          ", tested on " + k.data + " (" + k.protocol + " runs)";
    cmp.title += ", " + std::to_string(k.subjects.size()) + " subjects";
    cmp.subjects = k.subjects;
    std::vector<std::pair<std::string, Key>> others;
    for (size_t o = 0; o < keys.size(); ++o) {
      if (o != c) others.emplace_back("c" + std::to_string(o + 1), keys[o]);
    }
    cmp.why_apart = why_apart(k, others);
    for (size_t i : members[c]) {
      const auto label = runs[i].model_label();
      auto it = std::find_if(cmp.groups.begin(), cmp.groups.end(),
                             [&](const ComparisonGroup& g) { return g.model_label == label; });
      if (it == cmp.groups.end()) {
        cmp.groups.push_back({label, {}, {}, {}});
        it = cmp.groups.end() - 1;
      }
      it->runs.push_back(i);
    }
    set_short_labels(cmp.groups, runs);
    std::vector<std::vector<std::vector<Confusion>>> aligned;
    for (auto& g : cmp.groups) {
      std::stable_sort(g.runs.begin(), g.runs.end(), [&](size_t a, size_t b) {
        return runs[a].summary.value("seed", uint64_t{0}) < runs[b].summary.value("seed", uint64_t{0});
      });
      std::vector<std::vector<Confusion>> group;
      for (size_t i : g.runs) group.push_back(aligned_confusions(tables[i], cmp.subjects));
      g.intervals = bootstrap_group(group, options.bootstrap());
      aligned.push_back(std::move(group));
    }
    for (size_t a = 0; a < cmp.groups.size(); ++a) {
      for (size_t b = a + 1; b < cmp.groups.size(); ++b) {
        cmp.pairs.push_back({a, b, paired_difference(aligned[a], aligned[b], options.bootstrap())});
      }
    }
    out.push_back(std::move(cmp));
  }
  return out;
}

// A group's run names and seeds, space-separated, for the tables' runs and seeds columns.
std::pair<std::string, std::string> names_and_seeds(const ComparisonGroup& g,
                                                    const std::vector<RunRecord>& runs) {
  std::string names, seeds;
  for (size_t i : g.runs) {
    names += (names.empty() ? "" : " ") + runs[i].name;
    seeds += (seeds.empty() ? "" : " ") + runs[i].summary.value("seed", json()).dump();
  }
  return {names, seeds};
}

Table comparison_table(const std::vector<Comparison>& comparisons,
                       const std::vector<RunRecord>& runs) {
  Table t{"comparison",
          {"comparison", "title", "oracle", "model", "label", "runs", "seeds", "metric", "mean",
           "sd", "estimate", "ci_low", "ci_high", "subjects"},
          {}};
  for (const auto& c : comparisons) {
    for (const auto& g : c.groups) {
      const auto [names, seeds] = names_and_seeds(g, runs);
      for (const char* metric : kMetrics) {
        std::vector<double> values;  // summary.json's own figures
        for (size_t i : g.runs) values.push_back(runs[i].summary.at(metric).get<double>());
        const auto ci = pick(g.intervals, metric);
        t.add({c.id, c.title, c.oracle, g.model_label, g.label, names, seeds, metric,
               mean_of(values),
               values.size() > 1 ? json(sd_of(values)) : json(), ci.estimate, ci.low, ci.high,
               static_cast<int64_t>(c.subjects.size())});
      }
    }
  }
  return t;
}

Table paired_table(const std::vector<Comparison>& comparisons) {
  Table t{"paired_differences",
          {"comparison", "model_a", "model_b", "label_a", "label_b", "metric", "difference",
           "ci_low", "ci_high", "subjects"},
          {}};
  for (const auto& c : comparisons) {
    for (const auto& p : c.pairs) {
      for (const char* metric : kMetrics) {
        const auto d = pick(p.difference, metric);
        t.add({c.id, c.groups[p.a].model_label, c.groups[p.b].model_label, c.groups[p.a].label,
               c.groups[p.b].label, metric, d.estimate, d.low, d.high,
               static_cast<int64_t>(c.subjects.size())});
      }
    }
  }
  return t;
}

// The clean figures of an evaluation's LOSO run: a run of the report with the same model,
// seed and epochs on the data it was trained on, else the summary.json at its recorded path.
json clean_summary(const RunRecord& e, const std::vector<RunRecord>& runs, std::string& name) {
  const auto trained = e.summary.value("trained_on_checksum", std::string());
  for (const auto& r : runs) {
    if (r.kind == RunKind::kLoso && r.data_checksum() == trained &&
        r.model_label() == e.model_label() && r.summary.value("seed", json()) == e.summary.value("seed", json()) &&
        r.summary.value("epochs", json()) == e.summary.value("epochs", json())) {
      name = r.name;
      return r.summary;
    }
  }
  const fs::path file = fs::path(e.source_run()) / "summary.json";
  if (!e.source_run().empty() && fs::is_regular_file(file)) {
    try {
      std::ifstream in(file);
      name = e.source_run();
      return json::parse(in);
    } catch (const std::exception&) {
    }
  }
  name = e.source_run();
  return json();
}

std::string condition_of(const RunRecord& e) {
  if (e.data_checksum() == e.summary.value("trained_on_checksum", std::string())) return "clean";
  const auto tested = fs::path(e.summary.value("tested_on", std::string())).lexically_normal();
  const auto base = tested.filename().string();
  return base.empty() ? tested.parent_path().filename().string() : base;
}

void add_occlusion_tables(const std::vector<RunRecord>& runs, std::map<std::string, Table>& out) {
  Table per_run{"occlusion",
                {"model", "run", "clean_run", "condition", "tested_on", "metric", "clean",
                 "occluded", "change"},
                {}};
  struct Sum {
    std::vector<double> clean, occluded;
  };
  std::map<std::tuple<std::string, std::string, std::string>, Sum> by_model;
  std::vector<std::tuple<std::string, std::string, std::string>> order;
  for (const auto& e : runs) {
    if (e.kind != RunKind::kOtherData) continue;
    std::string clean_name;
    const auto clean = clean_summary(e, runs, clean_name);
    const auto condition = condition_of(e);
    for (const char* metric : kMetrics) {
      const double occluded = e.summary.at(metric).get<double>();
      const json c = clean.is_object() && clean.contains(metric) ? clean.at(metric) : json();
      per_run.add({e.model_label(), e.name, clean_name, condition, e.summary.value("tested_on", ""),
                   metric, c, occluded, c.is_null() ? json() : json(occluded - c.get<double>())});
      if (c.is_null()) continue;
      const auto key = std::make_tuple(e.model_label(), condition, std::string(metric));
      if (!by_model.count(key)) order.push_back(key);
      by_model[key].clean.push_back(c.get<double>());
      by_model[key].occluded.push_back(occluded);
    }
  }
  Table mean{"occlusion_by_model",
             {"model", "condition", "runs", "metric", "clean", "occluded", "change"},
             {}};
  for (const auto& key : order) {
    const auto& s = by_model[key];
    const double c = mean_of(s.clean), o = mean_of(s.occluded);
    mean.add({std::get<0>(key), std::get<1>(key), static_cast<int64_t>(s.clean.size()),
              std::get<2>(key), c, o, o - c});
  }
  out["occlusion"] = std::move(per_run);
  out["occlusion_by_model"] = std::move(mean);
}

// What the oracle selection adds, per model of an oracle comparison: the oracle figure beside
// the same trainings' last epoch (summary.json's honest_last_epoch), and their difference run
// by run. A model is left out when one of its runs lacks the last epoch's figures.
Table selection_gap_table(const std::vector<Comparison>& comparisons,
                          const std::vector<RunRecord>& runs) {
  Table t{"selection_gap",
          {"comparison", "model", "label", "runs", "seeds", "metric", "oracle", "last_epoch",
           "gap", "gap_sd"},
          {}};
  for (const auto& c : comparisons) {
    if (!c.oracle) continue;
    for (const auto& g : c.groups) {
      const bool complete = std::all_of(g.runs.begin(), g.runs.end(), [&](size_t i) {
        return runs[i].summary.contains("honest_last_epoch");
      });
      if (!complete) continue;
      const auto [names, seeds] = names_and_seeds(g, runs);
      for (const char* metric : kMetrics) {
        std::vector<double> oracle, last, gap;
        for (size_t i : g.runs) {
          const auto& s = runs[i].summary;
          oracle.push_back(s.at(metric).get<double>());
          last.push_back(s.at("honest_last_epoch").at(metric).get<double>());
          gap.push_back(oracle.back() - last.back());
        }
        t.add({c.id, g.model_label, g.label, names, seeds, metric, mean_of(oracle), mean_of(last),
               mean_of(gap), gap.size() > 1 ? json(sd_of(gap)) : json()});
      }
    }
  }
  return t;
}

}  // namespace

ReportContent analyse_runs(std::vector<RunRecord> runs, const ReportOptions& options) {
  if (runs.empty()) throw ConfigError("mer report: no runs given");
  options.bootstrap().validate();
  ReportContent content;
  make_names_unique(runs);
  content.runs = std::move(runs);
  const auto& r = content.runs;
  for (auto table : {runs_table(r), metrics_table(r), per_class_table(r), confusion_table(r),
                     per_subject_table(r), curve_medians_table(r)}) {
    content.tables[table.name] = std::move(table);
  }
  content.comparisons = make_comparisons(r, options);
  content.tables["comparison"] = comparison_table(content.comparisons, r);
  content.tables["paired_differences"] = paired_table(content.comparisons);
  content.tables["selection_gap"] = selection_gap_table(content.comparisons, r);
  add_occlusion_tables(r, content.tables);
  return content;
}

std::vector<std::string> default_explanation_samples(const RunRecord& run, int per_class) {
  const auto k = run.class_names().size();
  std::vector<int> correct(k, 0), wrong(k, 0);
  std::vector<std::string> keys;
  for (const auto& p : run.predictions) {
    auto& count = p.label == p.prediction ? correct : wrong;
    if (count[static_cast<size_t>(p.label)] >= per_class) continue;
    ++count[static_cast<size_t>(p.label)];
    keys.push_back(p.subject_key() + "/" + p.sample);
  }
  return keys;
}

}  // namespace mer::report
