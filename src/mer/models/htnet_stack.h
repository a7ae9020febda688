#pragma once
// HTNet with the parameters of several folds stacked (models/fold_stack.h): the folds' patch
// embeddings, transformer layers (attention and MLP) and classifiers are batched matrix
// products, their aggregation convolutions grouped convolutions, their layer norms per-fold
// affine maps; the mosaic of facial areas is the model's own, per sample.
#include "mer/models/fold_stack.h"
#include "mer/models/htnet.h"

namespace mer::models {

class HTNetStack : public MirroredFoldStack {
 public:
  HTNetStack(const HTNetOptions& options, int64_t folds);

  StackedOutput forward(const Batch& batch, const FoldRows& rows) override;

 private:
  HTNetStack(std::shared_ptr<HTNetImpl> like, int64_t folds);
  // The model's LayerNorm `name` per fold over the last dimension of x [N, ..., C].
  torch::Tensor norm(const std::string& name, const torch::Tensor& x);
  // One transformer layer `name` ("levels.0.layers.1") on tokens [N, M, T, C].
  torch::Tensor layer(const std::string& name, const torch::Tensor& x, int64_t heads);
  // Level `index` on tokens [N, B, H, W, C].
  torch::Tensor level(int64_t index, const torch::Tensor& x);

  std::shared_ptr<HTNetImpl> like_;  // the mosaic of areas (no parameters)
  HTNetOptions options_;
};

}  // namespace mer::models
