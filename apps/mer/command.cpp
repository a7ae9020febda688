#include "command.h"

#include "mer/core/error.h"
#include "mer/engine/augment.h"
#include "mer/models/registry.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

namespace mer::cli {

namespace {

// "a, b, c": the registered models for which `has` holds, sorted.
std::string model_names_where(const std::function<bool(const models::ModelSpec&)>& has) {
  std::vector<std::string> names;
  for (const auto* spec : models::model_registry()) {
    if (has(*spec)) names.push_back(spec->name);
  }
  std::sort(names.begin(), names.end());
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

}  // namespace

std::string models_reading_landmarks() {
  return model_names_where([](const models::ModelSpec& spec) {
    return spec.inputs_for(spec.resolve_options({})).landmarks;
  });
}

std::string models_stacking_folds() {
  return model_names_where([](const models::ModelSpec& spec) { return bool(spec.fold_stack); });
}

bool SynthArgs::given() const {
  if (!command) return false;
  for (const char* flag : {"--synth-subjects", "--synth-samples", "--synth-size", "--synth-seed",
                           "--synth-parts"}) {
    if (command->count(flag) > 0) return true;
  }
  return false;
}

const CLI::Validator kFiniteNumber(
    [](std::string& text) -> std::string {
      try {
        size_t used = 0;
        const double value = std::stod(text, &used);
        if (used == text.size() && std::isfinite(value)) return "";
      } catch (const std::exception&) {
      }
      return "'" + text + "' is not a finite number";
    },
    "FINITE");

const CLI::Validator kNonNegativeInteger(
    [](std::string& text) -> std::string {
      const bool digits = !text.empty() && text.size() <= 19 &&
                          std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
      return digits ? "" : "'" + text + "' is not a non-negative integer";
    },
    "UINT");

void add_synth_options(CLI::App* cmd, SynthArgs& synth, const std::string& group) {
  synth.command = cmd;
  cmd->add_option("--synth-subjects", synth.subjects, "synthetic data: number of subjects")
      ->check(CLI::Range(2, 1000))->group(group);
  cmd->add_option("--synth-samples", synth.samples, "synthetic data: samples per subject")
      ->check(CLI::Range(3, 1000))->group(group);
  cmd->add_option("--synth-size", synth.size, "synthetic data: flow map side")
      ->check(CLI::Range(8, 512))->group(group);
  cmd->add_option("--synth-seed", synth.seed, "synthetic data: generator seed")
      ->check(kNonNegativeInteger)->group(group);
  cmd->add_option("--synth-parts", synth.parts,
                  "synthetic data: dataset parts the subjects are spread over (synth1..synthN, "
                  "like the databases of a composite; for loso --group-by dataset)")
      ->check(CLI::Range(1, 1000))->group(group);
}

void add_optimiser_options(CLI::App* cmd, engine::TrainOptions& train,
                           std::vector<std::string>& model_opts, const std::string& group) {
  cmd->add_option("--lr", train.lr, "learning rate (default: the model's)")
      ->check(kFiniteNumber)->check(CLI::PositiveNumber)->group(group);
  cmd->add_option("--batch-size", train.batch_size, "mini-batch size (default: the model's)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->group(group);
  cmd->add_option("--optimizer", train.optimizer, "adam, adamw or sgd (default: the model's)")
      ->check(CLI::IsMember({"adam", "adamw", "sgd"}))->group(group);
  cmd->add_option("--weight-decay", train.weight_decay, "weight decay (default: the model's)")
      ->check(kFiniteNumber)->check(CLI::NonNegativeNumber)->group(group);
  cmd->add_option("--lr-decay", train.lr_decay,
                  "exponential learning-rate decay per epoch, in (0, 1] (default: the model's)")
      ->check(kFiniteNumber)->check(CLI::Range(1e-6, 1.0))->group(group);
  cmd->add_option("--momentum", train.momentum, "SGD momentum")
      ->capture_default_str()->check(kFiniteNumber)->check(CLI::Range(0.0, 0.999999))
      ->group(group);
  cmd->add_option("--class-weights", train.class_weights,
                  "none, or balanced (inverse class frequency of each training set)")
      ->capture_default_str()->check(CLI::IsMember({"none", "balanced"}))->group(group);
  cmd->add_option("--augment", train.augment,
                  "none, or flip: each training sample mirrored left-right with probability 1/2 "
                  "every epoch (flow flipped with u negated, landmarks and crops mirrored); "
                  "predictions are never augmented")
      ->capture_default_str()->check(CLI::IsMember(engine::augment_names()))->group(group);
  cmd->add_option("--model-opt", model_opts,
                  "model-specific option key=value (repeatable; see `mer models MODEL`)")
      ->group(group);
}

std::set<std::string> Command::given_training_settings() const {
  std::set<std::string> given;
  for (const auto& [flag, name] : std::vector<std::pair<const char*, const char*>>{
           {"--lr", "lr"}, {"--batch-size", "batch_size"}, {"--optimizer", "optimizer"},
           {"--weight-decay", "weight_decay"}, {"--lr-decay", "lr_decay"},
           {"--momentum", "momentum"}, {"--class-weights", "class_weights"},
           {"--augment", "augment"}, {"--epochs", "epochs"}}) {
    if (command_->count(flag) > 0) given.insert(name);
  }
  return given;
}

void Command::refuse_momentum_unless_sgd(const std::string& optimizer) const {
  if (command_->count("--momentum") > 0 && optimizer != "sgd") {
    throw ConfigError("--momentum has no effect with --optimizer " + optimizer +
                      " (it applies to --optimizer sgd only)");
  }
}

void Command::refuse_inner_val_flags_unless(const std::string& protocol) const {
  if (protocol == "inner-val") return;
  for (const char* flag : {"--patience", "--val-fraction"}) {
    if (command_->count(flag) > 0) {
      throw ConfigError(std::string(flag) + " has no effect with --protocol " + protocol +
                        " (it applies to --protocol inner-val only)");
    }
  }
}

}  // namespace mer::cli
