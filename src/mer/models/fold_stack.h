#pragma once
// Several LOSO folds of one model trained as one computation ("fold stacking"): each fold's
// parameters and batch-norm statistics are stacked along a leading fold dimension, and the
// layers run on all folds at once (grouped convolutions, batched matrix products), so that a
// GPU sees one large computation instead of many tiny ones.
//
// Batches are fold-major: the models::Batch a stack receives holds N folds x W samples
// ([N * W, ...] in every tensor), each fold's own training samples first, padded to W where a
// fold has fewer (FoldRows says how many are real); the padding is kept out of the loss and
// of the batch-norm statistics. Fold f's numbers depend only on fold f's samples and
// parameters.
//
// A model gets a stack in one of two forms (make_fold_stack, models/replica_stack.h): its own
// batched form (ModelSpec::fold_stack: grouped and batched kernels over all folds at once), or
// else the generic one that runs each fold's ordinary module on its rows, all folds in
// lockstep, with their parameters still stacked for one optimiser step.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mer/models/model.h"

namespace mer::models {

// Which rows of a fold-major batch are real: fold f's block of `width` rows starts with its
// `counts[f]` samples; the rest is padding.
struct FoldRows {
  std::vector<int64_t> counts;
  int64_t width = 0;
  torch::Tensor mask;  // [N, width] float on the batch's device: 1 = real, 0 = padding

  static FoldRows make(std::vector<int64_t> counts, int64_t width, torch::Device device);
  int64_t folds() const { return static_cast<int64_t>(counts.size()); }
};

struct StackedOutput {
  torch::Tensor logits;    // [N, W, K]; rows of padding hold anything finite
  torch::Tensor aux_loss;  // [N] each fold's auxiliary loss (Output::aux_loss), or undefined
};

class FoldStack : public torch::nn::Module {
 public:
  explicit FoldStack(int64_t folds) : folds_(folds) {}
  int64_t folds() const { return folds_; }

  virtual StackedOutput forward(const Batch& batch, const FoldRows& rows) = 0;
  // Copies fold f's parameters and buffers from / into a model built by the spec's `make`
  // with the same options (the per-fold model a checkpoint holds).
  virtual void load_fold(int64_t fold, ModelImpl& model) = 0;
  virtual void store_fold(int64_t fold, ModelImpl& model) = 0;

  // Random streams for dropout, one per fold, as ModelImpl::set_generator (CPU only). A
  // batched form draws all its folds' dropout from the first one.
  virtual void set_fold_generators(const std::vector<at::Generator>& generators) {
    if (!generators.empty()) generator_ = generators.front();
  }

 protected:
  torch::Tensor dropout(const torch::Tensor& x, double p);

 private:
  int64_t folds_;
  at::Generator generator_;
};

using FoldStackPtr = std::shared_ptr<FoldStack>;

// A stack whose tensors mirror one model's named parameters and buffers, each stacked along
// a leading fold dimension ([N, ...the model's shape]) under the model's own name: load_fold
// and store_fold copy by name, and a stacked form reads its tensors by the names the
// ordinary model gives them.
class MirroredFoldStack : public FoldStack {
 public:
  // `like`: a model built with the stack's options (its values fill every fold at first).
  MirroredFoldStack(ModelImpl& like, int64_t folds);

  void load_fold(int64_t fold, ModelImpl& model) override { copy_fold(fold, model, true); }
  void store_fold(int64_t fold, ModelImpl& model) override { copy_fold(fold, model, false); }

 protected:
  // The stacked tensor of the model's parameter or buffer `name` ("merge_bn.running_mean").
  const torch::Tensor& tensor(const std::string& name) const;
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  // The model's Linear `name` per fold on x [N, ..., in] (its bias where it has one).
  torch::Tensor linear(const std::string& name, const torch::Tensor& x) const;
  const std::vector<std::string>& parameter_names() const { return parameter_names_; }
  const std::vector<std::string>& buffer_names() const { return buffer_names_; }

 private:
  void copy_fold(int64_t fold, ModelImpl& model, bool into_stack);

  std::vector<std::string> parameter_names_, buffer_names_;  // the model's names
  std::map<std::string, torch::Tensor> tensors_;               // model name -> stacked
};

// Building blocks of stacked models. Stacked parameters have the fold as their first
// dimension, so that an optimiser can treat each fold's slice as that fold's parameter.
namespace stacked {

// [N * B, C, ...] fold-major -> [B, N * C, ...]: each fold's channels side by side, the layout
// grouped convolutions (groups = N) and per-channel batch norm work on.
torch::Tensor folds_to_channels(const torch::Tensor& x, int64_t folds);
// [B, N * C, ...] -> [N, B, C, ...].
torch::Tensor channels_to_folds(const torch::Tensor& x, int64_t folds);

// Each fold's convolution: x [B, N * Cin, H, W], weight [N, Cout, Cin / groups, kh, kw], bias
// [N, Cout] or undefined; `groups` within each fold as torch::nn::Conv2d's.
torch::Tensor conv2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     int64_t padding, int64_t stride = 1, int64_t groups = 1);

// Batch norm with per-fold statistics over the real samples only (as torch's BatchNorm2d
// in training mode on fold f's batch: biased variance to normalise, unbiased into the
// running variance). x [B, N * C, H, W]; rows: which of each fold's B rows are real; weight,
// bias, running_mean, running_var [N, C]; batches_tracked [N] int64. Running statistics of
// folds without a sample in the batch stay as they are. In eval mode (training false) the
// running statistics normalise.
torch::Tensor batch_norm(const torch::Tensor& x, const FoldRows& rows,
                         const torch::Tensor& weight, const torch::Tensor& bias,
                         const torch::Tensor& running_mean, const torch::Tensor& running_var,
                         const torch::Tensor& batches_tracked, bool training, double momentum = 0.1,
                         double eps = 1e-5);

// Per-fold linear layer: x [N, ..., in], weight [N, out, in], bias [N, out] or undefined ->
// [N, ..., out].
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// Copies `value` into fold f's slice of `stacked` (or the slice into `value`), shapes checked
// (the stack and the per-fold model must come from the same options).
void put(const torch::Tensor& stacked, int64_t fold, const torch::Tensor& value, const std::string& name);
void take(const torch::Tensor& stacked, int64_t fold, const torch::Tensor& value, const std::string& name);

}  // namespace stacked

}  // namespace mer::models
