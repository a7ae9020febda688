#pragma once
// The CVA (continuously vertical attention) block of CVA + FPF (cva_fpf.h,
// ../shared/docs/methods.md).
//
// forward(x, previous):
//   X   = residual conv block(x): conv3x3(stride) BN ReLU conv3x3 BN, plus the shortcut
//         (1x1 conv(stride) + BN when the shape changes), ReLU.      [B, C, H, W]
//   d   = mean of X along the width: one descriptor per row.          [B, C, H, 1]
//   a   = sigmoid(conv1x1(h_swish(BN(conv1x1_reduce(d)))))            [B, C, H, 1]
//   continuity: when the previous block's attention p [B, Cp, Hp, 1] is given,
//   a = a * sigmoid(conv1x1_Cp->C(max_pool 3x3 stride 2(p))) (the pool only when Hp = 2H;
//   the sigmoid is our choice: it keeps the product a gate in (0, 1)).
//   out = X * a (broadcast over the width).
// Returns out and a, which the next block receives as `previous`; the first block gets none.
#include <torch/torch.h>

namespace mer::models {

struct CVABlockOptions {
  CVABlockOptions(int64_t in_channels, int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, stride) = 1;           // 1 or 2
  TORCH_ARG(int64_t, previous_channels) = 0;  // channels of the previous block's attention; 0 = first block
  TORCH_ARG(int64_t, reduction) = 8;        // attention bottleneck: max(8, out / reduction) channels

 public:
  void validate() const;  // throws ConfigError
};

// h-swish(x) = x * ReLU6(x + 3) / 6 (MobileNetV3).
torch::Tensor h_swish(const torch::Tensor& x);

class CVABlockImpl : public torch::nn::Module {
 public:
  explicit CVABlockImpl(const CVABlockOptions& options);
  struct Result {
    torch::Tensor out;        // [B, C, H, W]
    torch::Tensor attention;  // [B, C, H, 1] vertical attention after continuity, in (0, 1)
  };
  // x [B, in, H0, W0]; previous [B, previous_channels, 2H or H, 1], or undefined for the
  // first block (required when previous_channels > 0).
  Result forward(const torch::Tensor& x, const torch::Tensor& previous = {});

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, shortcut_bn{nullptr};
  torch::nn::Conv2d att_reduce{nullptr}, att_expand{nullptr};
  torch::nn::BatchNorm2d att_bn{nullptr};
  torch::nn::Conv2d previous_proj{nullptr};  // only when previous_channels > 0

 private:
  CVABlockOptions options_;
};
TORCH_MODULE(CVABlock);

}  // namespace mer::models
