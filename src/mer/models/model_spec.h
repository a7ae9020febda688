#pragma once
// The contract of a model: everything a trainer, a predictor, a figure, a report or a
// binding needs to know about it, declared once in the model's own source file
// (MER_MODEL_SPEC) and read by every consumer instead of guessing:
//   - its options (name, type, default, range, help): parsing, unknown-key rejection,
//     `mer models` help and the JSON recorded with runs and checkpoints all come from here;
//   - the inputs it reads, as a function of its options (flow, apex crop, onset crop,
//     landmarks, AU vectors);
//   - the training settings it was designed for;
//   - its explanations, each with a kind that says how to draw it;
//   - capabilities (a fused CPU training kernel).
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mer/models/model.h"

namespace mer::models {

class FoldStack;  // models/fold_stack.h

// ---- Options -------------------------------------------------------------------------------

enum class OptionType { kInt, kFloat, kBool, kChoice, kIntList };

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::kFloat;
  // Canonical text of the default (see canonical_option_text). A choice may default to a
  // value resolved from the data ("auto"): ModelSpec::fit_to_data replaces it.
  std::string default_value;
  std::string help;
  std::vector<std::string> choices;  // kChoice: the accepted values
  double min = -1e300, max = 1e300;  // kInt, kFloat, kIntList elements: inclusive range
  std::string published;             // the paper's value where mer's default differs, or ""
};

OptionSpec int_option(std::string name, int64_t default_value, int64_t min, int64_t max,
                      std::string help, std::string published = "");
OptionSpec float_option(std::string name, double default_value, double min, double max,
                        std::string help, std::string published = "");
OptionSpec bool_option(std::string name, bool default_value, std::string help);
OptionSpec choice_option(std::string name, std::string default_value,
                         std::vector<std::string> choices, std::string help,
                         std::string published = "");
OptionSpec int_list_option(std::string name, std::vector<int64_t> default_value, int64_t min,
                           int64_t max, std::string help, std::string published = "");

// Resolved option values: every key of the model's table, in canonical text, with typed
// access. Built by ModelSpec::resolve_options; a model's factory reads it.
class OptionValues {
 public:
  OptionValues() = default;
  explicit OptionValues(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  int64_t integer(const std::string& name) const;
  double number(const std::string& name) const;
  bool flag(const std::string& name) const;
  const std::string& text(const std::string& name) const;
  std::vector<int64_t> int_list(const std::string& name) const;
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  const std::map<std::string, std::string>& map() const { return values_; }

 private:
  const std::string& at(const std::string& name) const;
  std::map<std::string, std::string> values_;
};

// The canonical text of `value` for an option of `spec`: numbers in their shortest exact
// form ("0.50" -> "0.5"), booleans as true/false, lists without spaces. Throws ConfigError
// "--model-opt key=value: ..." when the value is not of the option's type, outside its
// range or not one of its choices.
std::string canonical_option_text(const OptionSpec& spec, const std::string& value);

// ---- Inputs --------------------------------------------------------------------------------

// What a model reads from a sample besides the flow map, which every model reads.
struct ModelInputs {
  bool apex_crop = false;   // Batch::face: the aligned apex (face) crop
  bool onset_crop = false;  // Batch::onset: the aligned onset crop
  bool landmarks = false;   // Batch::landmarks: the sample's 68 landmarks in flow pixels
  // Batch::aus: the AU vector, as a training target only (predicted AUs) or also as an input
  // at inference (oracle AUs: a predictor must be given them).
  enum class ActionUnits { kNone, kTrainingOnly, kAlways };
  ActionUnits action_units = ActionUnits::kNone;

  bool crops() const { return apex_crop || onset_crop; }
  // ["flow", "apex_crop", ...]: what checkpoints record.
  std::vector<std::string> names() const;
  static ModelInputs from_names(const std::vector<std::string>& names);
};

// What a dataset offers beyond the flow maps (data::Dataset's optional tensors).
struct DataTraits {
  bool faces = false;   // face / apex crops
  bool onsets = false;  // onset crops
  bool aus = false;     // ground-truth AU vectors
};

// ---- Explanations --------------------------------------------------------------------------

// How an explanation tensor (Output::explain, one sample) is read and drawn.
enum class ExplanationKind {
  kClassSpatialMaps,  // [K, h, w] one map over the face per class (e.g. per-class attention)
  kClassScores,       // [K] one value per class (e.g. a branch's proposal probability)
  kSpatialMap,        // [h, w] one map over the face
  kRegionWeights,     // [R] one value per face region; the boxes are the kRegionBoxes entry
  kRegionBoxes,       // [R, 4] (x0, y0, x1, y1) in flow-map pixels
  kComponentStrengths,  // [C] one value per facial component (explain_info "components")
  kRelationMatrix,    // [C, C] relation of component row <- column
  kLandmarks,         // [68, 2] (x, y) flow-map pixels: the points the model used
  kRowProfile,        // [H] one value per row of the face (top to bottom)
  kActionUnitProbabilities,  // [21] probability per AU, data/action_units.h order
};
std::string explanation_kind_name(ExplanationKind kind);
ExplanationKind parse_explanation_kind(const std::string& name);  // throws ConfigError

struct ExplanationSpec {
  std::string name;  // key in Output::explain
  ExplanationKind kind;
  std::string description;  // one line: what the values mean, with their unit or range
  std::string unit = "";    // a few words for a colour bar or an axis ("weight", "px")
};

// ---- Training defaults and capabilities ----------------------------------------------------

// Training settings a model was designed for; `mer loso` (engine::resolve_training) uses
// them for every setting the user does not give.
struct TrainingDefaults {
  int64_t epochs = 500;            // on prepared (real) data
  int64_t synthetic_epochs = 200;  // on the small built-in synthetic set
  double lr = 5e-5;
  int64_t batch_size = 256;
  std::string optimizer = "adam";
  double weight_decay = 0.0;
  double lr_decay = 1.0;  // learning rate times this after every epoch
};

// A single-threaded CPU training kernel a model may offer besides its LibTorch module (much
// faster for tiny networks; engine/trainer.cpp uses it under --backend auto|fused). It trains
// the parameters of the module it was made from, in place, through their .grad tensors.
class FusedCpuKernel {
 public:
  virtual ~FusedCpuKernel() = default;
  // Dropout probability and the number of dropout scale floats per sample (0: no dropout).
  virtual float dropout() const = 0;
  virtual int64_t dropout_floats_per_sample() const = 0;
  // Forward + backward of n samples ([n, 3, S, S] float, labels in [0, K)); fills the
  // parameters' gradients and returns the mean (or class-weighted) cross-entropy. `correct`
  // (when not null) is increased by the samples whose training-mode logits peak at the label.
  virtual float train_step(const float* inputs, const int64_t* labels, int64_t n,
                           const float* dropout_scale, const float* class_weights,
                           int64_t* correct) = 0;
  // Logits [n, K] of n samples, eval mode.
  virtual void predict(const float* inputs, int64_t n, float* logits) = 0;
};

// What a factory gets: the data's shape and the resolved options.
struct ModelConfig {
  int64_t num_classes = 3;
  int64_t input_size = 28;
  // Option values as key=value text (--model-opt); make_model resolves them against the
  // model's table (defaults filled, unknown keys rejected).
  std::map<std::string, std::string> options;
};

struct ModelSpec {
  std::string name;     // what --model takes
  std::string summary;  // one line for `mer models`
  // Version of the option table and its defaults; recorded with runs and checkpoints. Raise
  // it when a default changes and say in `migrate` what older records meant.
  int version = 1;
  std::vector<OptionSpec> options;
  TrainingDefaults training;
  // The inputs the model reads with these (resolved) options. Absent: the flow map only.
  std::function<ModelInputs(const OptionValues&)> inputs;
  std::vector<ExplanationSpec> explanations;
  std::function<ModelPtr(int64_t num_classes, int64_t input_size, const OptionValues&)> make;
  // Replaces data-dependent values ("auto") for the data at hand and throws ConfigError when
  // the data lacks what the options ask for. Returns one line for the user saying what was
  // chosen ("" if nothing to say). Absent: nothing depends on the data.
  std::function<std::string(std::map<std::string, std::string>& options, const DataTraits&)>
      fit_to_data;
  // Options recorded at an older `recorded_version` (0 = before versions were recorded) ->
  // what they meant: fills keys whose default has changed since. Absent: nothing changed.
  std::function<void(std::map<std::string, std::string>& options, int recorded_version)> migrate;
  // Options that make the same architecture small enough to train in seconds on a CPU, for
  // smoke checks (the test suite's every-model tests); empty when the defaults already are.
  std::map<std::string, std::string> smoke_options;
  // The fused CPU kernel for a module made by `make`, or absent when the model has none.
  std::function<std::unique_ptr<FusedCpuKernel>(ModelImpl& module)> fused_cpu_kernel;
  // The model with the parameters of `folds` folds stacked, for training them as one
  // computation (models/fold_stack.h), or absent when the model has no stacked form.
  std::function<std::shared_ptr<FoldStack>(int64_t num_classes, int64_t input_size,
                                           const OptionValues&, int64_t folds)>
      fold_stack;

  const OptionSpec* find_option(const std::string& key) const;
  // `given` (user text) -> every option of the table in canonical text, defaults filled.
  // Throws ConfigError on an unknown key (listing the known ones) or a bad value.
  OptionValues resolve_options(const std::map<std::string, std::string>& given) const;
  // Options recorded with a run or checkpoint of `recorded_version` -> the full resolved
  // options they stand for (migrate, then resolve_options).
  OptionValues resolve_recorded(std::map<std::string, std::string> recorded,
                                int recorded_version) const;
  ModelInputs inputs_for(const OptionValues& values) const;
  const ExplanationSpec* find_explanation(const std::string& name) const;
  // {"name", "version", "options": [{name, type, default, help, ...}], "training": {...},
  //  "explanations": [{name, kind, description}]}: `mer models --json`, bindings, reports.
  nlohmann::json to_json() const;
  // "key=default (range or choices) [published]: help" lines for --model-opt.
  std::vector<std::string> option_help_lines() const;
};

}  // namespace mer::models
