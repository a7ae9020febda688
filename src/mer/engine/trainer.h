#pragma once
// Training and evaluation of one LOSO fold under a named protocol.
//
// Honesty: the test subject's samples are used only to produce the fold's predictions. Under
// `honest` (default) the model of the last epoch is evaluated; under `inner-val` the epoch
// is chosen on validation subjects drawn from the training subjects; only the explicitly
// named `oracle` protocol looks at the test subject during training (best test accuracy
// over epochs, as many published repositories do) and every output says so.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "mer/data/dataset.h"
#include "mer/engine/folds.h"
#include "mer/models/model.h"
#include "mer/models/registry.h"

namespace mer::engine {

enum class Protocol { kHonest, kInnerVal, kOracle };
std::string protocol_name(Protocol protocol);
Protocol parse_protocol(const std::string& name);  // throws ConfigError
// One sentence for every output file and table: how the reported epoch was chosen.
std::string protocol_note(Protocol protocol);

struct TrainOptions {
  std::string model = models::kDefaultModel;
  std::map<std::string, std::string> model_options;  // --model-opt key=value
  int64_t epochs = 500;
  double lr = 5e-5;              // STSTNet's value for raw 0..255 input
  int64_t batch_size = 256;
  std::string optimizer = "adam";  // adam | adamw | sgd
  double weight_decay = 0.0;
  double lr_decay = 1.0;           // learning rate times this after every epoch (1 = constant)
  double momentum = 0.9;           // sgd only
  uint64_t seed = 1;
  std::string class_weights = "none";  // none | balanced (inverse class frequency of the fold)
  Protocol protocol = Protocol::kHonest;
  double validation_fraction = 0.15;  // inner-val: share of training subjects held out
  int64_t patience = 0;  // inner-val: stop after this many epochs without improvement; 0 = never
  // What a fold holds out: one subject (LOSO, the default) or one dataset part (leave one
  // database out). Inner validation holds out training subjects either way.
  Grouping group_by = Grouping::kSubject;
  // auto: the fused single-threaded CPU kernel where the model has one (STSTNet), else torch.
  std::string backend = "auto";  // auto | fused | torch
  std::string device = "cpu";    // cpu | cuda
  // Folds trained as one computation (engine/fold_batch_trainer.h): 0 = auto (every fold of
  // the run at once on cuda where the model has its own batched stacked form, else one at a
  // time), 1 = fold by fold, N > 1 = groups of N (every model).
  int64_t fold_batch = 0;
  // fp32 | tf32 (cuda) | bf16 mixed precision (engine/precision.h); not fp32 trains the
  // LibTorch module (no fused kernel).
  std::string precision = "fp32";
  // Training-sample augmentation (engine/augment.h): none | flip (left-right mirroring);
  // not none trains the LibTorch module (no fused kernel).
  std::string augment = "none";
  void validate() const;         // throws ConfigError
};

// Whether the folds of a run with these options train stacked (fold_batch resolved).
bool stacks_folds(const TrainOptions& options);

// Which backend a run will use for these options ("fused" or "torch").
std::string resolve_backend(const TrainOptions& options);

struct FoldOutcome {
  std::string key;
  std::vector<int64_t> samples;      // dataset indices of the test subject
  std::vector<int64_t> predictions;  // reported predictions (see protocol)
  std::vector<std::vector<float>> probabilities;  // [sample][class] of the reported model
  std::vector<int64_t> last_epoch_predictions;    // always the last epoch's model
  // [sample][class] of the last epoch's model when it is not the reported one (oracle and
  // inner-val protocols; empty under honest): an oracle run's honest half, which
  // `mer ensemble --last-epoch` averages.
  std::vector<std::vector<float>> last_epoch_probabilities;
  int64_t epoch_used = 0;                         // 1-based epoch of the reported model
  int64_t epochs_run = 0;
  std::vector<double> train_loss;      // mean training loss per epoch
  std::vector<double> train_accuracy;  // training accuracy per epoch (training-mode forward)
  std::vector<double> selection_score;  // per epoch: val UF1 (inner-val) or test acc (oracle)
  double seconds = 0;
};

// Trains one fold from scratch. `on_epoch(epoch)` is called after each epoch (progress).
// Thread-safety: distinct FoldTrainers may run concurrently with the fused backend; the
// torch backend uses the global torch RNG (dropout), so run its folds one at a time.
class FoldTrainer {
 public:
  FoldTrainer(const data::Dataset& dataset, TrainOptions options);
  // Returns the outcome; `model` receives the reported model (for the checkpoint).
  FoldOutcome run(const Fold& fold, models::ModelPtr& model,
                  const std::function<void(int64_t)>& on_epoch = {}) const;

 private:
  const data::Dataset& dataset_;
  TrainOptions options_;
};

// Builds a model for the dataset with a deterministic initialisation (seeded per fold;
// serialised internally so concurrent calls stay deterministic).
models::ModelPtr make_seeded_model(const TrainOptions& options, const data::Dataset& dataset,
                                   uint64_t init_seed);

}  // namespace mer::engine
