#pragma once
// FR with the parameters of several folds stacked (models/fold_stack.h): the Inception
// streams, the merge and the spatial attention of every fold are grouped convolutions, batch
// norm keeps per-fold statistics, and each expression branch's channel attention, embedding
// and proposal, like the classifier, are batched matrix products over the folds. Each fold's
// proposal loss is its own (over its real rows only).
#include "mer/models/fold_stack.h"
#include "mer/models/fr.h"

namespace mer::models {

class FRStack : public MirroredFoldStack {
 public:
  FRStack(const FROptions& options, int64_t folds);

  StackedOutput forward(const Batch& batch, const FoldRows& rows) override;

 private:
  FRStack(std::shared_ptr<FRImpl> like, int64_t folds);
  // Per-fold batch norm of the model's BatchNorm2d `name` ("inception.n2") on [B, N * C, ...].
  torch::Tensor norm(const std::string& name, const torch::Tensor& x, const FoldRows& rows);

  FROptions options_;
  int64_t streams_ = 0;
};

}  // namespace mer::models
