#include "mer/engine/training_parts.h"

#include <cmath>

#include "mer/engine/metrics.h"

namespace mer::engine {

std::vector<float> balanced_weights(const data::Dataset& dataset,
                                    const std::vector<int64_t>& train) {
  std::vector<double> count(dataset.num_classes(), 0.0);
  for (auto i : train) count[dataset.samples[i].label] += 1.0;
  std::vector<float> weights(count.size(), 0.0f);
  for (size_t k = 0; k < count.size(); ++k) {
    weights[k] = count[k] > 0 ? static_cast<float>(train.size() / (count.size() * count[k])) : 0.f;
  }
  return weights;
}

std::vector<float> fold_class_weights(const data::Dataset& dataset, const Fold& fold,
                                      const TrainOptions& options) {
  return options.class_weights == "balanced" ? balanced_weights(dataset, fold.train)
                                             : std::vector<float>{};
}

StateSnapshot snapshot(const models::ModelPtr& model) {
  torch::NoGradGuard no_grad;
  StateSnapshot state;
  for (const auto& p : model->parameters()) state.push_back(p.detach().clone());
  for (const auto& b : model->buffers()) state.push_back(b.detach().clone());
  return state;
}

void restore(const models::ModelPtr& model, const StateSnapshot& state) {
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& p : model->parameters()) p.copy_(state[i++]);
  for (auto& b : model->buffers()) b.copy_(state[i++]);
}

std::vector<int64_t> argmax_rows(const torch::Tensor& probs) {
  auto idx = probs.argmax(1).to(torch::kInt64).contiguous();
  return {idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel()};
}

std::vector<std::vector<float>> rows_of(const torch::Tensor& probs) {
  auto p = probs.contiguous();
  std::vector<std::vector<float>> out(p.size(0));
  for (int64_t i = 0; i < p.size(0); ++i) {
    out[i].assign(p[i].data_ptr<float>(), p[i].data_ptr<float>() + p.size(1));
  }
  return out;
}

std::vector<int64_t> labels_of(const data::Dataset& dataset, const std::vector<int64_t>& indices) {
  std::vector<int64_t> out;
  for (auto i : indices) out.push_back(dataset.samples[i].label);
  return out;
}

EpochSelector::EpochSelector(const data::Dataset& dataset, const Fold& fold,
                             const TrainOptions& options)
    : protocol_(options.protocol),
      num_classes_(dataset.num_classes()),
      patience_(options.patience) {
  if (protocol_ == Protocol::kOracle) watched_ = fold.test;
  if (protocol_ == Protocol::kInnerVal) watched_ = fold.validation;
  labels_ = labels_of(dataset, watched_);
}

bool EpochSelector::observe(int64_t epoch, const torch::Tensor& probs, FoldOutcome& outcome) {
  const auto m = compute_metrics(labels_, argmax_rows(probs), num_classes_);
  if (protocol_ == Protocol::kOracle) {
    // ORACLE protocol only: the test subject's accuracy picks the epoch (later epochs win
    // ties, as in the PyTorch reference).
    outcome.selection_score.push_back(m.accuracy);
    if (m.accuracy < best_score_) return false;
    best_score_ = m.accuracy;
    outcome.epoch_used = epoch;
    return true;
  }
  // Inner-val: validation UF1; ties go to the lower validation NLL.
  auto p = probs.contiguous();
  double nll = 0.0;
  for (size_t i = 0; i < labels_.size(); ++i) {
    nll -= std::log(std::max(static_cast<double>(p[i][labels_[i]].item<float>()), 1e-12));
  }
  outcome.selection_score.push_back(m.uf1);
  if (m.uf1 > best_score_ || (m.uf1 == best_score_ && nll < best_tiebreak_)) {
    best_score_ = m.uf1;
    best_tiebreak_ = nll;
    outcome.epoch_used = epoch;
    since_best_ = 0;
    return true;
  }
  if (patience_ > 0 && ++since_best_ >= patience_) stop_ = true;
  return false;
}

void finish_outcome(FoldOutcome& outcome, Protocol protocol, const torch::Tensor& last,
                    const torch::Tensor& selected) {
  outcome.last_epoch_predictions = argmax_rows(last);
  const torch::Tensor& reported = protocol == Protocol::kHonest ? last : selected;
  if (protocol == Protocol::kHonest) outcome.epoch_used = outcome.epochs_run;
  outcome.predictions = argmax_rows(reported);
  outcome.probabilities = rows_of(reported);
  if (protocol != Protocol::kHonest) outcome.last_epoch_probabilities = rows_of(last);
}

}  // namespace mer::engine
