#include "mer/models/registry.h"

#include "mer/core/error.h"
#include "mer/models/registered_models.h"  // generated: the mer_add_model(...) list

namespace mer::models {

const std::vector<const ModelSpec*>& model_registry() {
  static const std::vector<const ModelSpec*> registry = registered_model_specs();
  return registry;
}

const ModelSpec& find_model(const std::string& name) {
  for (const auto* spec : model_registry()) {
    if (spec->name == name) return *spec;
  }
  std::string known;
  for (const auto* spec : model_registry()) known += (known.empty() ? "" : ", ") + spec->name;
  throw ConfigError("unknown model '" + name + "' (known: " + known + "; see `mer models`)");
}

ModelPtr make_model(const std::string& name, const ModelConfig& config) {
  const auto& spec = find_model(name);
  return spec.make(config.num_classes, config.input_size, spec.resolve_options(config.options));
}

std::string fit_model_to_data(const std::string& name, std::map<std::string, std::string>& options,
                              const DataTraits& traits) {
  const auto& spec = find_model(name);
  spec.resolve_options(options);  // unknown keys and bad values first, named as the user wrote them
  return spec.fit_to_data ? spec.fit_to_data(options, traits) : std::string();
}

std::map<std::string, std::string> resolve_model_options(
    const std::string& name, const std::map<std::string, std::string>& given,
    const DataTraits& traits, std::string* message) {
  auto options = given;
  const auto line = fit_model_to_data(name, options, traits);
  if (message) *message = line;
  return find_model(name).resolve_options(options).map();
}

std::map<std::string, std::string> recorded_model_options(const std::string& name,
                                                          const nlohmann::json& record) {
  std::map<std::string, std::string> recorded;
  if (record.contains("model_options") && record["model_options"].is_object()) {
    for (const auto& [key, value] : record["model_options"].items()) {
      recorded[key] = value.is_string() ? value.get<std::string>() : value.dump();
    }
  }
  const int version = record.value("model_spec_version", 0);
  return find_model(name).resolve_recorded(std::move(recorded), version).map();
}

}  // namespace mer::models
