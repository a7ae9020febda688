#include "models/registry.h"

#include "core/error.h"
#include "models/ststnet.h"

namespace mer::models {

namespace {

double option_double(const ModelConfig& config, const std::string& key, double fallback) {
  auto it = config.options.find(key);
  if (it == config.options.end()) return fallback;
  try {
    size_t used = 0;
    const double value = std::stod(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument("trailing characters");
    return value;
  } catch (const std::exception&) {
    throw ConfigError("--model-opt " + key + "=" + it->second + ": not a number");
  }
}

void reject_unknown(const ModelConfig& config, const std::string& model,
                    const std::vector<std::string>& known) {
  for (const auto& [key, value] : config.options) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw ConfigError("--model-opt " + key + ": unknown option for model '" + model +
                        "' (known: " + (list.empty() ? "none" : list) + ")");
    }
  }
}

ModelPtr make_ststnet(const ModelConfig& config) {
  reject_unknown(config, "ststnet", {"dropout"});
  STSTNetOptions options;
  options.num_classes(config.num_classes)
      .input_size(config.input_size)
      .dropout(option_double(config, "dropout", options.dropout()));
  return std::make_shared<STSTNetImpl>(options);
}

}  // namespace

const std::vector<ModelInfo>& model_registry() {
  static const std::vector<ModelInfo> registry = {
      {"ststnet",
       "STSTNet (Liong et al. 2019): three shallow conv streams over (u, v, strain); the "
       "reference baseline",
       "dropout=0.5: dropout after each stream's max-pool", make_ststnet},
  };
  return registry;
}

const ModelInfo& find_model(const std::string& name) {
  for (const auto& info : model_registry()) {
    if (info.name == name) return info;
  }
  std::string known;
  for (const auto& info : model_registry()) known += (known.empty() ? "" : ", ") + info.name;
  throw ConfigError("unknown model '" + name + "' (known: " + known + "; see `mer models`)");
}

ModelPtr make_model(const std::string& name, const ModelConfig& config) {
  return find_model(name).make(config);
}

}  // namespace mer::models
