#pragma once
// A deployable model: one model trained on every sample of a dataset (`mer train`), with no
// test subject. Same training as a LOSO fold (engine/trainer.h, honest protocol: the model
// of the last epoch) and the same self-describing checkpoint (model, full options, inputs,
// preprocessing, classes, data checksum; "fold": "all subjects").
//
// Output folder:
//   OUT/model.pt      the checkpoint (`mer predict --checkpoint OUT/model.pt` or --run OUT)
//   OUT/run.json      the settings, as a LOSO run records them (engine::run_settings)
//   OUT/summary.json  format "mer-train": "test_subject": null and training metrics only
//                     (loss per epoch, accuracy/UF1/UAR of the final model on its own training
//                     data: not an estimate of accuracy on new subjects; a LOSO run gives that)
#include <nlohmann/json.hpp>
#include <string>

#include "mer/data/dataset.h"
#include "mer/engine/trainer.h"

namespace mer::engine {

struct TrainFullOptions {
  TrainOptions train;      // protocol must be honest (nothing to select an epoch on)
  bool quiet = false;      // no progress output
  int64_t threads = 0;     // torch intra-op threads (0 = all cores)
  std::string data_label;  // how the summary and checkpoint name the data
  std::string landmarks_label;
  nlohmann::json preprocessing;  // the prepared folder's manifest, or null: "not known"
  std::string like_run;          // the LOSO run the settings came from ("" = none)
};

struct TrainFullResult {
  nlohmann::json summary;  // also OUT/summary.json
  FoldOutcome outcome;     // predictions on the training samples
};

// Throws ConfigError for a protocol other than honest or an unwritable OUT; errors of the
// trainer pass through. OUT is overwritten.
TrainFullResult train_full(const data::Dataset& dataset, const TrainFullOptions& options,
                           const std::string& out_dir);

// The training settings a `mer loso` run used (RUN/run.json "settings"), to train a
// deployable model exactly like the run's folds: model, model options, epochs, learning
// rate, batch size, optimizer, weight decay, lr decay, momentum, seed, class weights,
// backend, device. The protocol becomes honest; a run chosen by inner-val or oracle keeps its
// epoch count (`note` says so). `data_checksum` receives the run's. Throws ConfigError naming
// the file when it is missing or unreadable.
TrainOptions training_options_of_run(const std::string& run_dir, std::string* note = nullptr,
                                     std::string* data_checksum = nullptr);

}  // namespace mer::engine
