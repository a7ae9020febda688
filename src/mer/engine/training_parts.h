#pragma once
// Parts of a fold's training shared by the fold-by-fold trainer (engine/trainer.h) and the
// fold-stacked one (engine/fold_batch_trainer.h): class weights, model snapshots, and the
// protocol's choice of the reported epoch.
#include <vector>

#include "mer/data/dataset.h"
#include "mer/engine/folds.h"
#include "mer/engine/trainer.h"

namespace mer::engine {

// Samples per forward pass when predicting (no gradients kept: larger than a training batch).
constexpr int64_t kPredictChunk = 512;

// Inverse class frequency over the fold's training samples (sklearn's "balanced").
std::vector<float> balanced_weights(const data::Dataset& dataset, const std::vector<int64_t>& train);
// The class weights a fold trains with under `options` (empty: unweighted).
std::vector<float> fold_class_weights(const data::Dataset& dataset, const Fold& fold,
                                      const TrainOptions& options);

using StateSnapshot = std::vector<torch::Tensor>;
StateSnapshot snapshot(const models::ModelPtr& model);
void restore(const models::ModelPtr& model, const StateSnapshot& state);

std::vector<int64_t> argmax_rows(const torch::Tensor& probs);
std::vector<std::vector<float>> rows_of(const torch::Tensor& probs);
std::vector<int64_t> labels_of(const data::Dataset& dataset, const std::vector<int64_t>& indices);

// The protocol's choice of the reported epoch, fed after every epoch with the probabilities of
// the samples it watches: none under honest, the validation subjects under inner-val, the
// TEST subject under the oracle protocol only.
class EpochSelector {
 public:
  EpochSelector(const data::Dataset& dataset, const Fold& fold, const TrainOptions& options);
  // The samples whose probabilities `observe` wants after each epoch (empty: none).
  const std::vector<int64_t>& watched() const { return watched_; }
  // Records the epoch's score in `outcome` (selection_score, epoch_used); true when this
  // epoch's model becomes the reported one (keep its probabilities or a snapshot).
  bool observe(int64_t epoch, const torch::Tensor& probs, FoldOutcome& outcome);
  // Inner-val with patience: no validation gain for `patience` epochs.
  bool stop() const { return stop_; }

 private:
  Protocol protocol_;
  int64_t num_classes_;
  int64_t patience_;
  std::vector<int64_t> watched_, labels_;
  double best_score_ = -1.0, best_tiebreak_ = 0.0;
  int64_t since_best_ = 0;
  bool stop_ = false;
};

// Fills the outcome's predictions from the last epoch's probabilities of the test subject and,
// under oracle / inner-val, the selected epoch's (`selected`).
void finish_outcome(FoldOutcome& outcome, Protocol protocol, const torch::Tensor& last,
                    const torch::Tensor& selected);

}  // namespace mer::engine
