#include "mer/engine/stacked_optimizer.h"

#include <cmath>

#include "mer/core/error.h"

namespace mer::engine {

namespace {

// Adam's defaults in torch::optim.
constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;

// A [N, 1, 1, ...] tensor broadcasting a per-fold value over a parameter of shape like `p`.
torch::Tensor per_fold(const std::vector<double>& values, const torch::Tensor& p) {
  std::vector<int64_t> shape(p.dim(), 1);
  shape[0] = static_cast<int64_t>(values.size());
  return torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64))
      .to(p.options())
      .reshape(shape);
}

}  // namespace

StackedOptimizer::StackedOptimizer(std::vector<torch::Tensor> parameters, int64_t folds,
                                   const TrainOptions& options)
    : parameters_(std::move(parameters)),
      steps_(folds, 0),
      folds_(folds),
      kind_(options.optimizer),
      lr_(options.lr),
      weight_decay_(options.weight_decay),
      momentum_(options.momentum) {
  for (const auto& p : parameters_) {
    MER_CHECK(p.dim() >= 1 && p.size(0) == folds, "stacked parameter without a fold dimension");
    first_.push_back(torch::zeros_like(p));
    second_.push_back(kind_ == "sgd" ? torch::Tensor() : torch::zeros_like(p));
  }
}

void StackedOptimizer::zero_grad() {
  for (auto& p : parameters_) {
    if (p.grad().defined()) p.mutable_grad().zero_();
  }
}

void StackedOptimizer::step(const std::vector<bool>& active) {
  torch::NoGradGuard no_grad;
  MER_CHECK(static_cast<int64_t>(active.size()) == folds_, "one active flag per fold");
  std::vector<double> on(folds_), correction1(folds_, 1.0), correction2(folds_, 1.0);
  std::vector<double> first_step(folds_, 0.0);
  for (int64_t f = 0; f < folds_; ++f) {
    on[f] = active[f] ? 1.0 : 0.0;
    if (!active[f]) continue;
    first_step[f] = steps_[f] == 0 ? 1.0 : 0.0;
    ++steps_[f];
    correction1[f] = 1.0 - std::pow(kBeta1, steps_[f]);
    correction2[f] = 1.0 - std::pow(kBeta2, steps_[f]);
  }
  for (size_t i = 0; i < parameters_.size(); ++i) {
    auto& p = parameters_[i];
    if (!p.grad().defined()) continue;
    const auto mask = per_fold(on, p).to(torch::kBool);
    auto grad = p.grad();
    if (kind_ == "sgd") {
      if (weight_decay_ != 0.0) grad = grad + p * weight_decay_;
      // torch::optim::SGD: the buffer starts as the first gradient, then momentum * buf + grad.
      auto& buffer = first_[i];
      auto updated = torch::where(per_fold(first_step, p).to(torch::kBool), grad,
                                  buffer * momentum_ + grad);
      if (momentum_ == 0.0) updated = grad;
      buffer.copy_(torch::where(mask, updated, buffer));
      p.copy_(torch::where(mask, p - lr_ * updated, p));
      continue;
    }
    if (kind_ == "adamw") {
      p.copy_(torch::where(mask, p * (1.0 - lr_ * weight_decay_), p));
    } else if (weight_decay_ != 0.0) {
      grad = grad + p * weight_decay_;
    }
    auto& m = first_[i];
    auto& v = second_[i];
    auto m_new = m * kBeta1 + grad * (1.0 - kBeta1);
    auto v_new = v * kBeta2 + grad * grad * (1.0 - kBeta2);
    m.copy_(torch::where(mask, m_new, m));
    v.copy_(torch::where(mask, v_new, v));
    std::vector<double> sqrt_c2(folds_), step_size(folds_);
    for (int64_t f = 0; f < folds_; ++f) {
      sqrt_c2[f] = std::sqrt(correction2[f]);
      step_size[f] = lr_ / correction1[f];
    }
    auto denom = v.sqrt() / per_fold(sqrt_c2, p) + kEps;
    p.copy_(torch::where(mask, p - per_fold(step_size, p) * m / denom, p));
  }
}

}  // namespace mer::engine
