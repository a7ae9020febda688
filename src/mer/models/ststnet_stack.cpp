#include "mer/models/ststnet_stack.h"

#include "mer/core/error.h"

namespace mer::models {

namespace {

constexpr int64_t kChannels = 16;  // 3 + 5 + 8, the streams side by side

}  // namespace

STSTNetStack::STSTNetStack(const STSTNetOptions& options, int64_t folds)
    : FoldStack(folds), options_(options) {
  options_.validate();
  const int64_t n = folds;
  const int64_t pooled = (options_.input_size() + 2 + 2 - 3) / 3 + 1;
  feature_side_ = pooled / 2;
  conv_weight_ = register_parameter("conv_weight", torch::zeros({n, kChannels, 3, 3, 3}));
  conv_bias_ = register_parameter("conv_bias", torch::zeros({n, kChannels}));
  bn_weight_ = register_parameter("bn_weight", torch::ones({n, kChannels}));
  bn_bias_ = register_parameter("bn_bias", torch::zeros({n, kChannels}));
  running_mean_ = register_buffer("running_mean", torch::zeros({n, kChannels}));
  running_var_ = register_buffer("running_var", torch::ones({n, kChannels}));
  batches_tracked_ = register_buffer("batches_tracked", torch::zeros({n}, torch::kInt64));
  const int64_t features = kChannels * feature_side_ * feature_side_;
  fc_weight_ = register_parameter("fc_weight", torch::zeros({n, options_.num_classes(), features}));
  fc_bias_ = register_parameter("fc_bias", torch::zeros({n, options_.num_classes()}));
}

StackedOutput STSTNetStack::forward(const Batch& batch, const FoldRows& rows) {
  namespace F = torch::nn::functional;
  const int64_t n = folds();
  const int64_t side = options_.input_size();
  MER_CHECK(batch.flow.dim() == 4 && batch.flow.size(0) % n == 0 && batch.flow.size(1) == 3 &&
                batch.flow.size(2) == side && batch.flow.size(3) == side,
            "ststnet stack expects flow of shape [N * B, 3, " + std::to_string(side) + ", " +
                std::to_string(side) + "]");
  auto x = stacked::folds_to_channels(batch.flow, n);  // [B, N * 3, S, S]
  auto y = torch::relu(stacked::conv2d(x, conv_weight_, conv_bias_, /*padding=*/2));
  y = stacked::batch_norm(y, rows, bn_weight_, bn_bias_, running_mean_, running_var_,
                          batches_tracked_, is_training());
  y = F::max_pool2d(y, F::MaxPool2dFuncOptions(3).stride(3).padding(1));
  y = dropout(y, options_.dropout());
  y = F::avg_pool2d(y, F::AvgPool2dFuncOptions(2).stride(2));  // [B, N * 16, side, side]
  auto features = stacked::channels_to_folds(y, n).reshape({n, y.size(0), -1});
  return {stacked::linear(features, fc_weight_, fc_bias_), {}};
}

void STSTNetStack::load_fold(int64_t fold, ModelImpl& model) {
  auto& net = dynamic_cast<STSTNetImpl&>(model);
  torch::NoGradGuard no_grad;
  auto cat = [](const torch::nn::Conv2d& a, const torch::nn::Conv2d& b, const torch::nn::Conv2d& c,
                bool weight) {
    return weight ? torch::cat({a->weight, b->weight, c->weight})
                  : torch::cat({a->bias, b->bias, c->bias});
  };
  auto bn_cat = [&](auto member) {
    return torch::cat({member(net.bn1), member(net.bn2), member(net.bn3)});
  };
  stacked::put(conv_weight_, fold, cat(net.c1, net.c2, net.c3, true), "conv weights");
  stacked::put(conv_bias_, fold, cat(net.c1, net.c2, net.c3, false), "conv biases");
  stacked::put(bn_weight_, fold, bn_cat([](auto& bn) { return bn->weight; }), "bn weights");
  stacked::put(bn_bias_, fold, bn_cat([](auto& bn) { return bn->bias; }), "bn biases");
  stacked::put(running_mean_, fold, bn_cat([](auto& bn) { return bn->running_mean; }), "bn means");
  stacked::put(running_var_, fold, bn_cat([](auto& bn) { return bn->running_var; }), "bn variances");
  batches_tracked_[fold].copy_(net.bn1->num_batches_tracked);
  stacked::put(fc_weight_, fold, net.fc->weight, "fc weights");
  stacked::put(fc_bias_, fold, net.fc->bias, "fc biases");
}

void STSTNetStack::store_fold(int64_t fold, ModelImpl& model) {
  auto& net = dynamic_cast<STSTNetImpl&>(model);
  torch::NoGradGuard no_grad;
  // Channel ranges of the three streams inside the 16 stacked channels.
  const std::array<std::pair<int64_t, int64_t>, 3> range = {{{0, 3}, {3, 8}, {8, 16}}};
  const std::array<torch::nn::Conv2d*, 3> convs = {&net.c1, &net.c2, &net.c3};
  const std::array<torch::nn::BatchNorm2d*, 3> norms = {&net.bn1, &net.bn2, &net.bn3};
  for (size_t s = 0; s < 3; ++s) {
    const auto [from, to] = range[s];
    auto& conv = *convs[s];
    auto& bn = *norms[s];
    conv->weight.copy_(conv_weight_[fold].slice(0, from, to));
    conv->bias.copy_(conv_bias_[fold].slice(0, from, to));
    bn->weight.copy_(bn_weight_[fold].slice(0, from, to));
    bn->bias.copy_(bn_bias_[fold].slice(0, from, to));
    bn->running_mean.copy_(running_mean_[fold].slice(0, from, to));
    bn->running_var.copy_(running_var_[fold].slice(0, from, to));
    bn->num_batches_tracked.copy_(batches_tracked_[fold]);
  }
  stacked::take(fc_weight_, fold, net.fc->weight, "fc weights");
  stacked::take(fc_bias_, fold, net.fc->bias, "fc biases");
}

}  // namespace mer::models
