#include "mer/engine/results.h"

#include <algorithm>

#include <cstdio>
#include <sstream>

#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/core/progress.h"
#include "mer/core/version.h"
#include "mer/engine/explain.h"
#include "mer/models/registry.h"

namespace mer::engine {

nlohmann::json metrics_to_json(const Metrics& m) {
  return {{"uf1", m.uf1},           {"uar", m.uar},       {"accuracy", m.accuracy},
          {"n", m.n},               {"f1", m.f1},         {"recall", m.recall},
          {"confusion", m.confusion}};
}

nlohmann::json outcome_to_json(const FoldOutcome& o, const data::Dataset& dataset) {
  nlohmann::json samples = nlohmann::json::array();
  for (size_t i = 0; i < o.samples.size(); ++i) {
    const auto& s = dataset.samples[o.samples[i]];
    samples.push_back({{"index", o.samples[i]},
                       {"subject", s.subject},
                       {"sample", s.sample},
                       {"label", s.label},
                       {"pred", o.predictions[i]},
                       {"last_epoch_pred", o.last_epoch_predictions[i]},
                       {"probabilities", o.probabilities[i]}});
    if (i < o.last_epoch_probabilities.size()) {
      samples.back()["last_epoch_probabilities"] = o.last_epoch_probabilities[i];
    }
  }
  return {{"version", kResultsVersion},   {"fold", o.key},
          {"epochs_run", o.epochs_run},   {"epoch_used", o.epoch_used},
          {"seconds", o.seconds},         {"train_loss", o.train_loss},
          {"train_accuracy", o.train_accuracy},
          {"selection_score", o.selection_score}, {"samples", samples}};
}

FoldOutcome outcome_from_json(const nlohmann::json& j, const data::Dataset& dataset) {
  if (j.value("version", -1) != kResultsVersion) {
    throw Error("fold result of unknown version " + std::to_string(j.value("version", -1)));
  }
  FoldOutcome o;
  o.key = j.at("fold").get<std::string>();
  o.epochs_run = j.at("epochs_run").get<int64_t>();
  o.epoch_used = j.at("epoch_used").get<int64_t>();
  o.seconds = j.at("seconds").get<double>();
  o.train_loss = j.at("train_loss").get<std::vector<double>>();
  // Absent from folds trained before mer recorded it.
  if (j.contains("train_accuracy")) {
    o.train_accuracy = j.at("train_accuracy").get<std::vector<double>>();
  }
  o.selection_score = j.at("selection_score").get<std::vector<double>>();
  for (const auto& s : j.at("samples")) {
    const auto index = s.at("index").get<int64_t>();
    // The fold key is the sample's subject key, or its dataset part for folds by part.
    if (index < 0 || index >= dataset.size() ||
        dataset.samples[index].sample != s.at("sample").get<std::string>() ||
        (dataset.samples[index].fold_key() != o.key && dataset.samples[index].dataset != o.key) ||
        (s.contains("subject") && s.at("subject") != dataset.samples[index].subject)) {
      throw Error("fold result " + o.key + " does not match the dataset's samples");
    }
    o.samples.push_back(index);
    o.predictions.push_back(s.at("pred").get<int64_t>());
    o.last_epoch_predictions.push_back(s.at("last_epoch_pred").get<int64_t>());
    o.probabilities.push_back(s.at("probabilities").get<std::vector<float>>());
    // Absent under honest, and from folds trained before mer recorded it.
    if (s.contains("last_epoch_probabilities")) {
      o.last_epoch_probabilities.push_back(s.at("last_epoch_probabilities").get<std::vector<float>>());
    }
  }
  if (!o.last_epoch_probabilities.empty() && o.last_epoch_probabilities.size() != o.samples.size()) {
    throw Error("fold result " + o.key + " has last-epoch probabilities for some samples only");
  }
  return o;
}

namespace {

struct Pooled {
  std::vector<int64_t> labels, predictions, last;
};

Pooled pool(const std::vector<FoldOutcome>& outcomes, const data::Dataset& dataset,
            const std::string& part) {
  Pooled p;
  for (const auto& o : outcomes) {
    for (size_t i = 0; i < o.samples.size(); ++i) {
      const auto& s = dataset.samples[o.samples[i]];
      if (!part.empty() && s.dataset != part) continue;
      p.labels.push_back(s.label);
      p.predictions.push_back(o.predictions[i]);
      p.last.push_back(o.last_epoch_predictions[i]);
    }
  }
  return p;
}

}  // namespace

nlohmann::json make_summary(const std::vector<FoldOutcome>& outcomes, const data::Dataset& dataset,
                            const RunDescription& run) {
  const auto k = dataset.num_classes();
  const auto all = pool(outcomes, dataset, "");
  const auto overall = compute_metrics(all.labels, all.predictions, k);
  nlohmann::json per_dataset = nlohmann::json::object();
  for (const auto& part : dataset.parts()) {
    const auto p = pool(outcomes, dataset, part);
    if (p.labels.empty()) continue;
    const auto m = compute_metrics(p.labels, p.predictions, k);
    per_dataset[part] = {{"uf1", m.uf1}, {"uar", m.uar}, {"accuracy", m.accuracy}, {"n", m.n}};
  }
  const auto& o = run.options;
  double fold_seconds = 0;
  for (const auto& outcome : outcomes) fold_seconds += outcome.seconds;
  nlohmann::json summary = {
      {"version", kResultsVersion},
      {"mer_version", kVersion},
      {"model", run.model},
      {"model_options", o.model_options},
      {"protocol", protocol_name(o.protocol)},
      {"protocol_note", protocol_note(o.protocol)},
      // What each fold held out; per_dataset then gives each held-out part's figures.
      {"group_by", grouping_name(o.group_by)},
      {"epochs", o.epochs},
      {"seed", o.seed},
      {"folds", static_cast<int64_t>(outcomes.size())},
      {"folds_total", run.folds_total},
      {"complete", static_cast<int64_t>(outcomes.size()) == run.folds_total},
      {"uf1", overall.uf1},
      {"uar", overall.uar},
      {"accuracy", overall.accuracy},
      {"n", overall.n},
      {"per_class", {{"f1", overall.f1}, {"recall", overall.recall}}},
      {"per_dataset", per_dataset},
      {"confusion", overall.confusion},
      {"class_names", dataset.class_names},
      {"seconds", run.seconds},
      // Training time of all its folds, whichever process or earlier run trained them (a
      // resumed or shared run's own `seconds` covers only what it did itself).
      {"fold_seconds", fold_seconds},
      {"training", {{"lr", o.lr}, {"batch_size", o.batch_size}, {"optimizer", o.optimizer},
                    {"weight_decay", o.weight_decay}, {"class_weights", o.class_weights},
                    {"backend", run.backend}, {"device", o.device}, {"threads", run.threads}}},
      {"data", run.data},
      {"data_checksum", run.data_checksum},
  };
  if (o.lr_decay != 1.0) summary["training"]["lr_decay"] = o.lr_decay;
  summary["training"]["precision"] = o.precision;
  summary["training"]["augment"] = o.augment;
  if (o.protocol == Protocol::kInnerVal) {
    summary["training"]["val_fraction"] = o.validation_fraction;
    summary["training"]["patience"] = o.patience;
  }
  if (o.protocol == Protocol::kOracle) {
    // Beside the oracle figure, what the same runs give honestly (last epoch).
    const auto honest = compute_metrics(all.labels, all.last, k);
    summary["honest_last_epoch"] = {
        {"uf1", honest.uf1}, {"uar", honest.uar}, {"accuracy", honest.accuracy}};
  }
  return summary;
}

std::string predictions_csv(const std::vector<FoldOutcome>& outcomes, const data::Dataset& dataset,
                            Protocol protocol) {
  std::ostringstream out;
  std::vector<std::string> header = {"dataset", "subject", "sample", "label", "pred"};
  for (const auto& name : dataset.class_names) header.push_back("p_" + name);
  header.push_back("epoch");
  header.push_back("protocol");
  out << csv::join(header) << "\n";
  char number[32];
  for (const auto& o : outcomes) {
    for (size_t i = 0; i < o.samples.size(); ++i) {
      const auto& s = dataset.samples[o.samples[i]];
      std::vector<std::string> row = {s.dataset, s.subject, s.sample, std::to_string(s.label),
                                      std::to_string(o.predictions[i])};
      for (float p : o.probabilities[i]) {
        std::snprintf(number, sizeof number, "%.6f", p);
        row.push_back(number);
      }
      row.push_back(std::to_string(o.epoch_used));
      row.push_back(protocol_name(protocol));
      out << csv::join(row) << "\n";
    }
  }
  return out.str();
}

std::string format_summary_table(const nlohmann::json& s) {
  std::ostringstream out;
  char line[256];
  const bool oracle = s.at("protocol") == "oracle";
  out << "mer loso: model " << s.at("model").get<std::string>() << ", protocol "
      << (oracle ? "ORACLE" : s.at("protocol").get<std::string>()) << ", "
      << s.at("epochs").get<int64_t>() << " epochs, seed " << s.at("seed").get<uint64_t>()
      << ", " << s.at("folds").get<int64_t>() << "/" << s.at("folds_total").get<int64_t>()
      << " folds, " << format_duration(s.at("seconds").get<double>());
  if (s.contains("fold_seconds")) {
    out << " (fold training " << format_duration(s.at("fold_seconds").get<double>()) << ")";
  }
  out << "\n";
  out << "  " << s.at("protocol_note").get<std::string>() << "\n";
  if (s.value("group_by", std::string("subject")) == "dataset") {
    out << "  folds hold out one dataset part each: a part's row is its held-out test\n";
  }
  std::snprintf(line, sizeof line, "  %-10s %5s  %7s  %7s  %8s\n", "part", "n", "UF1", "UAR",
                "accuracy");
  out << line;
  for (const auto& [part, m] : s.at("per_dataset").items()) {
    std::snprintf(line, sizeof line, "  %-10s %5lld  %7.4f  %7.4f  %8.4f\n", part.c_str(),
                  static_cast<long long>(m.at("n").get<int64_t>()), m.at("uf1").get<double>(),
                  m.at("uar").get<double>(), m.at("accuracy").get<double>());
    out << line;
  }
  std::snprintf(line, sizeof line, "  %-10s %5lld  %7.4f  %7.4f  %8.4f%s\n", "all",
                static_cast<long long>(s.at("n").get<int64_t>()), s.at("uf1").get<double>(),
                s.at("uar").get<double>(), s.at("accuracy").get<double>(),
                oracle ? "   (ORACLE: selected on the test subject)" : "");
  out << line;
  if (oracle) {
    const auto& h = s.at("honest_last_epoch");
    std::snprintf(line, sizeof line, "  %-10s %5s  %7.4f  %7.4f  %8.4f   (same runs, last epoch)\n",
                  "honest", "", h.at("uf1").get<double>(), h.at("uar").get<double>(),
                  h.at("accuracy").get<double>());
    out << line;
  }
  const auto names = s.at("class_names").get<std::vector<std::string>>();
  out << "  confusion (rows: true, columns: predicted)\n";
  // Columns as wide as the longest class name: names are never cut.
  int width = 9;
  for (const auto& n : names) width = std::max(width, static_cast<int>(n.size()));
  out << "  " << std::string(static_cast<size_t>(width), ' ');
  for (const auto& n : names) out << " " << std::string(static_cast<size_t>(width) - n.size(), ' ') << n;
  out << "\n";
  const auto confusion = s.at("confusion").get<std::vector<std::vector<int64_t>>>();
  for (size_t r = 0; r < confusion.size(); ++r) {
    out << "  " << names[r] << std::string(static_cast<size_t>(width) - names[r].size(), ' ');
    for (auto v : confusion[r]) {
      const auto text = std::to_string(v);
      out << " " << std::string(static_cast<size_t>(width) - std::min<size_t>(text.size(), width), ' ') << text;
    }
    out << "\n";
  }
  return out.str();
}

nlohmann::json checkpoint_metadata(const TrainOptions& train, const data::Dataset& dataset,
                                   const std::string& data_label, const std::string& data_checksum,
                                   const nlohmann::json& preprocessing, const std::string& fold,
                                   int64_t epoch) {
  const auto& spec = models::find_model(train.model);
  const auto inputs = spec.inputs_for(spec.resolve_options(train.model_options));
  nlohmann::json meta = {
      {"model", train.model},
      {"model_options", train.model_options},
      {"model_spec_version", spec.version},
      {"inputs", inputs.names()},
      {"explanations", explanation_schema(spec)},
      {"data", data_label},
      {"preprocessing", preprocessing.is_null() ? nlohmann::json("not known") : preprocessing},
      {"num_classes", dataset.num_classes()},
      {"input_size", dataset.flow_side()},
      {"class_names", dataset.class_names},
      {"fold", fold},
      {"protocol", protocol_name(train.protocol)},
      {"epoch", epoch},
      {"data_checksum", data_checksum}};
  if (inputs.crops() && dataset.faces.defined()) meta["crop_side"] = dataset.faces.size(-1);
  return meta;
}

}  // namespace mer::engine
