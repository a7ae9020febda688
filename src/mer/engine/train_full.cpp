#include "mer/engine/train_full.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "mer/core/error.h"
#include "mer/core/progress.h"
#include "mer/core/version.h"
#include "mer/engine/batch_source.h"
#include "mer/engine/checkpoint.h"
#include "mer/engine/explain.h"
#include "mer/engine/loso.h"
#include "mer/engine/metrics.h"
#include "mer/engine/results.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::engine {

namespace {

double round4(double v) { return std::round(v * 1e4) / 1e4; }

}  // namespace

TrainFullResult train_full(const data::Dataset& dataset, const TrainFullOptions& options,
                           const std::string& out_dir) {
  const auto start = std::chrono::steady_clock::now();
  dataset.validate();
  TrainOptions train = options.train;
  train.validate();
  if (train.protocol != Protocol::kHonest) {
    throw ConfigError("mer train uses the honest protocol (the model of the last epoch): with "
                      "every subject in training there is nothing to choose an epoch on");
  }
  train.model_options =
      models::resolve_model_options(train.model, train.model_options, data_traits(dataset));
  const auto& spec = models::find_model(train.model);
  const auto inputs = spec.inputs_for(spec.resolve_options(train.model_options));
  const std::string backend = resolve_backend(train);

  const fs::path out(out_dir);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw ConfigError(out_dir + ": cannot create output folder: " + ec.message());
  const auto settings = run_settings(train, backend, dataset);
  write_file_atomic((out / "run.json").string(),
                    nlohmann::json({{"version", kResultsVersion},
                                    {"kind", "train (all subjects)"},
                                    {"settings", settings}})
                        .dump(2));

  // Every sample trains; the same samples are "tested" only to report training metrics
  // (honest protocol: they never choose anything).
  Fold fold;
  fold.index = 0;
  fold.key = "all subjects";
  for (int64_t i = 0; i < static_cast<int64_t>(dataset.samples.size()); ++i) fold.train.push_back(i);
  fold.test = fold.train;

  const int64_t threads =
      options.threads > 0 ? options.threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
  at::set_num_threads(static_cast<int>(threads));
  Progress progress("train " + train.model, train.epochs);
  progress.set_quiet(options.quiet);
  if (!options.quiet) {
    progress.message("training " + train.model + " on all " + std::to_string(dataset.samples.size()) +
                     " samples of " + std::to_string(dataset.fold_keys().size()) + " subjects, " +
                     std::to_string(train.epochs) + " epochs, backend " + backend);
  }
  int64_t reported = 0;
  models::ModelPtr model;
  const FoldTrainer trainer(dataset, train);
  auto outcome = trainer.run(fold, model, [&](int64_t epoch) {
    progress.advance(epoch - reported, "epoch " + std::to_string(epoch) + "/" + std::to_string(train.epochs));
    reported = epoch;
  });
  progress.finish();

  const std::string checksum = dataset.checksum();
  const std::string data_label = options.data_label.empty() ? dataset.root : options.data_label;
  const auto meta = checkpoint_metadata(train, dataset, data_label, checksum,
                                        options.preprocessing, "all subjects", outcome.epochs_run);
  save_checkpoint((out / "model.pt").string(), model, meta);

  std::vector<int64_t> labels;
  for (auto i : outcome.samples) labels.push_back(dataset.samples[static_cast<size_t>(i)].label);
  const auto m = compute_metrics(labels, outcome.predictions, dataset.num_classes());
  nlohmann::json loss = nlohmann::json::array();
  for (double l : outcome.train_loss) loss.push_back(round4(l));
  TrainFullResult result;
  result.summary = {
      {"format", "mer-train"},
      {"version", kResultsVersion},
      {"model", train.model},
      {"model_options", train.model_options},
      {"test_subject", nullptr},
      {"note", "trained on every subject: there is no test subject, so only training metrics are "
               "reported (the final model on its own training data; not an estimate of accuracy "
               "on new subjects: a `mer loso` run gives that)"},
      {"training",
       {{"samples", dataset.samples.size()},
        {"subjects", dataset.fold_keys().size()},
        {"epochs", outcome.epochs_run},
        {"final_loss", outcome.train_loss.empty() ? 0.0 : round4(outcome.train_loss.back())},
        {"loss_per_epoch", loss},
        {"accuracy", round4(m.accuracy)},
        {"uf1", round4(m.uf1)},
        {"uar", round4(m.uar)}}},
      {"class_names", dataset.class_names},
      {"data", data_label},
      {"data_checksum", checksum},
      {"settings", settings},
      {"checkpoint", (out / "model.pt").string()},
      {"seconds", round4(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count())}};
  if (!options.like_run.empty()) result.summary["like_run"] = options.like_run;
  if (inputs.landmarks) {
    result.summary["landmarks"] = dataset.landmarks.defined()
                                      ? (options.landmarks_label.empty() ? std::string("given")
                                                                         : options.landmarks_label)
                                      : std::string("none: the model's template layout");
  }
  write_file_atomic((out / "summary.json").string(), result.summary.dump(2));
  result.outcome = std::move(outcome);
  return result;
}

TrainOptions training_options_of_run(const std::string& run_dir, std::string* note,
                                     std::string* data_checksum) {
  const fs::path path = fs::path(run_dir) / "run.json";
  if (!fs::is_regular_file(path)) {
    throw ConfigError(path.string() + ": not found (--like-run takes a `mer loso` output folder)");
  }
  nlohmann::json s;
  try {
    std::ifstream in(path);
    s = nlohmann::json::parse(in).at("settings");
  } catch (const std::exception& e) {
    throw ConfigError(path.string() + ": unreadable run settings (" + e.what() + ")");
  }
  TrainOptions o;
  try {
    o.model = s.at("model").get<std::string>();
    o.model_options.clear();
    const nlohmann::json options = s.value("model_options", nlohmann::json::object());
    for (const auto& [k, v] : options.items()) {
      o.model_options[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
    o.epochs = s.at("epochs").get<int64_t>();
    o.lr = s.at("lr").get<double>();
    o.batch_size = s.at("batch_size").get<int64_t>();
    o.optimizer = s.at("optimizer").get<std::string>();
    o.weight_decay = s.value("weight_decay", 0.0);
    o.lr_decay = s.value("lr_decay", 1.0);
    o.momentum = s.value("momentum", o.momentum);
    o.seed = s.value("seed", uint64_t{1});
    o.class_weights = s.value("class_weights", std::string("none"));
    o.device = s.value("device", std::string("cpu"));
    o.precision = s.value("precision", std::string("fp32"));
    o.augment = s.value("augment", std::string("none"));
    const std::string backend = s.value("backend", std::string("auto"));
    o.backend = backend;
    const std::string protocol = s.value("protocol", std::string("honest"));
    if (protocol != "honest" && note) {
      *note = path.string() + " used protocol " + protocol + " (an epoch chosen per fold); mer "
              "train trains the run's " + std::to_string(o.epochs) + " epochs and keeps the last";
    }
    if (data_checksum) *data_checksum = s.value("data_checksum", std::string());
  } catch (const std::exception& e) {
    throw ConfigError(path.string() + ": incomplete run settings (" + e.what() + ")");
  }
  o.protocol = Protocol::kHonest;
  o.validate();
  return o;
}

}  // namespace mer::engine
