#pragma once
// DeRe-GRL with the parameters of several folds stacked (models/fold_stack.h): the folds'
// CNN embeddings are grouped convolutions; node encoding, graph layers, the ADM pooling, the
// action and relation modules and the classifier are batched over the folds, each with its
// own adjacency, map matrix and relation prior. Sampling the flow around the landmarks is
// per sample, as the model does it.
#include "mer/models/dere_grl.h"
#include "mer/models/fold_stack.h"

namespace mer::models {

class DeReGRLStack : public MirroredFoldStack {
 public:
  DeReGRLStack(const DeReGRLOptions& options, int64_t folds);

  StackedOutput forward(const Batch& batch, const FoldRows& rows) override;

 private:
  DeReGRLStack(std::shared_ptr<DeReGRLImpl> like, int64_t folds);

  DeReGRLOptions options_;
};

}  // namespace mer::models
