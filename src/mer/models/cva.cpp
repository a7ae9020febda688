#include "mer/models/cva.h"

#include "mer/core/error.h"

namespace mer::models {

namespace F = torch::nn::functional;

void CVABlockOptions::validate() const {
  if (in_channels() < 1 || out_channels() < 1) throw ConfigError("cva block: channels must be >= 1");
  if (stride() != 1 && stride() != 2) throw ConfigError("cva block: stride must be 1 or 2");
  if (previous_channels() < 0) throw ConfigError("cva block: previous_channels must be >= 0");
  if (reduction() < 1) throw ConfigError("cva block: reduction must be >= 1");
}

// In float32: LibTorch 1.13's CPU relu6 has no bfloat16 backward (bf16 mixed precision).
torch::Tensor h_swish(const torch::Tensor& input) {
  const auto x = input.to(torch::kFloat32);
  return x * F::relu6(x + 3.0) / 6.0;
}

CVABlockImpl::CVABlockImpl(const CVABlockOptions& options) : options_(options) {
  options_.validate();
  const int64_t in = options_.in_channels(), out = options_.out_channels();
  auto conv = [](int64_t i, int64_t o, int64_t k, int64_t s) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(i, o, k).stride(s).padding(k / 2).bias(false));
  };
  conv1 = register_module("conv1", conv(in, out, 3, options_.stride()));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(out));
  conv2 = register_module("conv2", conv(out, out, 3, 1));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(out));
  if (in != out || options_.stride() != 1) {
    shortcut = register_module("shortcut", conv(in, out, 1, options_.stride()));
    shortcut_bn = register_module("shortcut_bn", torch::nn::BatchNorm2d(out));
  }
  const int64_t mid = std::max<int64_t>(8, out / options_.reduction());
  att_reduce = register_module("att_reduce", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, mid, 1)));
  att_bn = register_module("att_bn", torch::nn::BatchNorm2d(mid));
  att_expand = register_module("att_expand", torch::nn::Conv2d(torch::nn::Conv2dOptions(mid, out, 1)));
  if (options_.previous_channels() > 0) {
    previous_proj = register_module(
        "previous_proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(options_.previous_channels(), out, 1)));
  }
}

CVABlockImpl::Result CVABlockImpl::forward(const torch::Tensor& x, const torch::Tensor& previous) {
  MER_CHECK(x.dim() == 4 && x.size(1) == options_.in_channels(),
            "cva block expects [B, " + std::to_string(options_.in_channels()) + ", H, W]");
  MER_CHECK(previous.defined() == (options_.previous_channels() > 0),
            "cva block: the previous attention is required exactly when previous_channels > 0");
  auto y = bn2(conv2(torch::relu(bn1(conv1(x)))));
  const auto skip = shortcut ? shortcut_bn(shortcut(x)) : x;
  const auto features = torch::relu(y + skip);  // [B, C, H, W]
  const auto rows = features.mean(3, /*keepdim=*/true);  // [B, C, H, 1]
  auto attention = torch::sigmoid(att_expand(h_swish(att_bn(att_reduce(rows)))));
  if (previous.defined()) {
    const int64_t h = features.size(2);
    MER_CHECK(previous.dim() == 4 && previous.size(1) == options_.previous_channels() &&
                  previous.size(3) == 1 && (previous.size(2) == h || previous.size(2) == 2 * h),
              "cva block: previous attention must be [B, Cp, H or 2H, 1]");
    auto p = previous;
    if (p.size(2) != h) p = F::max_pool2d(p, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
    attention = attention * torch::sigmoid(previous_proj(p));
  }
  return {features * attention, attention};
}

}  // namespace mer::models
