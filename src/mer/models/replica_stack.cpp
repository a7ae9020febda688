#include "mer/models/replica_stack.h"

#include <algorithm>

#include "mer/core/error.h"

namespace mer::models {

namespace {

// Module names may not contain dots.
std::string stacked_name(std::string name) {
  std::replace(name.begin(), name.end(), '.', '/');
  return name;
}

// Rows [from, from + count) of every tensor the batch has.
Batch rows_of(const Batch& batch, int64_t from, int64_t count) {
  auto part = [&](const torch::Tensor& t) { return t.defined() ? t.narrow(0, from, count) : t; };
  Batch out;
  out.flow = part(batch.flow);
  out.labels = part(batch.labels);
  out.landmarks = part(batch.landmarks);
  out.onset = part(batch.onset);
  out.face = part(batch.face);
  out.aus = part(batch.aus);
  return out;
}

}  // namespace

ReplicaStack::ReplicaStack(const std::function<ModelPtr()>& make, int64_t folds) : FoldStack(folds) {
  MER_CHECK(folds >= 1, "a fold stack needs folds");
  for (int64_t f = 0; f < folds; ++f) replicas_.push_back(make());
  torch::NoGradGuard no_grad;
  auto stack_of = [&](auto named) {  // [N, ...] of every replica's own tensor
    return [this, named](const std::string& key) {
      std::vector<torch::Tensor> slices;
      for (const auto& replica : replicas_) slices.push_back(named(*replica)[key]);
      return torch::stack(slices);
    };
  };
  const auto parameter_stack = stack_of([](ModelImpl& m) { return m.named_parameters(); });
  for (const auto& item : replicas_.front()->named_parameters()) {
    const auto name = stacked_name(item.key());
    register_parameter(name, parameter_stack(item.key()), item.value().requires_grad());
    parameter_names_.emplace_back(name, item.key());
  }
  const auto buffer_stack = stack_of([](ModelImpl& m) { return m.named_buffers(); });
  for (const auto& item : replicas_.front()->named_buffers()) {
    if (!item.value().defined()) continue;
    const auto name = stacked_name(item.key());
    register_buffer(name, buffer_stack(item.key()));
    buffer_names_.emplace_back(name, item.key());
  }
  MER_CHECK(!parameter_names_.empty(), "a model without parameters has nothing to stack");
}

void ReplicaStack::bind() {
  auto parameters = named_parameters(/*recurse=*/false);
  auto buffers = named_buffers(/*recurse=*/false);
  const auto& first = parameters[parameter_names_.front().first];
  if (bound_to_ == first.data_ptr()) return;
  torch::NoGradGuard no_grad;
  for (int64_t f = 0; f < folds(); ++f) {
    auto& replica = *replicas_[f];
    // Tensors a model keeps outside its parameters and buffers follow the device too.
    replica.to(first.device());
    auto own = replica.named_parameters();
    for (const auto& [name, model_name] : parameter_names_) {
      auto& stacked = parameters[name];
      own[model_name].set_data(stacked.detach()[f]);
      if (!stacked.requires_grad()) continue;
      if (!stacked.grad().defined() || stacked.grad().device() != stacked.device()) {
        stacked.mutable_grad() = torch::zeros_like(stacked);
      }
      // Autograd accumulates a defined gradient in place: into this fold's slice.
      own[model_name].mutable_grad() = stacked.grad()[f];
    }
    auto own_buffers = replica.named_buffers();
    for (const auto& [name, model_name] : buffer_names_) {
      own_buffers[model_name].set_data(buffers[name].detach()[f]);
    }
  }
  bound_to_ = first.data_ptr();
}

StackedOutput ReplicaStack::forward(const Batch& batch, const FoldRows& rows) {
  bind();
  const int64_t n = folds(), width = rows.width;
  MER_CHECK(rows.folds() == n && batch.flow.defined() && batch.flow.size(0) == n * width,
            "replica stack: the batch does not hold " + std::to_string(n) + " folds of " +
                std::to_string(width) + " rows");
  const int64_t k = replicas_.front()->num_classes();
  const auto options = batch.flow.options();
  std::vector<torch::Tensor> logits(n), aux(n);
  bool any_aux = false;
  for (int64_t f = 0; f < n; ++f) {
    const int64_t count = rows.counts[f];
    if (count == 0) {  // nothing of this fold in the step: its model is not run
      logits[f] = torch::zeros({width, k}, options);
      aux[f] = torch::zeros({}, options);
      continue;
    }
    auto out = replicas_[f]->forward(rows_of(batch, f * width, count));
    logits[f] = count < width ? torch::cat({out.logits, torch::zeros({width - count, k}, options)})
                              : out.logits;
    any_aux = any_aux || out.aux_loss.defined();
    aux[f] = out.aux_loss.defined() ? out.aux_loss.reshape({}) : torch::zeros({}, options);
  }
  return {torch::stack(logits), any_aux ? torch::stack(aux) : torch::Tensor()};
}

void ReplicaStack::load_fold(int64_t fold, ModelImpl& model) {
  torch::NoGradGuard no_grad;
  auto parameters = named_parameters(false), own = model.named_parameters();
  for (const auto& [name, model_name] : parameter_names_) {
    MER_CHECK(own.contains(model_name), "the model has no parameter " + model_name);
    stacked::put(parameters[name], fold, own[model_name], model_name);
  }
  auto buffers = named_buffers(false), own_buffers = model.named_buffers();
  for (const auto& [name, model_name] : buffer_names_) {
    MER_CHECK(own_buffers.contains(model_name), "the model has no buffer " + model_name);
    stacked::put(buffers[name], fold, own_buffers[model_name], model_name);
  }
}

void ReplicaStack::store_fold(int64_t fold, ModelImpl& model) {
  torch::NoGradGuard no_grad;
  auto parameters = named_parameters(false), own = model.named_parameters();
  for (const auto& [name, model_name] : parameter_names_) {
    MER_CHECK(own.contains(model_name), "the model has no parameter " + model_name);
    stacked::take(parameters[name], fold, own[model_name], model_name);
  }
  auto buffers = named_buffers(false), own_buffers = model.named_buffers();
  for (const auto& [name, model_name] : buffer_names_) {
    MER_CHECK(own_buffers.contains(model_name), "the model has no buffer " + model_name);
    stacked::take(buffers[name], fold, own_buffers[model_name], model_name);
  }
}

void ReplicaStack::set_fold_generators(const std::vector<at::Generator>& generators) {
  MER_CHECK(static_cast<int64_t>(generators.size()) == folds(), "one generator per fold");
  for (int64_t f = 0; f < folds(); ++f) replicas_[f]->set_generator(generators[f]);
}

void ReplicaStack::train(bool on) {
  FoldStack::train(on);
  for (auto& replica : replicas_) replica->train(on);
}

FoldStackPtr make_fold_stack(const ModelSpec& spec, int64_t num_classes, int64_t input_size,
                             const OptionValues& options, int64_t folds) {
  if (spec.fold_stack) return spec.fold_stack(num_classes, input_size, options, folds);
  return std::make_shared<ReplicaStack>(
      [&] { return spec.make(num_classes, input_size, options); }, folds);
}

}  // namespace mer::models
