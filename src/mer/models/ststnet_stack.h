#pragma once
// STSTNet with the parameters of several folds stacked (models/fold_stack.h): the three
// streams of every fold are one grouped convolution (16 output channels per fold), batch
// norm keeps per-fold statistics, and the classifier is one batched matrix product.
#include "mer/models/fold_stack.h"
#include "mer/models/ststnet.h"

namespace mer::models {

class STSTNetStack : public FoldStack {
 public:
  STSTNetStack(const STSTNetOptions& options, int64_t folds);

  StackedOutput forward(const Batch& batch, const FoldRows& rows) override;
  void load_fold(int64_t fold, ModelImpl& model) override;
  void store_fold(int64_t fold, ModelImpl& model) override;

 private:
  STSTNetOptions options_;
  int64_t feature_side_ = 0;
  torch::Tensor conv_weight_, conv_bias_;  // [N, 16, 3, 3, 3], [N, 16]: streams c1, c2, c3
  torch::Tensor bn_weight_, bn_bias_, running_mean_, running_var_;  // [N, 16]
  torch::Tensor batches_tracked_;                                   // [N]
  torch::Tensor fc_weight_, fc_bias_;  // [N, K, 16 * side * side], [N, K]
};

}  // namespace mer::models
