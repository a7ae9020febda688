#pragma once
// The generic fold-stacked form of any model (models/fold_stack.h): one ordinary module per
// fold (a replica) whose parameters, gradients and buffers are slices of tensors stacked
// along a leading fold dimension. A step runs each replica on exactly its fold's real rows,
// all folds in lockstep, and one stacked optimiser step then updates every fold: each fold
// computes what its own model would fold by fold, without a model-specific stacked form.
// On a GPU it saves the per-fold synchronisations of fold-by-fold training, not the kernel
// launches; models with their own batched form (ModelSpec::fold_stack) use that instead.
#include <functional>
#include <vector>

#include "mer/models/fold_stack.h"
#include "mer/models/model_spec.h"

namespace mer::models {

class ReplicaStack : public MirroredFoldStack {
 public:
  // `make` builds one ordinary model (the spec's factory with the run's options).
  ReplicaStack(const std::function<ModelPtr()>& make, int64_t folds);

  StackedOutput forward(const Batch& batch, const FoldRows& rows) override;
  // Fold f's dropout draws from generators[f], as its own model's would fold by fold.
  void set_fold_generators(const std::vector<at::Generator>& generators) override;
  void train(bool on = true) override;

 private:
  explicit ReplicaStack(std::vector<ModelPtr> replicas);
  // Points every replica's parameters, gradients and buffers at its slice of the stacked
  // tensors; again whenever those moved (Module::to replaces their storage).
  void bind();

  std::vector<ModelPtr> replicas_;
  const void* bound_to_ = nullptr;  // storage of the first stacked tensor when bound
};

// The stacked form `mer loso --fold-batch` trains: the model's own batched form where it has
// one, else a ReplicaStack of `spec.make`.
FoldStackPtr make_fold_stack(const ModelSpec& spec, int64_t num_classes, int64_t input_size,
                             const OptionValues& options, int64_t folds);

}  // namespace mer::models
