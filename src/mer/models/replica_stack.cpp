#include "mer/models/replica_stack.h"

#include "mer/core/error.h"

namespace mer::models {

namespace {

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

std::vector<ModelPtr> make_replicas(const std::function<ModelPtr()>& make, int64_t folds) {
  MER_CHECK(folds >= 1, "a fold stack needs folds");
  std::vector<ModelPtr> replicas;
  for (int64_t f = 0; f < folds; ++f) replicas.push_back(make());
  return replicas;
}

}  // namespace

ReplicaStack::ReplicaStack(const std::function<ModelPtr()>& make, int64_t folds)
    : ReplicaStack(make_replicas(make, folds)) {}

ReplicaStack::ReplicaStack(std::vector<ModelPtr> replicas)
    : MirroredFoldStack(*replicas.front(), static_cast<int64_t>(replicas.size())),
      replicas_(std::move(replicas)) {}

void ReplicaStack::bind() {
  const auto& first = tensor(parameter_names().front());
  if (bound_to_ == first.data_ptr()) return;
  torch::NoGradGuard no_grad;
  for (int64_t f = 0; f < folds(); ++f) {
    auto& replica = *replicas_[f];
    // Tensors a model keeps outside its parameters and buffers follow the device too.
    replica.to(first.device());
    auto own = replica.named_parameters();
    for (const auto& name : parameter_names()) {
      auto stacked = tensor(name);
      own[name].set_data(stacked.detach()[f]);
      if (!stacked.requires_grad()) continue;
      if (!stacked.grad().defined() || stacked.grad().device() != stacked.device()) {
        stacked.mutable_grad() = torch::zeros_like(stacked);
      }
      // Autograd accumulates a defined gradient in place: into this fold's slice.
      own[name].mutable_grad() = stacked.grad()[f];
    }
    auto own_buffers = replica.named_buffers();
    for (const auto& name : buffer_names()) own_buffers[name].set_data(tensor(name).detach()[f]);
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

void ReplicaStack::set_fold_generators(const std::vector<at::Generator>& generators) {
  MER_CHECK(static_cast<int64_t>(generators.size()) == folds(), "one generator per fold");
  for (int64_t f = 0; f < folds(); ++f) replicas_[f]->set_generator(generators[f]);
}

void ReplicaStack::train(bool on) {
  MirroredFoldStack::train(on);
  for (auto& replica : replicas_) replica->train(on);
}

FoldStackPtr make_fold_stack(const ModelSpec& spec, int64_t num_classes, int64_t input_size,
                             const OptionValues& options, int64_t folds) {
  if (spec.fold_stack) return spec.fold_stack(num_classes, input_size, options, folds);
  return std::make_shared<ReplicaStack>(
      [&] { return spec.make(num_classes, input_size, options); }, folds);
}

}  // namespace mer::models
