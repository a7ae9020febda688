#pragma once
// The optimisers of mer's training settings (Adam, AdamW, SGD with momentum) for fold-stacked
// parameters (models/fold_stack.h: the fold is every parameter's first dimension), with a
// step count per fold: a fold that had no sample in a batch is left exactly as it was, as if
// its own optimiser had not stepped. Each fold's update is the one torch::optim applies to
// that fold's own model.
#include <vector>

#include <torch/torch.h>

#include "mer/engine/trainer.h"

namespace mer::engine {

class StackedOptimizer {
 public:
  // `options`: optimizer, lr, weight_decay, momentum (validated TrainOptions).
  StackedOptimizer(std::vector<torch::Tensor> parameters, int64_t folds, const TrainOptions& options);

  // One step for the folds whose `active` entry is true, from the parameters' gradients.
  void step(const std::vector<bool>& active);
  void zero_grad();
  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }

 private:
  std::vector<torch::Tensor> parameters_;
  std::vector<torch::Tensor> first_, second_;  // Adam moments, or SGD momentum buffers in first_
  std::vector<int64_t> steps_;                 // per fold
  int64_t folds_;
  std::string kind_;
  double lr_, weight_decay_, momentum_;
};

}  // namespace mer::engine
