#pragma once
// The model registry: every method mer implements, by the name the CLI takes (--model).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/model.h"

namespace mer::models {

// What a model factory needs to know about the data, plus model-specific options given as
// key=value strings (--model-opt); a factory rejects keys it does not know.
struct ModelConfig {
  int64_t num_classes = 3;
  int64_t input_size = 28;
  std::map<std::string, std::string> options;
};

// Training settings a model was designed for; the CLI uses them for every flag the user does
// not give, and says so. (STSTNet's tiny network wants 500 epochs at lr 5e-5 on raw 0..255
// input; larger models converge in far fewer epochs at a higher rate.)
struct TrainingDefaults {
  int64_t epochs = 500;            // on prepared (real) data
  int64_t synthetic_epochs = 200;  // on the small built-in synthetic set
  double lr = 5e-5;
  int64_t batch_size = 256;
  std::string optimizer = "adam";
  double weight_decay = 0.0;
  double lr_decay = 1.0;  // learning rate times this after every epoch
};

// What a dataset offers beyond the flow maps (data::Dataset's optional tensors).
struct DataTraits {
  bool faces = false;   // face / apex crops
  bool onsets = false;  // onset crops
  bool aus = false;     // ground-truth AU vectors
};

struct ModelInfo {
  std::string name;
  std::string summary;  // one line for `mer models`
  std::string options_help;  // "key=default: meaning; ..." for --model-opt
  std::function<ModelPtr(const ModelConfig&)> make;
  TrainingDefaults training;
  // The model reads Batch::landmarks (runs record the landmarks' checksum, and re-evaluation
  // needs the same landmarks).
  bool uses_landmarks = false;
  // Whether the model looks at the face crops (then the CLI reads them: data::PreparedReadOptions).
  bool uses_crops = false;
  // Completes the --model-opt options for the data (e.g. picks a stand-in input on flow-only
  // data) so that the options recorded with a run say what was used, and throws ConfigError
  // when the data lacks what the options ask for. Returns one line for the user saying what
  // was chosen ("" if nothing to say). Absent for models that need nothing but flows.
  std::function<std::string(std::map<std::string, std::string>&, const DataTraits&)> fit_to_data;
};

const std::vector<ModelInfo>& model_registry();
// Throws ConfigError listing the known names if `name` is not registered.
const ModelInfo& find_model(const std::string& name);
ModelPtr make_model(const std::string& name, const ModelConfig& config);
// find_model(name).fit_to_data(options, traits), or "" when the model has none.
std::string fit_model_to_data(const std::string& name, std::map<std::string, std::string>& options,
                              const DataTraits& traits);

}  // namespace mer::models
