#pragma once
// Several folds of one LOSO run trained as one computation (`mer loso --fold-batch N`): the
// model's fold-stacked form (models/fold_stack.h; the generic models/replica_stack.h for a
// model without its own) holds every fold's parameters, each step feeds every fold a batch
// of its own training samples (in its own shuffled order, as the fold-by-fold trainer draws
// it), keeps padding out of the loss and batch-norm statistics, and steps each fold's
// optimiser state only when the fold had samples. Without dropout the folds train the same
// models as FoldTrainer, up to float rounding; on the CPU each fold draws dropout from its
// fold-by-fold seed (a batched form: the group from its first fold's). Outcomes are the same
// records FoldTrainer returns.
#include <functional>
#include <vector>

#include "mer/data/dataset.h"
#include "mer/engine/folds.h"
#include "mer/engine/trainer.h"

namespace mer::engine {

class FoldBatchTrainer {
 public:
  // Throws ConfigError on invalid options (TrainOptions::validate).
  FoldBatchTrainer(const data::Dataset& dataset, TrainOptions options);
  // Trains `folds` together; returns their outcomes in the order given, and in `models` each
  // fold's reported model (on the CPU, for its checkpoint). `on_epoch(epoch)` after every
  // epoch of the group. Each outcome's `seconds` is its share of the group's time.
  std::vector<FoldOutcome> run(const std::vector<Fold>& folds, std::vector<models::ModelPtr>& models,
                               const std::function<void(int64_t)>& on_epoch = {}) const;

 private:
  const data::Dataset& dataset_;
  TrainOptions options_;
};

}  // namespace mer::engine
