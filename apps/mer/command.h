#pragma once
// One `mer` subcommand: registers its options on the app in its constructor, runs the
// library when parsed. Each subcommand lives in its own cmd_*.{h,cpp} pair and only turns
// options into the library's option structs and results into text.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "mer/data/synthetic.h"
#include "mer/engine/trainer.h"

namespace mer::cli {

class Command {
 public:
  virtual ~Command() = default;
  bool parsed() const { return command_ != nullptr && command_->parsed(); }
  // Returns the exit code; errors throw mer::Error (main prints them as one line).
  virtual int run() = 0;

 protected:
  // Refuses --patience and --val-fraction unless `protocol` is inner-val: they would change
  // nothing, and a user must never believe a setting took effect.
  void refuse_inner_val_flags_unless(const std::string& protocol) const;
  // Refuses --momentum unless `optimizer` is sgd, for the same reason.
  void refuse_momentum_unless_sgd(const std::string& optimizer) const;
  // The training settings given on the command line (add_optimiser_options' flags and
  // --epochs), by their names in run.json and in a search space: lr, batch_size, optimizer,
  // weight_decay, lr_decay, momentum, class_weights, augment, epochs.
  std::set<std::string> given_training_settings() const;

  CLI::App* command_ = nullptr;
};

// --synth-* options: the shape of the built-in synthetic set.
struct SynthArgs {
  int64_t subjects = 16, samples = 15, size = 28, parts = 1;
  uint64_t seed = 1;
  CLI::App* command = nullptr;
  data::SyntheticOptions options() const {
    return data::SyntheticOptions().subjects(subjects).samples_per_subject(samples).flow_size(size).seed(seed).parts(parts);
  }
  // Whether any --synth-* option was given (refused with --data, where it has no effect).
  bool given() const;
};
void add_synth_options(CLI::App* cmd, SynthArgs& synth, const std::string& group);

// The optimiser settings of loso, train and tune: --lr, --batch-size, --optimizer,
// --weight-decay, --lr-decay (each the model's by default), --momentum, --class-weights and
// the repeatable --model-opt key=value (into `model_opts`).
void add_optimiser_options(CLI::App* cmd, engine::TrainOptions& train,
                           std::vector<std::string>& model_opts, const std::string& group);

// The registered models whose default inputs include landmarks ("dere-grl, htnet, rrrn"), for
// help texts that name them.
std::string models_reading_landmarks();
// The models with their own batched fold-stacked form (`--fold-batch`), for help texts.
std::string models_stacking_folds();

// Validators for numbers CLI11's own checks let through: NaN and infinities pass its range
// checks (every comparison with NaN is false), and "-1" wraps to 2^64-1 in an unsigned option.
extern const CLI::Validator kFiniteNumber;
extern const CLI::Validator kNonNegativeInteger;

}  // namespace mer::cli
