#include "mer/engine/trainer.h"

#include <chrono>
#include <cmath>
#include <mutex>

#include "mer/core/error.h"
#include "mer/core/rng.h"
#include "mer/engine/augment.h"
#include "mer/engine/batch_source.h"
#include "mer/engine/precision.h"
#include "mer/engine/training_parts.h"
#include "mer/models/registry.h"
#include "mer/models/ststnet_fused.h"  // FastRng, fill_dropout_scale

namespace mer::engine {

std::string protocol_name(Protocol protocol) {
  switch (protocol) {
    case Protocol::kHonest: return "honest";
    case Protocol::kInnerVal: return "inner-val";
    case Protocol::kOracle: return "oracle";
  }
  return "?";
}

Protocol parse_protocol(const std::string& name) {
  if (name == "honest") return Protocol::kHonest;
  if (name == "inner-val") return Protocol::kInnerVal;
  if (name == "oracle") return Protocol::kOracle;
  throw ConfigError("unknown protocol '" + name + "' (honest, inner-val, oracle)");
}

std::string protocol_note(Protocol protocol) {
  switch (protocol) {
    case Protocol::kHonest:
      return "honest: fixed epoch count, model of the last epoch; the test subject is never "
             "looked at during training";
    case Protocol::kInnerVal:
      return "inner-val: epoch chosen on validation subjects held out from the training "
             "subjects; the test subject is never looked at during training";
    case Protocol::kOracle:
      return "ORACLE: epoch chosen by accuracy on the TEST subject (as many published repos "
             "do); inflated, for reproducing paper tables only, not an honest estimate";
  }
  return "";
}

void TrainOptions::validate() const {
  models::find_model(model);
  if (epochs < 1) throw ConfigError("--epochs must be >= 1");
  if (!(lr > 0.0) || !std::isfinite(lr)) throw ConfigError("--lr must be a positive number");
  if (batch_size < 1) throw ConfigError("--batch-size must be >= 1");
  if (optimizer != "adam" && optimizer != "adamw" && optimizer != "sgd") {
    throw ConfigError("--optimizer '" + optimizer + "': use adam, adamw or sgd");
  }
  if (!(weight_decay >= 0.0) || !std::isfinite(weight_decay)) {
    throw ConfigError("--weight-decay must be a finite number >= 0");
  }
  if (!(lr_decay > 0.0) || !(lr_decay <= 1.0)) throw ConfigError("--lr-decay must be in (0, 1]");
  if (lr_decay != 1.0 && resolve_backend(*this) == "fused") {
    throw ConfigError("--lr-decay is not supported by the fused STSTNet backend (use --backend torch)");
  }
  if (!(momentum >= 0.0) || !(momentum < 1.0)) throw ConfigError("--momentum must be in [0, 1)");
  if (class_weights != "none" && class_weights != "balanced") {
    throw ConfigError("--class-weights '" + class_weights + "': use none or balanced");
  }
  if (protocol == Protocol::kInnerVal &&
      !(validation_fraction > 0.0 && validation_fraction < 1.0)) {
    throw ConfigError("--val-fraction must be in (0, 1) for the inner-val protocol");
  }
  if (patience < 0) throw ConfigError("--patience must be >= 0");
  if (backend != "auto" && backend != "fused" && backend != "torch") {
    throw ConfigError("--backend '" + backend + "': use auto, fused or torch");
  }
  if (device != "cpu" && device != "cuda") {
    throw ConfigError("--device '" + device + "': use cpu or cuda");
  }
  if (device == "cuda" && !torch::cuda::is_available()) {
    throw ConfigError("--device cuda: this LibTorch build has no CUDA or no GPU is visible");
  }
  check_precision(precision, device);
  if (precision != "fp32" && backend == "fused") {
    throw ConfigError("--precision " + precision + " trains the model's LibTorch module: it "
                      "cannot use --backend fused (use --backend auto or torch)");
  }
  check_augment(augment);
  if (augment != "none" && backend == "fused") {
    throw ConfigError("--augment " + augment + " trains the model's LibTorch module: it cannot "
                      "use --backend fused (use --backend auto or torch)");
  }
  if (fold_batch < 0) throw ConfigError("--fold-batch must be >= 0 (0 = auto, 1 = fold by fold)");
  if (fold_batch > 1 && backend == "fused") {
    throw ConfigError("--fold-batch trains the models' stacked LibTorch form: it cannot use "
                      "--backend fused (use --backend auto or torch)");
  }
  if (backend == "fused" && (!models::find_model(model).fused_cpu_kernel || device != "cpu")) {
    throw ConfigError("--backend fused: model '" + model + "' has no fused CPU kernel" +
                      (device != "cpu" ? " on --device " + device : std::string()) +
                      " (use --backend torch or auto)");
  }
}

bool stacks_folds(const TrainOptions& options) {
  if (options.fold_batch != 0) return options.fold_batch > 1;
  // Auto: on a GPU where the model has its own batched form; the generic stack of the
  // others is for an explicit --fold-batch.
  return options.device == "cuda" && static_cast<bool>(models::find_model(options.model).fold_stack);
}

std::string resolve_backend(const TrainOptions& options) {
  if (options.backend != "auto") return options.backend;
  if (stacks_folds(options) || options.precision != "fp32" || options.augment != "none") {
    return "torch";
  }
  return models::find_model(options.model).fused_cpu_kernel && options.device == "cpu" ? "fused"
                                                                                       : "torch";
}

models::ModelPtr make_seeded_model(const TrainOptions& options, const data::Dataset& dataset,
                                   uint64_t init_seed) {
  // torch's default generator is process-global: hold it while initialising so that folds
  // built concurrently on several threads each get exactly their own seed's weights.
  static std::mutex init_mutex;
  std::lock_guard<std::mutex> lock(init_mutex);
  torch::manual_seed(init_seed);
  models::ModelConfig config;
  config.num_classes = dataset.num_classes();
  config.input_size = dataset.flow_side();
  // Fitted to the data (idempotent for options a run has resolved already), so that a model
  // built here is the one `mer loso` trains.
  config.options =
      models::resolve_model_options(options.model, options.model_options, data_traits(dataset));
  return models::make_model(options.model, config);
}

namespace {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const models::ModelPtr& model,
                                                        const TrainOptions& o) {
  auto params = model->parameters();
  if (o.optimizer == "adam") {
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  }
  if (o.optimizer == "adamw") {
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  }
  return std::make_unique<torch::optim::SGD>(
      params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
}

class Backend {
 public:
  virtual ~Backend() = default;
  // One pass over the training samples in the given order; returns the mean loss and sets
  // `accuracy` to the share of them whose training-mode forward predicted the label.
  virtual double train_epoch(const std::vector<int64_t>& order, double& accuracy) = 0;
  // Class probabilities [n, K] (CPU float) of the current model, eval mode.
  virtual torch::Tensor predict(const std::vector<int64_t>& indices) = 0;
};

class FusedBackend : public Backend {
 public:
  FusedBackend(const data::Dataset& dataset, models::ModelPtr model, const TrainOptions& options,
               uint64_t dropout_seed, std::vector<float> class_weights)
      : dataset_(dataset),
        model_(model),
        kernel_(models::find_model(options.model).fused_cpu_kernel(*model)),
        num_classes_(model->num_classes()),
        optimizer_(make_optimizer(model, options)),
        batch_size_(options.batch_size),
        dropout_(kernel_->dropout()),
        rng_(dropout_seed),
        class_weights_(std::move(class_weights)) {
    flows_ = dataset.flows.contiguous();
    sample_floats_ = flows_[0].numel();
    mask_floats_ = kernel_->dropout_floats_per_sample();
    inputs_.resize(batch_size_ * sample_floats_);
    labels_.resize(batch_size_);
    masks_.resize(batch_size_ * mask_floats_);
  }

  double train_epoch(const std::vector<int64_t>& order, double& accuracy) override {
    double total = 0.0;
    int64_t correct = 0;
    const float* base = flows_.data_ptr<float>();
    for (size_t start = 0; start < order.size(); start += batch_size_) {
      const int64_t n = std::min<int64_t>(batch_size_, order.size() - start);
      for (int64_t b = 0; b < n; ++b) {
        const int64_t i = order[start + b];
        std::copy_n(base + i * sample_floats_, sample_floats_, inputs_.data() + b * sample_floats_);
        labels_[b] = dataset_.samples[i].label;
      }
      const float* masks = nullptr;
      if (dropout_ > 0.f && mask_floats_ > 0) {
        models::fill_dropout_scale(rng_, dropout_, masks_.data(), n * mask_floats_);
        masks = masks_.data();
      }
      const float loss = kernel_->train_step(inputs_.data(), labels_.data(), n, masks,
                                             class_weights_.empty() ? nullptr
                                                                    : class_weights_.data(),
                                             &correct);
      optimizer_->step();
      total += static_cast<double>(loss) * n;
    }
    accuracy = static_cast<double>(correct) / std::max<size_t>(order.size(), 1);
    return total / std::max<size_t>(order.size(), 1);
  }

  torch::Tensor predict(const std::vector<int64_t>& indices) override {
    const int64_t k = num_classes_;
    auto logits = torch::empty({static_cast<int64_t>(indices.size()), k});
    std::vector<float> chunk;
    const float* base = flows_.data_ptr<float>();
    for (size_t start = 0; start < indices.size(); start += kPredictChunk) {
      const int64_t n = std::min<int64_t>(kPredictChunk, indices.size() - start);
      chunk.resize(n * sample_floats_);
      for (int64_t b = 0; b < n; ++b) {
        std::copy_n(base + indices[start + b] * sample_floats_, sample_floats_,
                    chunk.data() + b * sample_floats_);
      }
      kernel_->predict(chunk.data(), n, logits.data_ptr<float>() + start * k);
    }
    return torch::softmax(logits, 1);
  }

 private:
  const data::Dataset& dataset_;
  models::ModelPtr model_;  // the module whose parameters the kernel trains
  std::unique_ptr<models::FusedCpuKernel> kernel_;
  int64_t num_classes_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  int64_t batch_size_;
  float dropout_;
  models::FastRng rng_;
  std::vector<float> class_weights_;
  torch::Tensor flows_;
  int64_t sample_floats_ = 0, mask_floats_ = 0;
  std::vector<float> inputs_, masks_;
  std::vector<int64_t> labels_;
};

class TorchBackend : public Backend {
 public:
  TorchBackend(const data::Dataset& dataset, models::ModelPtr model, const TrainOptions& options,
               const std::vector<float>& class_weights, uint64_t augment_seed)
      : model_(std::move(model)),
        device_(options.device),
        precision_(options.precision),
        batch_size_(options.batch_size),
        lr_decay_(options.lr_decay),
        mirror_(options.augment == "flip"),
        augment_rng_(augment_seed),
        source_(dataset, device_) {
    model_->to(device_);
    apply_precision(precision_);
    optimizer_ = make_optimizer(model_, options);
    if (!class_weights.empty()) weights_ = torch::tensor(class_weights).to(device_);
  }

  double train_epoch(const std::vector<int64_t>& order, double& accuracy) override {
    namespace F = torch::nn::functional;
    model_->train();
    double total = 0.0;
    int64_t correct = 0;
    auto all = torch::tensor(order, torch::kInt64).to(device_);
    for (int64_t start = 0; start < all.size(0); start += batch_size_) {
      auto idx = all.slice(0, start, std::min<int64_t>(start + batch_size_, all.size(0)));
      auto batch = source_.gather(idx, /*with_labels=*/true);
      if (mirror_) mirror_samples(batch, draw_flips(augment_rng_, idx.size(0)));
      models::Output out;
      {
        AutocastScope autocast(precision_, device_);
        out = model_->forward(batch);
      }
      out.logits = out.logits.to(torch::kFloat32);  // the loss in float32 whatever the precision
      auto options = F::CrossEntropyFuncOptions();
      if (weights_.defined()) options.weight(weights_);
      auto loss = F::cross_entropy(out.logits, batch.labels, options);
      if (out.aux_loss.defined()) loss = loss + out.aux_loss.to(torch::kFloat32);
      optimizer_->zero_grad();
      loss.backward();
      optimizer_->step();
      total += loss.item<double>() * idx.size(0);
      correct += out.logits.argmax(1).eq(batch.labels).sum().item<int64_t>();
    }
    if (lr_decay_ != 1.0) {  // exponential decay, once per epoch
      for (auto& group : optimizer_->param_groups()) {
        group.options().set_lr(group.options().get_lr() * lr_decay_);
      }
    }
    accuracy = static_cast<double>(correct) / std::max<size_t>(order.size(), 1);
    return total / std::max<size_t>(order.size(), 1);
  }

  torch::Tensor predict(const std::vector<int64_t>& indices) override {
    torch::NoGradGuard no_grad;
    model_->eval();
    std::vector<torch::Tensor> parts;
    auto all = torch::tensor(indices, torch::kInt64).to(device_);
    for (int64_t start = 0; start < all.size(0); start += kPredictChunk) {
      auto idx = all.slice(0, start, std::min<int64_t>(start + kPredictChunk, all.size(0)));
      parts.push_back(
          torch::softmax(model_->forward(source_.gather(idx, /*with_labels=*/false)).logits, 1));
    }
    return torch::cat(parts).to(torch::kCPU).to(torch::kFloat32);
  }

 private:
  models::ModelPtr model_;
  torch::Device device_;
  std::string precision_;
  int64_t batch_size_;
  double lr_decay_;
  bool mirror_;             // --augment flip
  SplitMix64 augment_rng_;  // which training samples are mirrored
  BatchSource source_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  torch::Tensor weights_;
};

}  // namespace

FoldTrainer::FoldTrainer(const data::Dataset& dataset, TrainOptions options)
    : dataset_(dataset), options_(std::move(options)) {
  options_.validate();
}

FoldOutcome FoldTrainer::run(const Fold& fold, models::ModelPtr& model,
                             const std::function<void(int64_t)>& on_epoch) const {
  const auto start_time = std::chrono::steady_clock::now();
  MER_CHECK(!fold.train.empty(), "fold " + fold.key + " has no training samples");
  // Seeds derive from the fold's position among all folds, so that a run on a subset of
  // folds reproduces exactly the same folds of a full run.
  const uint64_t base = static_cast<uint64_t>(fold.index) * 3;
  model = make_seeded_model(options_, dataset_, derive_seed(options_.seed, base));
  const uint64_t dropout_seed = derive_seed(options_.seed, base + 2);
  const auto weights = fold_class_weights(dataset_, fold, options_);
  std::unique_ptr<Backend> backend;
  if (resolve_backend(options_) == "fused") {
    backend = std::make_unique<FusedBackend>(dataset_, model, options_, dropout_seed, weights);
  } else {
    // On the CPU each fold draws dropout from its own generator, so folds may train
    // concurrently and still give the same results whatever the thread count.
    if (options_.device == "cpu") model->set_generator(models::make_cpu_generator(dropout_seed));
    torch::manual_seed(dropout_seed);
    backend = std::make_unique<TorchBackend>(dataset_, model, options_, weights,
                                             augment_seed(options_.seed, fold.index));
  }

  FoldOutcome outcome;
  outcome.key = fold.key;
  outcome.samples = fold.test;
  SplitMix64 shuffle_rng(derive_seed(options_.seed, base + 1));
  EpochSelector selector(dataset_, fold, options_);
  torch::Tensor selected_probs;
  StateSnapshot selected_state;
  for (int64_t epoch = 1; epoch <= options_.epochs; ++epoch) {
    std::vector<int64_t> order = fold.train;
    shuffle(order, shuffle_rng);
    double accuracy = 0.0;
    const double loss = backend->train_epoch(order, accuracy);
    if (!std::isfinite(loss)) {
      throw Error("fold " + fold.key + ": training loss became " + std::to_string(loss) +
                  " at epoch " + std::to_string(epoch) + " (try a lower --lr)");
    }
    outcome.train_loss.push_back(loss);
    outcome.train_accuracy.push_back(accuracy);
    outcome.epochs_run = epoch;
    if (!selector.watched().empty()) {
      auto probs = backend->predict(selector.watched());
      if (selector.observe(epoch, probs, outcome)) {
        if (options_.protocol == Protocol::kOracle) {
          selected_probs = probs;
        } else {
          selected_state = snapshot(model);
        }
      }
    }
    if (on_epoch) on_epoch(epoch);
    if (selector.stop()) break;
  }
  const auto last_probs = backend->predict(fold.test);
  if (options_.protocol == Protocol::kInnerVal) {
    restore(model, selected_state);
    selected_probs = backend->predict(fold.test);
  }
  finish_outcome(outcome, options_.protocol, last_probs, selected_probs);
  model->to(torch::kCPU);
  outcome.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return outcome;
}

}  // namespace mer::engine
