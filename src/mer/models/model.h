#pragma once
// The interface every mer model implements, so that the LOSO engine, checkpoints, inference
// and reports treat all methods alike.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace mer::models {

// One mini-batch as the engine hands it to a model.
// Fields other than flow are optional: the engine fills them when the dataset has them
// (engine/batch_source.h) and models that need them check for them.
struct Batch {
  torch::Tensor flow;    // [B, 3, H, W] float32: onset->apex (u, v, strain) as in labels.csv
  torch::Tensor labels;  // [B] int64 class indices; undefined at inference
  // [B, 68, 2] float32 facial landmarks (x, y) in flow-map pixels (data::Dataset::landmarks),
  // on the device of `flow`; undefined when the dataset has none. Models that do not use
  // landmarks ignore it.
  torch::Tensor landmarks;
  torch::Tensor onset;   // [B, 1, C, C] float32 0..255 grey aligned onset crop, or undefined
  torch::Tensor face;    // [B, 1, C, C] float32 0..255 grey apex / face crop, or undefined
  torch::Tensor aus;     // [B, 21] float32 0/1 ground-truth AU vector (data/action_units.h), or undefined
};

// What a forward pass returns.
struct Output {
  torch::Tensor logits;    // [B, num_classes]
  torch::Tensor aux_loss;  // scalar added to the classification loss in training; may be undefined
  // Per-sample interpretable outputs (attention, region weights, ...), each [B, ...]; written
  // with the predictions by the engine. Empty for models that have none.
  std::map<std::string, torch::Tensor> explain;
};

// Inverted dropout drawing from `generator` when it is defined and `x` is on the CPU, else
// from torch's global generator; identity when not training or p == 0.
inline torch::Tensor dropout_from(const at::Generator& generator, const torch::Tensor& x, double p,
                                  bool training) {
  if (!training || p <= 0.0) return x;
  if (!generator.defined() || !x.device().is_cpu()) {
    return torch::nn::functional::dropout(
        x, torch::nn::functional::DropoutFuncOptions().p(p).training(true));
  }
  auto keep = torch::empty_like(x).bernoulli_(1.0 - p, generator);
  return x * keep / (1.0 - p);
}

// Layer norm in float32, outside autocast: LibTorch 1.13's CPU autocast (bf16 mixed precision,
// engine/precision.h) lowers layer_norm's input to bfloat16 but not its weights, which its CPU
// kernel cannot mix; CUDA's autocast runs layer_norm in float32 anyway. Without autocast, the
// plain layer norm.
inline torch::Tensor layer_norm_fp32(torch::nn::LayerNorm norm, const torch::Tensor& x) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  return norm->forward(x.to(torch::kFloat32));
}

// Base of all models. Subclasses register their parameters and buffers under the names a
// PyTorch port would use, so that checkpoints can travel between the two.
class ModelImpl : public torch::nn::Module {
 public:
  virtual Output forward(const Batch& batch) = 0;
  virtual int64_t num_classes() const = 0;

  // What a reader of the explanations needs besides the per-sample tensors, the same for every
  // sample (written once into RUN/explain.json as "model_info"): e.g. names of the entries of
  // an explanation vector ({"labels": {"component_action": ["jaw", ...]}}) or which landmarks
  // make up each component. Null for models without any.
  virtual nlohmann::json explain_info() const { return nullptr; }

  // Gives the model its own random stream for dropout (CPU only). Without one, dropout draws
  // from torch's process-global generator, which is fine for one model at a time but makes
  // models trained concurrently on several threads depend on thread timing.
  void set_generator(at::Generator generator) { generator_ = std::move(generator); }

 protected:
  // Inverted dropout that uses the model's generator when it has one and the tensor is on
  // the CPU; identity when not training or p == 0.
  torch::Tensor dropout(const torch::Tensor& x, double p) {
    return dropout_from(generator_, x, p, is_training());
  }

  // Uniform [0, 1) numbers of `like`'s shape and options, from the model's generator when it
  // has one and the tensor is on the CPU (for training-time augmentations inside a model).
  torch::Tensor uniform_like(const torch::Tensor& like) {
    if (!generator_.defined() || !like.device().is_cpu()) return torch::rand_like(like);
    return torch::empty_like(like).uniform_(0.0, 1.0, generator_);
  }

 private:
  at::Generator generator_;
};

// A CPU generator with the given seed, for ModelImpl::set_generator.
inline at::Generator make_cpu_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

using ModelPtr = std::shared_ptr<ModelImpl>;

}  // namespace mer::models
