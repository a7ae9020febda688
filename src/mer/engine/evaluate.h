#pragma once
// Re-evaluation of a finished LOSO run from its checkpoints: each fold's saved model predicts
// its test subject again. Proves the checkpoints are the models that produced the results and
// recomputes the metrics without training.
#include <torch/torch.h>

#include <string>

#include "mer/data/dataset.h"
#include "mer/engine/results.h"

namespace mer::engine {

// Testing a run's fold models on other data than they were trained on (e.g. an occluded copy
// of the training data, `mer occlude`): the same sample keys, other maps.
struct EvaluateOptions {
  // Accept a dataset whose checksum differs from the run's: each fold's checkpoint predicts
  // its test subject's samples of `dataset` (matched by fold and sample name, in any order;
  // samples it lacks are counted in EvaluationReport::missing; class names must agree).
  // Predictions are then not compared with the recorded ones (mismatches stays 0).
  TORCH_ARG(bool, other_data) = false;
  // With other_data: a folder to write predictions.csv, summary.json (UF1/UAR/accuracy, per
  // part, "trained_on" and "tested_on") and explain.json (per-sample explanations, as
  // `mer loso` writes them, for models that explain themselves). "" = write nothing.
  TORCH_ARG(std::string, out_dir) = "";
  // How summary.json names the tested data (its folder).
  TORCH_ARG(std::string, data_label) = "";

 public:
  EvaluateOptions() = default;
};

struct EvaluationReport {
  int64_t folds = 0;
  int64_t samples = 0;
  int64_t mismatches = 0;  // predictions that differ from those recorded at training time
  std::vector<FoldOutcome> outcomes;  // as re-predicted now
  Metrics metrics;                    // of the re-predicted outcomes
  std::string protocol;
  bool other_data = false;  // tested on other data than the run's (EvaluateOptions)
  // other_data: test samples of the run that the other data lacks (matched by fold and
  // sample name; they are left out of the metrics).
  int64_t missing = 0;
  std::string trained_on;   // the run's data (run.json / summary.json), when known
};

// Reads OUT/run.json and every finished fold of OUT. Throws DataError if `dataset` is not the
// data the run was trained on (checksum) unless options.other_data, CheckpointError on a bad
// checkpoint, DataError when a fold's test samples are not all in `dataset` or the class
// names differ. For the oracle
// protocol the saved model is the last epoch's, so it is compared with the last-epoch
// predictions.
EvaluationReport evaluate_run(const data::Dataset& dataset, const std::string& out_dir,
                              const EvaluateOptions& options = {});

}  // namespace mer::engine
