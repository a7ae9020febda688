#include "mer/engine/evaluate.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "mer/core/error.h"
#include "mer/engine/batch_source.h"
#include "mer/engine/checkpoint.h"
#include "mer/engine/explain.h"
#include "mer/engine/loso.h"
#include "mer/engine/results.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::engine {

namespace {

// The run's training options as far as run.json records them (for summary.json).
TrainOptions options_from_settings(const nlohmann::json& settings) {
  TrainOptions o;
  o.model = settings.value("model", o.model);
  try {
    o.model_options = models::recorded_model_options(o.model, settings);
  } catch (const Error&) {
    // a model this mer does not know: its options are reported as none
  }
  o.epochs = settings.value("epochs", o.epochs);
  o.lr = settings.value("lr", o.lr);
  o.batch_size = settings.value("batch_size", o.batch_size);
  o.optimizer = settings.value("optimizer", o.optimizer);
  o.weight_decay = settings.value("weight_decay", o.weight_decay);
  o.seed = settings.value("seed", o.seed);
  o.class_weights = settings.value("class_weights", o.class_weights);
  o.device = settings.value("device", o.device);
  o.protocol = parse_protocol(settings.at("protocol").get<std::string>());
  o.group_by = parse_grouping(settings.value("group_by", std::string("subject")));
  return o;
}

// What the run was trained on: summary.json's "data" when there is one.
std::string trained_on(const fs::path& out) {
  try {
    std::ifstream in(out / "summary.json");
    if (in) return nlohmann::json::parse(in).value("data", std::string());
  } catch (const std::exception&) {
  }
  return "";
}

}  // namespace

EvaluationReport evaluate_run(const data::Dataset& dataset, const std::string& out_dir,
                              const EvaluateOptions& options) {
  const fs::path out(out_dir);
  const fs::path run_file = out / "run.json";
  if (!fs::is_regular_file(run_file)) {
    throw DataError(run_file.string() + ": not found (is " + out_dir + " a `mer loso` output?)");
  }
  nlohmann::json settings;
  try {
    std::ifstream in(run_file);
    settings = nlohmann::json::parse(in).at("settings");
  } catch (const std::exception& e) {
    throw DataError(run_file.string() + ": unreadable: " + e.what());
  }
  if (settings.contains("members")) {
    std::string members;
    for (const auto& m : settings.at("members")) {
      members += (members.empty() ? "" : ", ") + m.value("run", std::string("?"));
    }
    throw ConfigError(out_dir + " is an ensemble (`mer ensemble`): it has no models of its own; "
                      "evaluate its runs (" + members + ")");
  }
  if (!options.other_data() && settings.at("data_checksum") != dataset.checksum()) {
    const auto recorded = trained_on(out);
    throw DataError(out_dir + " was trained on " +
                    (recorded.empty() ? std::string("other data") : recorded) + " (checksum " +
                    settings.at("data_checksum").get<std::string>() + "), not on the data given "
                    "(checksum " + dataset.checksum() + "): " +
                    (recorded.rfind("synthetic(", 0) == 0
                         ? std::string("give the same --synth-* options (or none)")
                         : "give --data " + (recorded.empty() ? std::string("with the run's data") : recorded)) +
                    " to re-evaluate it, or --on-other-data to test its models on this data");
  }
  // Runs of landmark models record their landmarks; other landmarks give other predictions.
  if (!options.other_data() && settings.contains("landmarks_checksum") &&
      settings.at("landmarks_checksum") != dataset.landmarks_checksum()) {
    const auto given = dataset.landmarks_checksum();
    throw DataError(out_dir + " was trained with other landmarks (checksum " +
                    settings.at("landmarks_checksum").get<std::string>() + ", given " +
                    (given.empty() ? std::string("none") : given) +
                    "); give the landmarks file of the run (--landmarks)");
  }
  EvaluationReport report;
  report.protocol = settings.at("protocol").get<std::string>();
  const bool oracle = report.protocol == "oracle";
  const bool inner_val = report.protocol == protocol_name(Protocol::kInnerVal);
  report.other_data = options.other_data();
  report.trained_on = trained_on(out);
  nlohmann::json explained = nlohmann::json::array(), model_info;
  std::map<std::string, int64_t> index_of;  // fold key + "/" + sample -> index
  for (int64_t i = 0; i < dataset.size(); ++i) {
    index_of[dataset.samples[static_cast<size_t>(i)].fold_key() + "/" +
             dataset.samples[static_cast<size_t>(i)].sample] = i;
  }
  std::vector<int64_t> labels, predictions;
  const auto grouping = parse_grouping(settings.value("group_by", std::string("subject")));
  for (const auto& key : group_keys(dataset, grouping)) {
    const fs::path dir = out / "folds" / fold_folder_name(key);
    if (!fs::is_regular_file(dir / "fold.json")) continue;
    FoldOutcome recorded;
    {
      std::ifstream in(dir / "fold.json");
      auto fold_json = nlohmann::json::parse(in);
      if (options.other_data()) {
        // Other data may hold the samples in another order, or lack some (a clip whose
        // occluded frames lost the face in `mer prepare`): match by key, count the missing.
        nlohmann::json kept = nlohmann::json::array();
        for (auto sample : fold_json.at("samples")) {
          // Folds by part name each sample's subject; subject folds are keyed by it.
          const std::string subject_key =
              grouping == Grouping::kDataset
                  ? key + "/" + sample.at("subject").get<std::string>()
                  : key;
          const auto it = index_of.find(subject_key + "/" + sample.at("sample").get<std::string>());
          if (it == index_of.end()) {
            ++report.missing;
            continue;
          }
          sample["index"] = it->second;
          kept.push_back(std::move(sample));
        }
        fold_json["samples"] = kept;
        if (kept.empty()) continue;
      }
      recorded = outcome_from_json(fold_json, dataset);
    }
    auto checkpoint = load_checkpoint((dir / "model.pt").string());
    if (options.other_data() && checkpoint.meta.contains("class_names") &&
        checkpoint.meta.at("class_names") != nlohmann::json(dataset.class_names)) {
      throw DataError((dir / "model.pt").string() + ": classes " +
                      checkpoint.meta.at("class_names").dump() + " differ from the data's " +
                      nlohmann::json(dataset.class_names).dump());
    }
    torch::NoGradGuard no_grad;
    const BatchSource source(dataset, torch::kCPU);
    const auto batch =
        source.gather(torch::tensor(recorded.samples, torch::kInt64), /*with_labels=*/false);
    const auto probs = torch::softmax(checkpoint.model->forward(batch).logits, 1).contiguous();
    FoldOutcome now = recorded;
    const auto& expected = oracle ? recorded.last_epoch_predictions : recorded.predictions;
    for (size_t i = 0; i < recorded.samples.size(); ++i) {
      now.predictions[i] = probs[i].argmax().item<int64_t>();
      now.probabilities[i].assign(probs[i].data_ptr<float>(),
                                  probs[i].data_ptr<float>() + probs.size(1));
      if (!options.other_data()) report.mismatches += now.predictions[i] != expected[i];
      labels.push_back(dataset.samples[recorded.samples[i]].label);
      predictions.push_back(now.predictions[i]);
    }
    if (options.other_data()) {
      // The saved model's predictions are the result now, whatever the protocol.
      now.last_epoch_predictions = now.predictions;
      if (!options.out_dir().empty()) {
        const int64_t model_epoch = inner_val ? recorded.epoch_used : recorded.epochs_run;
        const auto fold_json = explain_fold(checkpoint.model, dataset, now, model_epoch);
        if (!fold_json.is_null()) {
          if (model_info.is_null() && fold_json.contains("model_info")) {
            model_info = fold_json.at("model_info");
          }
          for (auto sample : fold_json.at("samples")) {
            sample["fold"] = recorded.key;
            sample["model_epoch"] = model_epoch;
            explained.push_back(std::move(sample));
          }
        }
      }
    }
    report.samples += static_cast<int64_t>(recorded.samples.size());
    ++report.folds;
    report.outcomes.push_back(std::move(now));
  }
  if (report.folds == 0) throw DataError(out_dir + ": no finished folds to evaluate");
  report.metrics = compute_metrics(labels, predictions, dataset.num_classes());
  if (options.other_data() && !options.out_dir().empty()) {
    const fs::path dest(options.out_dir());
    fs::create_directories(dest);
    const std::string tested_on = options.data_label().empty() ? dataset.root : options.data_label();
    RunDescription run;
    run.options = options_from_settings(settings);
    run.model = run.options.model;
    run.backend = settings.value("backend", std::string());
    run.data = tested_on;
    run.data_checksum = dataset.checksum();
    run.folds_total = static_cast<int64_t>(group_keys(dataset, grouping).size());
    // Oracle runs saved their last epoch: what is tested here is that model, honestly.
    const Protocol written = oracle ? Protocol::kHonest : run.options.protocol;
    auto summary = make_summary(report.outcomes, dataset, run);
    summary["evaluation"] = "trained on " + (report.trained_on.empty() ? std::string("the run's data")
                                                                          : report.trained_on) +
                            ", tested on " + tested_on;
    summary["trained_on"] = report.trained_on;
    summary["trained_on_checksum"] = settings.at("data_checksum");
    summary["tested_on"] = tested_on;
    summary["run"] = out_dir;
    summary["missing_samples"] = report.missing;
    if (oracle) summary["protocol_note"] = "oracle run: its saved last-epoch models, tested once";
    write_file_atomic((dest / "summary.json").string(), summary.dump(2));
    write_file_atomic((dest / "predictions.csv").string(),
                      predictions_csv(report.outcomes, dataset, written));
    if (!explained.empty()) {
      nlohmann::json all = {{"format", "mer-explanations"},
                            {"version", 1},
                            {"model", run.model},
                            {"protocol", report.protocol},
                            {"trained_on", report.trained_on},
                            {"tested_on", tested_on},
                            {"class_names", dataset.class_names},
                            {"explanations", explanation_schema(models::find_model(run.model))},
                            {"samples", explained}};
      if (!model_info.is_null()) all["model_info"] = model_info;
      write_file_atomic((dest / "explain.json").string(), all.dump());
    }
  }
  return report;
}

}  // namespace mer::engine
