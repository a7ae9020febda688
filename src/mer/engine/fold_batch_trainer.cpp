#include "mer/engine/fold_batch_trainer.h"

#include <malloc.h>

#include <chrono>
#include <cmath>

#include "mer/core/error.h"
#include "mer/core/rng.h"
#include "mer/engine/augment.h"
#include "mer/engine/batch_source.h"
#include "mer/engine/precision.h"
#include "mer/engine/stacked_optimizer.h"
#include "mer/engine/training_parts.h"
#include "mer/models/fold_stack.h"
#include "mer/models/registry.h"
#include "mer/models/replica_stack.h"

namespace mer::engine {

namespace {

// Fold-major sample indices of one stacked step: fold f's `take[f]` samples, padded to the
// longest with the fold's own first training sample (masked out), so that a fold's rows
// only ever hold its own training data.
struct StackedStep {
  torch::Tensor indices;  // [N * width] int64
  models::FoldRows rows;
};

StackedStep make_step(const std::vector<std::vector<int64_t>>& rows, const std::vector<Fold>& folds,
                      torch::Device device) {
  const int64_t n = static_cast<int64_t>(rows.size());
  int64_t width = 1;
  for (const auto& r : rows) width = std::max<int64_t>(width, r.size());
  std::vector<int64_t> indices(n * width), counts(n);
  for (int64_t f = 0; f < n; ++f) {
    const int64_t pad = rows[f].empty() ? folds[f].train.front() : rows[f].front();
    counts[f] = static_cast<int64_t>(rows[f].size());
    for (int64_t b = 0; b < width; ++b) indices[f * width + b] = b < counts[f] ? rows[f][b] : pad;
  }
  StackedStep step;
  step.indices = torch::tensor(indices, torch::kInt64).to(device);
  step.rows = models::FoldRows::make(std::move(counts), width, device);
  return step;
}

// Class probabilities of each fold's `samples[f]` ([n_f, K] CPU float), eval mode.
std::vector<torch::Tensor> predict_stacked(models::FoldStack& stack, const BatchSource& source,
                                           const std::vector<Fold>& folds,
                                           const std::vector<std::vector<int64_t>>& samples,
                                           torch::Device device) {
  torch::NoGradGuard no_grad;
  stack.eval();
  const int64_t n = static_cast<int64_t>(folds.size());
  std::vector<std::vector<torch::Tensor>> parts(n);
  int64_t longest = 0;
  for (const auto& s : samples) longest = std::max<int64_t>(longest, s.size());
  for (int64_t start = 0; start < longest; start += kPredictChunk) {
    std::vector<std::vector<int64_t>> rows(n);
    for (int64_t f = 0; f < n; ++f) {
      const int64_t end = std::min<int64_t>(start + kPredictChunk, samples[f].size());
      if (start < end) rows[f].assign(samples[f].begin() + start, samples[f].begin() + end);
    }
    const auto step = make_step(rows, folds, device);
    auto probs = torch::softmax(stack.forward(source.gather(step.indices, false), step.rows).logits, -1)
                     .to(torch::kCPU)
                     .to(torch::kFloat32);
    for (int64_t f = 0; f < n; ++f) parts[f].push_back(probs[f].slice(0, 0, step.rows.counts[f]));
  }
  std::vector<torch::Tensor> out(n);
  for (int64_t f = 0; f < n; ++f) {
    out[f] = parts[f].empty() ? torch::zeros({0, 1}) : torch::cat(parts[f]).contiguous();
  }
  stack.train();
  return out;
}

// Stacked activations are tens of megabytes each, above glibc's largest automatic mmap
// threshold, so by default every one is mapped fresh and unmapped at free: the page faults
// of mapping them again at every step cost several times the computation on the CPU. Keeping
// such blocks in the heap (process-wide; the run's memory then stays at its peak) avoids that.
void keep_large_blocks_in_the_heap() {
  constexpr int kOneGiB = 1 << 30;
  mallopt(M_MMAP_THRESHOLD, kOneGiB);
  mallopt(M_TRIM_THRESHOLD, kOneGiB);
}

}  // namespace

FoldBatchTrainer::FoldBatchTrainer(const data::Dataset& dataset, TrainOptions options)
    : dataset_(dataset), options_(std::move(options)) {
  options_.validate();
}

std::vector<FoldOutcome> FoldBatchTrainer::run(const std::vector<Fold>& folds,
                                               std::vector<models::ModelPtr>& models,
                                               const std::function<void(int64_t)>& on_epoch) const {
  namespace F = torch::nn::functional;
  const auto start_time = std::chrono::steady_clock::now();
  const int64_t n = static_cast<int64_t>(folds.size());
  MER_CHECK(n >= 1, "a fold group needs folds");
  const torch::Device device(options_.device);
  if (device.is_cpu()) keep_large_blocks_in_the_heap();
  const auto& spec = models::find_model(options_.model);
  const auto option_values = spec.resolve_options(
      models::resolve_model_options(options_.model, options_.model_options, data_traits(dataset_)));
  auto stack = models::make_fold_stack(spec, dataset_.num_classes(), dataset_.flow_side(),
                                       option_values, n);

  // Each fold starts from exactly the weights its fold-by-fold training would (same seeds).
  models.assign(n, nullptr);
  std::vector<SplitMix64> shuffle_rngs, augment_rngs;
  std::vector<EpochSelector> selectors;
  std::vector<FoldOutcome> outcomes(n);
  std::vector<float> class_weights;
  const int64_t k = dataset_.num_classes();
  for (int64_t f = 0; f < n; ++f) {
    const auto& fold = folds[f];
    MER_CHECK(!fold.train.empty(), "fold " + fold.key + " has no training samples");
    const uint64_t base = static_cast<uint64_t>(fold.index) * 3;
    models[f] = make_seeded_model(options_, dataset_, derive_seed(options_.seed, base));
    stack->load_fold(f, *models[f]);
    shuffle_rngs.emplace_back(derive_seed(options_.seed, base + 1));
    augment_rngs.emplace_back(augment_seed(options_.seed, fold.index));
    selectors.emplace_back(dataset_, fold, options_);
    outcomes[f].key = fold.key;
    outcomes[f].samples = fold.test;
    auto weights = fold_class_weights(dataset_, fold, options_);
    if (weights.empty()) weights.assign(k, 1.f);
    class_weights.insert(class_weights.end(), weights.begin(), weights.end());
  }
  if (device.is_cpu()) {
    // Each fold's dropout seed of fold-by-fold training (FoldTrainer).
    std::vector<at::Generator> generators;
    for (const auto& fold : folds) {
      generators.push_back(models::make_cpu_generator(
          derive_seed(options_.seed, static_cast<uint64_t>(fold.index) * 3 + 2)));
    }
    stack->set_fold_generators(generators);
  } else {
    torch::manual_seed(derive_seed(options_.seed, static_cast<uint64_t>(folds.front().index) * 3 + 2));
  }
  stack->to(device);
  stack->train();
  apply_precision(options_.precision);
  const auto weight_table = torch::tensor(class_weights).reshape({n, k}).to(device);
  StackedOptimizer optimizer(stack->parameters(), n, options_);
  const BatchSource source(dataset_, device);

  std::vector<torch::Tensor> selected_probs(n);
  std::vector<StateSnapshot> selected_states(n);
  std::vector<bool> stopped(n, false);
  const int64_t batch = options_.batch_size;
  for (int64_t epoch = 1; epoch <= options_.epochs; ++epoch) {
    std::vector<std::vector<int64_t>> orders(n);
    int64_t steps = 0;
    for (int64_t f = 0; f < n; ++f) {
      if (stopped[f]) continue;
      orders[f] = folds[f].train;
      shuffle(orders[f], shuffle_rngs[f]);
      steps = std::max<int64_t>(steps, (orders[f].size() + batch - 1) / batch);
    }
    if (steps == 0) break;  // every fold has stopped early
    auto loss_sum = torch::zeros({n}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    auto correct = torch::zeros({n}, torch::TensorOptions().dtype(torch::kInt64).device(device));
    for (int64_t s = 0; s < steps; ++s) {
      std::vector<std::vector<int64_t>> rows(n);
      std::vector<bool> active(n, false);
      for (int64_t f = 0; f < n; ++f) {
        const int64_t from = std::min<int64_t>(s * batch, orders[f].size());
        const int64_t to = std::min<int64_t>(from + batch, orders[f].size());
        rows[f].assign(orders[f].begin() + from, orders[f].begin() + to);
        active[f] = to > from;
      }
      const auto step = make_step(rows, folds, device);
      auto input = source.gather(step.indices, /*with_labels=*/true);
      if (options_.augment == "flip") {
        // Each fold mirrors its real rows with its own stream, as it would trained alone.
        auto flips = torch::zeros({n * step.rows.width}, torch::kBool);
        for (int64_t f = 0; f < n; ++f) {
          const auto count = static_cast<int64_t>(rows[f].size());
          if (count == 0) continue;
          flips.narrow(0, f * step.rows.width, count).copy_(draw_flips(augment_rngs[f], count));
        }
        mirror_samples(input, flips);
      }
      models::StackedOutput output;
      {
        AutocastScope autocast(options_.precision, device);
        output = stack->forward(input, step.rows);
      }
      const auto logits = output.logits.to(torch::kFloat32);  // [N, W, K]
      const auto& mask = step.rows.mask;
      const auto labels = input.labels.reshape({n, -1});
      // Each fold's (class-weighted) mean cross-entropy over its real samples, as
      // F::cross_entropy computes it for the fold alone; the folds' losses are summed, so
      // each fold's parameters get exactly their own loss's gradient.
      const auto nll = -logits.log_softmax(-1).gather(2, labels.unsqueeze(2)).squeeze(2);
      const auto weight = weight_table.gather(1, labels) * mask;
      auto fold_loss = (weight * nll).sum(1) / weight.sum(1).clamp_min(1e-12);
      if (output.aux_loss.defined()) fold_loss = fold_loss + output.aux_loss.to(torch::kFloat32);
      optimizer.zero_grad();
      fold_loss.sum().backward();
      optimizer.step(active);
      {
        torch::NoGradGuard no_grad;
        const auto counts = mask.sum(1).to(torch::kFloat64);
        loss_sum += fold_loss.detach().to(torch::kFloat64) * counts;
        correct += (logits.argmax(-1).eq(labels) * mask.gt(0)).sum(1);
      }
    }
    if (options_.lr_decay != 1.0) optimizer.set_lr(optimizer.lr() * options_.lr_decay);
    const auto losses = loss_sum.to(torch::kCPU);
    const auto hits = correct.to(torch::kCPU);
    std::vector<std::vector<int64_t>> watched(n);
    for (int64_t f = 0; f < n; ++f) {
      if (stopped[f]) continue;
      const double count = static_cast<double>(orders[f].size());
      const double loss = losses[f].item<double>() / count;
      if (!std::isfinite(loss)) {
        throw Error("fold " + folds[f].key + ": training loss became " + std::to_string(loss) +
                    " at epoch " + std::to_string(epoch) + " (try a lower --lr)");
      }
      outcomes[f].train_loss.push_back(loss);
      outcomes[f].train_accuracy.push_back(hits[f].item<int64_t>() / count);
      outcomes[f].epochs_run = epoch;
      watched[f] = selectors[f].watched();
    }
    if (!selectors.front().watched().empty()) {
      const auto probs = predict_stacked(*stack, source, folds, watched, device);
      for (int64_t f = 0; f < n; ++f) {
        if (stopped[f] || !selectors[f].observe(epoch, probs[f], outcomes[f])) continue;
        if (options_.protocol == Protocol::kOracle) {
          selected_probs[f] = probs[f];
        } else {
          stack->store_fold(f, *models[f]);
          selected_states[f] = snapshot(models[f]);
        }
      }
    }
    for (int64_t f = 0; f < n; ++f) stopped[f] = stopped[f] || selectors[f].stop();
    if (on_epoch) on_epoch(epoch);
  }

  std::vector<std::vector<int64_t>> tests(n);
  for (int64_t f = 0; f < n; ++f) tests[f] = folds[f].test;
  const auto last_probs = predict_stacked(*stack, source, folds, tests, device);
  for (int64_t f = 0; f < n; ++f) stack->store_fold(f, *models[f]);
  if (options_.protocol == Protocol::kInnerVal) {
    // The reported models are the selected epochs': back into the stack to predict them.
    for (int64_t f = 0; f < n; ++f) {
      restore(models[f], selected_states[f]);
      stack->load_fold(f, *models[f]);
    }
    selected_probs = predict_stacked(*stack, source, folds, tests, device);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  for (int64_t f = 0; f < n; ++f) {
    finish_outcome(outcomes[f], options_.protocol, last_probs[f], selected_probs[f]);
    outcomes[f].seconds = seconds / n;
  }
  return outcomes;
}

}  // namespace mer::engine
