#include "models/ststnet.h"

#include "core/error.h"

namespace mer::models {

void STSTNetOptions::validate() const {
  if (num_classes() < 2) throw ConfigError("ststnet: num_classes must be >= 2");
  if (input_size() < 8) throw ConfigError("ststnet: input_size must be >= 8");
  if (dropout() < 0.0 || dropout() >= 1.0) throw ConfigError("ststnet: dropout must be in [0, 1)");
}

STSTNetImpl::STSTNetImpl(const STSTNetOptions& options) : options_(options) {
  options_.validate();
  auto conv = [](int64_t out) { return torch::nn::Conv2dOptions(3, out, 3).padding(2); };
  c1 = register_module("c1", torch::nn::Conv2d(conv(3)));
  c2 = register_module("c2", torch::nn::Conv2d(conv(5)));
  c3 = register_module("c3", torch::nn::Conv2d(conv(8)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(3));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(5));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(8));
  const int64_t conv_side = options_.input_size() + 2;
  pooled_side_ = (conv_side + 2 - 3) / 3 + 1;
  feature_side_ = pooled_side_ / 2;
  fc = register_module("fc", torch::nn::Linear(16 * feature_side_ * feature_side_,
                                               options_.num_classes()));
}

torch::Tensor STSTNetImpl::forward_flow(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  auto stream = [&](torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn) {
    auto y = bn(torch::relu(conv(x)));
    y = F::max_pool2d(y, F::MaxPool2dFuncOptions(3).stride(3).padding(1));
    return dropout(y, options_.dropout());
  };
  auto y = torch::cat({stream(c1, bn1), stream(c2, bn2), stream(c3, bn3)}, 1);
  y = F::avg_pool2d(y, F::AvgPool2dFuncOptions(2).stride(2));
  return fc(y.flatten(1));
}

Output STSTNetImpl::forward(const Batch& batch) {
  MER_CHECK(batch.flow.dim() == 4 && batch.flow.size(1) == 3 &&
                batch.flow.size(2) == options_.input_size() &&
                batch.flow.size(3) == options_.input_size(),
            "ststnet expects flow of shape [B, 3, " + std::to_string(options_.input_size()) +
                ", " + std::to_string(options_.input_size()) + "]");
  Output out;
  out.logits = forward_flow(batch.flow);
  return out;
}

}  // namespace mer::models
