#pragma once
// The interface every mer model implements, so that the LOSO engine, checkpoints, inference
// and reports treat all methods alike.
#include <torch/torch.h>

#include <map>
#include <string>

namespace mer::models {

// One mini-batch as the engine hands it to a model.
struct Batch {
  torch::Tensor flow;    // [B, 3, H, W] float32: onset->apex (u, v, strain) as in labels.csv
  torch::Tensor labels;  // [B] int64 class indices; undefined at inference
};

// What a forward pass returns.
struct Output {
  torch::Tensor logits;    // [B, num_classes]
  torch::Tensor aux_loss;  // scalar added to the classification loss in training; may be undefined
  // Per-sample interpretable outputs (attention, region weights, ...), each [B, ...]; written
  // with the predictions by the engine. Empty for models that have none.
  std::map<std::string, torch::Tensor> explain;
};

// Base of all models. Subclasses register their parameters and buffers under the names a
// PyTorch port would use, so that checkpoints can travel between the two.
class ModelImpl : public torch::nn::Module {
 public:
  virtual Output forward(const Batch& batch) = 0;
  virtual int64_t num_classes() const = 0;
};

using ModelPtr = std::shared_ptr<ModelImpl>;

}  // namespace mer::models
