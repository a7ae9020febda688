#pragma once
// Opening the data a command works on, the one way every entry point does it (CLI, C++ and
// Python users): a prepared folder, its `mer cache` file, or the built-in synthetic set, with
// what results must record about it (a label, the landmarks' source, how it was prepared).
// Also the training settings a run uses when the user gives none (the model's own).
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "mer/data/dataset.h"
#include "mer/data/synthetic.h"
#include "mer/engine/trainer.h"

namespace mer::engine {

struct DataSourceOptions {
  // A prepared folder (labels.csv + files), a dataset cache file (.pt), or "" for the
  // built-in synthetic set.
  TORCH_ARG(std::string, path) = "";
  // A landmarks file for a folder (default: DIR/landmarks.csv when present).
  TORCH_ARG(std::string, landmarks) = "";
  // Only these dataset parts (e.g. {"casme2"} of the MEGC2019 composite); empty = all.
  TORCH_ARG(std::vector<std::string>, parts) = {};
  // Also decode the face and onset crops of a folder (for models that read them).
  TORCH_ARG(bool, crops) = false;
  // The synthetic set's shape when `path` is empty.
  TORCH_ARG(data::SyntheticOptions, synthetic) = data::SyntheticOptions();
  // Whether the caller set synthetic options explicitly: refused with a `path`, where they
  // would have no effect.
  TORCH_ARG(bool, synthetic_given) = false;
};

struct OpenedData {
  data::Dataset dataset;
  bool synthetic = false;
  std::string label;            // the path (with " (parts a,b)"), or "synthetic(subjects=...)"
  std::string landmarks_label;  // where the landmarks came from
  // The prepared folder's manifest.json (how its clips were prepared), or null when not known
  // (a cache, the MEGC2019 composite, the synthetic set).
  nlohmann::json preprocessing;
};

// Throws ConfigError for combinations that would be silently ignored (landmarks with a cache
// or the synthetic set, parts or synthetic options with the other kind of source) and
// DataError naming the file for unreadable data.
OpenedData open_dataset(const DataSourceOptions& options);

// "synthetic(subjects=16,samples=15,size=28,seed=1)": how results name the synthetic set.
std::string synthetic_label(const data::SyntheticOptions& options);

// Fills every training setting not in `given` (names of TrainOptions fields as flags:
// "lr", "batch_size", "optimizer", "weight_decay", "lr_decay", "epochs") with the model's
// defaults (models::TrainingDefaults; its synthetic epoch count on the synthetic set).
void apply_training_defaults(TrainOptions& options, const std::set<std::string>& given,
                             bool synthetic);

// Whether `model` with these user options reads face or onset crops on data that has them
// (then the data is opened with its crops: DataSourceOptions::crops). Throws ConfigError for
// unknown options.
bool may_read_crops(const std::string& model, const std::map<std::string, std::string>& options);

// "key=value" (--model-opt) -> options[key] = value. Throws ConfigError on a malformed item
// or a key given twice.
void parse_model_option(const std::string& item, std::map<std::string, std::string>& options);

}  // namespace mer::engine
