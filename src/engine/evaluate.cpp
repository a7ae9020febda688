#include "engine/evaluate.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "engine/batch_source.h"
#include "engine/checkpoint.h"
#include "engine/loso.h"

namespace fs = std::filesystem;

namespace mer::engine {

EvaluationReport evaluate_run(const data::Dataset& dataset, const std::string& out_dir) {
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
  if (settings.at("data_checksum") != dataset.checksum()) {
    throw DataError(out_dir + " was trained on other data (checksum " +
                    settings.at("data_checksum").get<std::string>() + ", given data " +
                    dataset.checksum() + ")");
  }
  EvaluationReport report;
  report.protocol = settings.at("protocol").get<std::string>();
  const bool oracle = report.protocol == "oracle";
  std::vector<int64_t> labels, predictions;
  for (const auto& key : dataset.fold_keys()) {
    const fs::path dir = out / "folds" / fold_folder_name(key);
    if (!fs::is_regular_file(dir / "fold.json")) continue;
    FoldOutcome recorded;
    {
      std::ifstream in(dir / "fold.json");
      recorded = outcome_from_json(nlohmann::json::parse(in), dataset);
    }
    auto checkpoint = load_checkpoint((dir / "model.pt").string());
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
      report.mismatches += now.predictions[i] != expected[i];
      labels.push_back(dataset.samples[recorded.samples[i]].label);
      predictions.push_back(now.predictions[i]);
    }
    report.samples += static_cast<int64_t>(recorded.samples.size());
    ++report.folds;
    report.outcomes.push_back(std::move(now));
  }
  if (report.folds == 0) throw DataError(out_dir + ": no finished folds to evaluate");
  report.metrics = compute_metrics(labels, predictions, dataset.num_classes());
  return report;
}

}  // namespace mer::engine
