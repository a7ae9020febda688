#include "mer/models/ststnet.h"

#include "mer/core/error.h"
#include "mer/models/registry.h"
#include "mer/models/ststnet_fused.h"
#include "mer/models/ststnet_stack.h"

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

namespace {

// The fused kernel behind the model contract's FusedCpuKernel interface.
class STSTNetKernel : public FusedCpuKernel {
 public:
  explicit STSTNetKernel(STSTNetImpl& net)
      : trainer_(net),
        dropout_(static_cast<float>(net.options().dropout())),
        mask_floats_(16 * net.pooled_side() * net.pooled_side()) {}
  float dropout() const override { return dropout_; }
  int64_t dropout_floats_per_sample() const override { return dropout_ > 0.f ? mask_floats_ : 0; }
  float train_step(const float* inputs, const int64_t* labels, int64_t n,
                   const float* dropout_scale, const float* class_weights,
                   int64_t* correct) override {
    return trainer_.train_step(inputs, labels, n, dropout_scale, class_weights, correct);
  }
  void predict(const float* inputs, int64_t n, float* logits) override {
    trainer_.predict(inputs, n, logits);
  }

 private:
  STSTNetFusedTrainer trainer_;
  float dropout_;
  int64_t mask_floats_;
};

}  // namespace

}  // namespace mer::models

MER_MODEL_SPEC(ststnet) {
  using namespace mer::models;
  ModelSpec spec;
  spec.name = "ststnet";
  spec.summary =
      "STSTNet (Liong et al. 2019): three shallow conv streams over (u, v, strain); the "
      "reference baseline";
  spec.options = {float_option("dropout", STSTNetOptions().dropout(), 0.0, 0.99,
                               "dropout after each stream's max-pool")};
  spec.training = TrainingDefaults{};  // 500 epochs (200 synthetic), Adam 5e-5, batch 256
  spec.make = [](int64_t num_classes, int64_t input_size, const OptionValues& o) -> ModelPtr {
    return std::make_shared<STSTNetImpl>(STSTNetOptions()
                                             .num_classes(num_classes)
                                             .input_size(input_size)
                                             .dropout(o.number("dropout")));
  };
  spec.fold_stack = [](int64_t num_classes, int64_t input_size, const OptionValues& o,
                       int64_t folds) -> std::shared_ptr<FoldStack> {
    return std::make_shared<STSTNetStack>(STSTNetOptions()
                                              .num_classes(num_classes)
                                              .input_size(input_size)
                                              .dropout(o.number("dropout")),
                                          folds);
  };
  spec.fused_cpu_kernel = [](ModelImpl& module) -> std::unique_ptr<FusedCpuKernel> {
    return std::make_unique<STSTNetKernel>(dynamic_cast<STSTNetImpl&>(module));
  };
  return spec;
}
