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

struct ModelInfo {
  std::string name;
  std::string summary;  // one line for `mer models`
  std::string options_help;  // "key=default: meaning; ..." for --model-opt
  std::function<ModelPtr(const ModelConfig&)> make;
};

const std::vector<ModelInfo>& model_registry();
// Throws ConfigError listing the known names if `name` is not registered.
const ModelInfo& find_model(const std::string& name);
ModelPtr make_model(const std::string& name, const ModelConfig& config);

}  // namespace mer::models
