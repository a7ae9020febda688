#pragma once
// Re-evaluation of a finished LOSO run from its checkpoints: each fold's saved model predicts
// its test subject again. Proves the checkpoints are the models that produced the results and
// recomputes the metrics without training.
#include <string>

#include "data/dataset.h"
#include "engine/results.h"

namespace mer::engine {

struct EvaluationReport {
  int64_t folds = 0;
  int64_t samples = 0;
  int64_t mismatches = 0;  // predictions that differ from those recorded at training time
  std::vector<FoldOutcome> outcomes;  // as re-predicted now
  Metrics metrics;                    // of the re-predicted outcomes
  std::string protocol;
};

// Reads OUT/run.json and every finished fold of OUT. Throws DataError if `dataset` is not the
// data the run was trained on (checksum), CheckpointError on a bad checkpoint. For the oracle
// protocol the saved model is the last epoch's, so it is compared with the last-epoch
// predictions.
EvaluationReport evaluate_run(const data::Dataset& dataset, const std::string& out_dir);

}  // namespace mer::engine
