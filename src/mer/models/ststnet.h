#pragma once
// STSTNet (Liong et al., 2019), the reference baseline: three parallel shallow streams over
// the (u, v, strain) flow map.
//
// Definition (as in the authors' official code, which reproduces their published LOSO log):
// each stream = 3x3 conv with 3, 5 or 8 kernels and padding 2 (28x28 -> 30x30), ReLU, batch
// norm, max-pool 3x3 stride 3 padding 1 (-> 10x10), dropout; the 16 channels are
// concatenated (stream order 3, 5, 8), average-pooled 2x2 (-> 5x5), flattened (400) and
// classified by one linear layer. Input: raw 0..255 values in OpenCV's BGR channel order.
//
// Parameter names match the PyTorch reference (c1, c2, c3, bn1, bn2, bn3, fc).
#include "mer/models/model.h"

namespace mer::models {

struct STSTNetOptions {
  TORCH_ARG(int64_t, num_classes) = 3;
  TORCH_ARG(int64_t, input_size) = 28;  // square input side; 28 in the paper
  TORCH_ARG(double, dropout) = 0.5;

 public:  // TORCH_ARG leaves the access at private
  void validate() const;  // throws ConfigError
};

class STSTNetImpl : public ModelImpl {
 public:
  explicit STSTNetImpl(const STSTNetOptions& options = {});

  Output forward(const Batch& batch) override;
  torch::Tensor forward_flow(const torch::Tensor& flow);  // [B,3,S,S] -> logits [B,K]
  int64_t num_classes() const override { return options_.num_classes(); }
  const STSTNetOptions& options() const { return options_; }

  // Spatial side after the max-pool (10 for 28x28 input) and after the average pool (5).
  int64_t pooled_side() const { return pooled_side_; }
  int64_t feature_side() const { return feature_side_; }

  torch::nn::Conv2d c1{nullptr}, c2{nullptr}, c3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  STSTNetOptions options_;
  int64_t pooled_side_ = 0;
  int64_t feature_side_ = 0;
};

// Not TORCH_MODULE: engine code holds models through ModelPtr (shared_ptr<ModelImpl>).
using STSTNet = std::shared_ptr<STSTNetImpl>;

}  // namespace mer::models
