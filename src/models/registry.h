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
};

const std::vector<ModelInfo>& model_registry();
// Throws ConfigError listing the known names if `name` is not registered.
const ModelInfo& find_model(const std::string& name);
ModelPtr make_model(const std::string& name, const ModelConfig& config);

}  // namespace mer::models
