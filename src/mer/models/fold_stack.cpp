#include "mer/models/fold_stack.h"

#include <algorithm>

#include "mer/core/error.h"

namespace mer::models {

FoldRows FoldRows::make(std::vector<int64_t> counts, int64_t width, torch::Device device) {
  FoldRows rows;
  rows.width = width;
  std::vector<float> mask(counts.size() * width, 0.f);
  for (size_t f = 0; f < counts.size(); ++f) {
    MER_CHECK(counts[f] >= 0 && counts[f] <= width, "fold rows: more real rows than the width");
    std::fill_n(mask.begin() + f * width, counts[f], 1.f);
  }
  rows.mask = torch::tensor(mask).reshape({static_cast<int64_t>(counts.size()), width}).to(device);
  rows.counts = std::move(counts);
  return rows;
}

torch::Tensor FoldStack::dropout(const torch::Tensor& x, double p) {
  return dropout_from(generator_, x, p, is_training());
}

namespace {

// Module names may not contain dots.
std::string registered_name(std::string name) {
  std::replace(name.begin(), name.end(), '.', '/');
  return name;
}

// [N, ...] copies of `value`.
torch::Tensor repeated(const torch::Tensor& value, int64_t folds) {
  return value.detach().unsqueeze(0).repeat_interleave(folds, 0).contiguous();
}

}  // namespace

MirroredFoldStack::MirroredFoldStack(ModelImpl& like, int64_t folds) : FoldStack(folds) {
  MER_CHECK(folds >= 1, "a fold stack needs folds");
  torch::NoGradGuard no_grad;
  for (const auto& item : like.named_parameters()) {
    tensors_[item.key()] = register_parameter(registered_name(item.key()),
                                              repeated(item.value(), folds),
                                              item.value().requires_grad());
    parameter_names_.push_back(item.key());
  }
  for (const auto& item : like.named_buffers()) {
    if (!item.value().defined()) continue;
    tensors_[item.key()] = register_buffer(registered_name(item.key()), repeated(item.value(), folds));
    buffer_names_.push_back(item.key());
  }
  MER_CHECK(!parameter_names_.empty(), "a model without parameters has nothing to stack");
}

const torch::Tensor& MirroredFoldStack::tensor(const std::string& name) const {
  const auto it = tensors_.find(name);
  MER_CHECK(it != tensors_.end(), "fold stack: the model has no tensor " + name);
  return it->second;
}

torch::Tensor MirroredFoldStack::linear(const std::string& name, const torch::Tensor& x) const {
  const std::string bias = name + ".bias";
  return stacked::linear(x, tensor(name + ".weight"), has(bias) ? tensor(bias) : torch::Tensor());
}

void MirroredFoldStack::copy_fold(int64_t fold, ModelImpl& model, bool into_stack) {
  auto parameters = model.named_parameters();
  auto buffers = model.named_buffers();
  auto copy = [&](const std::string& name, torch::OrderedDict<std::string, torch::Tensor>& own,
                  const char* kind) {
    MER_CHECK(own.contains(name), std::string("the model has no ") + kind + " " + name);
    if (into_stack) {
      stacked::put(tensors_.at(name), fold, own[name], name);
    } else {
      stacked::take(tensors_.at(name), fold, own[name], name);
    }
  };
  for (const auto& name : parameter_names_) copy(name, parameters, "parameter");
  for (const auto& name : buffer_names_) copy(name, buffers, "buffer");
}

namespace stacked {

torch::Tensor folds_to_channels(const torch::Tensor& x, int64_t folds) {
  MER_CHECK(x.dim() >= 2 && x.size(0) % folds == 0, "fold-major batch of the wrong size");
  auto shape = x.sizes().vec();
  const int64_t b = shape[0] / folds;
  std::vector<int64_t> split = {folds, b};
  split.insert(split.end(), shape.begin() + 1, shape.end());
  std::vector<int64_t> merged = {b, folds * shape[1]};
  merged.insert(merged.end(), shape.begin() + 2, shape.end());
  return x.reshape(split).transpose(0, 1).reshape(merged);
}

torch::Tensor channels_to_folds(const torch::Tensor& x, int64_t folds) {
  auto shape = x.sizes().vec();
  MER_CHECK(x.dim() >= 2 && shape[1] % folds == 0, "stacked channels of the wrong size");
  std::vector<int64_t> split = {shape[0], folds, shape[1] / folds};
  split.insert(split.end(), shape.begin() + 2, shape.end());
  return x.reshape(split).transpose(0, 1);
}

torch::Tensor conv2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     int64_t padding, int64_t stride, int64_t groups) {
  const int64_t n = weight.size(0);
  if (x.device().is_cpu()) {
    // LibTorch's CPU grouped convolution takes a slow generic path (its backward above all);
    // one ordinary convolution per fold is several times faster there.
    const int64_t in = weight.size(2) * groups;
    std::vector<torch::Tensor> outputs;
    for (int64_t f = 0; f < n; ++f) {
      outputs.push_back(torch::conv2d(x.slice(1, f * in, (f + 1) * in), weight[f],
                                      bias.defined() ? bias[f] : torch::Tensor(), {stride, stride},
                                      {padding, padding}, {1, 1}, groups));
    }
    return torch::cat(outputs, 1);
  }
  auto w = weight.reshape({n * weight.size(1), weight.size(2), weight.size(3), weight.size(4)});
  return torch::conv2d(x, w, bias.defined() ? bias.reshape({-1}) : torch::Tensor(), {stride, stride},
                       {padding, padding}, {1, 1}, n * groups);
}

torch::Tensor batch_norm(const torch::Tensor& x, const FoldRows& rows,
                         const torch::Tensor& weight, const torch::Tensor& bias,
                         const torch::Tensor& running_mean, const torch::Tensor& running_var,
                         const torch::Tensor& batches_tracked, bool training, double momentum,
                         double eps) {
  const int64_t n = weight.size(0), c = weight.size(1), b = x.size(0);
  // Every fold has a full batch (no padding): torch's own batch norm over the N * C channels
  // is exactly each fold's, and much faster than the masked form below. (Known on the host:
  // no device synchronisation.)
  const bool full = std::all_of(rows.counts.begin(), rows.counts.end(),
                                [&](int64_t count) { return count == rows.width; });
  const auto& mask = rows.mask;
  if (!training || full) {
    auto out = torch::batch_norm(x, weight.reshape({-1}), bias.reshape({-1}),
                                 running_mean.view({-1}), running_var.view({-1}), training,
                                 momentum, eps, /*cudnn_enabled=*/true);
    if (training) {
      torch::NoGradGuard no_grad;
      batches_tracked.add_(1);
    }
    return out;
  }
  // [B, N, C, rest]: statistics per (fold, channel) over samples and positions.
  auto y = x.reshape({b, n, c, -1});
  const int64_t positions = y.size(3);
  torch::Tensor mean, var;
  {
    auto m = mask.transpose(0, 1).reshape({b, n, 1, 1}).to(x.scalar_type());
    auto samples = mask.sum(1).to(x.scalar_type());  // [N]
    auto count = (samples * positions).clamp_min(1.0).reshape({1, n, 1, 1});
    mean = (y * m).sum(std::vector<int64_t>{0, 3}, /*keepdim=*/true) / count;
    auto centred = (y - mean) * m;
    var = (centred * centred).sum(std::vector<int64_t>{0, 3}, /*keepdim=*/true) / count;
    {
      torch::NoGradGuard no_grad;
      auto active = samples.gt(0).reshape({n, 1});
      auto total = (samples * positions).reshape({n, 1});
      auto unbiased = var.detach().reshape({n, c}) * total / (total - 1).clamp_min(1.0);
      running_mean.copy_(torch::where(
          active, running_mean * (1 - momentum) + mean.detach().reshape({n, c}) * momentum,
          running_mean));
      running_var.copy_(
          torch::where(active, running_var * (1 - momentum) + unbiased * momentum, running_var));
      batches_tracked.add_(active.reshape({n}).to(batches_tracked.scalar_type()));
    }
  }
  auto normalised = (y - mean) * torch::rsqrt(var + eps);
  normalised = normalised * weight.reshape({1, n, c, 1}) + bias.reshape({1, n, c, 1});
  return normalised.reshape(x.sizes());
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  auto flat = x.reshape({x.size(0), -1, x.size(-1)});
  auto y = bias.defined() ? torch::baddbmm(bias.unsqueeze(1), flat, weight.transpose(1, 2))
                          : torch::bmm(flat, weight.transpose(1, 2));
  auto shape = x.sizes().vec();
  shape.back() = weight.size(1);
  return y.reshape(shape);
}

namespace {

// Fold f's slice of a stacked tensor, refused unless it holds as many values as the model's.
torch::Tensor fold_slice(const torch::Tensor& stacked, int64_t fold, const torch::Tensor& value,
                         const std::string& name) {
  auto slice = stacked[fold];
  if (slice.numel() != value.numel()) {
    throw ConfigError("fold stack: " + name + " has " + std::to_string(value.numel()) +
                      " values in the fold's model but " + std::to_string(slice.numel()) +
                      " in the stack (built with other options)");
  }
  return slice;
}

}  // namespace

void put(const torch::Tensor& stacked, int64_t fold, const torch::Tensor& value,
         const std::string& name) {
  torch::NoGradGuard no_grad;
  auto slice = fold_slice(stacked, fold, value, name);
  slice.copy_(value.reshape(slice.sizes()));
}

void take(const torch::Tensor& stacked, int64_t fold, const torch::Tensor& value,
          const std::string& name) {
  torch::NoGradGuard no_grad;
  value.copy_(fold_slice(stacked, fold, value, name).reshape(value.sizes()).to(value.device()));
}

}  // namespace stacked

}  // namespace mer::models
