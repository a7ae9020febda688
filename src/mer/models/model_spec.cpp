#include "mer/models/model_spec.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "mer/core/error.h"

namespace mer::models {

namespace {

// Shortest decimal text that reads back as exactly `value`, so that "0.5" and "0.50" record
// alike and recorded values rebuild the same model.
std::string shortest_text(double value) {
  char buf[40];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", value);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string range_text(const OptionSpec& o) {
  auto bound = [&](double v) {
    return o.type == OptionType::kFloat ? shortest_text(v)
                                        : std::to_string(static_cast<int64_t>(v));
  };
  const bool low = o.min > -1e299, high = o.max < 1e299;
  if (low && high) return bound(o.min) + ".." + bound(o.max);
  if (low) return ">= " + bound(o.min);
  if (high) return "<= " + bound(o.max);
  return "";
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

[[noreturn]] void bad_value(const OptionSpec& o, const std::string& value, const std::string& why) {
  throw ConfigError("--model-opt " + o.name + "=" + value + ": " + why);
}

double parse_number(const OptionSpec& o, const std::string& text, const std::string& whole) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    bad_value(o, whole, "not a number");
  }
  if (used != text.size()) bad_value(o, whole, "not a number");
  if (!std::isfinite(value)) bad_value(o, whole, "not a finite number");
  if (value < o.min || value > o.max) bad_value(o, whole, "out of range " + range_text(o));
  return value;
}

int64_t parse_integer(const OptionSpec& o, const std::string& text, const std::string& whole) {
  const double value = parse_number(o, text, whole);
  if (value != std::floor(value) || std::fabs(value) > 9e15) bad_value(o, whole, "not an integer");
  return static_cast<int64_t>(value);
}

}  // namespace

OptionSpec int_option(std::string name, int64_t default_value, int64_t min, int64_t max,
                      std::string help, std::string published) {
  OptionSpec o;
  o.name = std::move(name);
  o.type = OptionType::kInt;
  o.default_value = std::to_string(default_value);
  o.min = static_cast<double>(min);
  o.max = static_cast<double>(max);
  o.help = std::move(help);
  o.published = std::move(published);
  return o;
}

OptionSpec float_option(std::string name, double default_value, double min, double max,
                        std::string help, std::string published) {
  OptionSpec o;
  o.name = std::move(name);
  o.type = OptionType::kFloat;
  o.default_value = shortest_text(default_value);
  o.min = min;
  o.max = max;
  o.help = std::move(help);
  o.published = std::move(published);
  return o;
}

OptionSpec bool_option(std::string name, bool default_value, std::string help) {
  OptionSpec o;
  o.name = std::move(name);
  o.type = OptionType::kBool;
  o.default_value = default_value ? "true" : "false";
  o.help = std::move(help);
  return o;
}

OptionSpec choice_option(std::string name, std::string default_value,
                         std::vector<std::string> choices, std::string help,
                         std::string published) {
  OptionSpec o;
  o.name = std::move(name);
  o.type = OptionType::kChoice;
  o.default_value = std::move(default_value);
  o.choices = std::move(choices);
  o.help = std::move(help);
  o.published = std::move(published);
  return o;
}

OptionSpec int_list_option(std::string name, std::vector<int64_t> default_value, int64_t min,
                           int64_t max, std::string help, std::string published) {
  OptionSpec o;
  o.name = std::move(name);
  o.type = OptionType::kIntList;
  std::vector<std::string> parts;
  for (auto v : default_value) parts.push_back(std::to_string(v));
  o.default_value = join(parts, ",");
  o.min = static_cast<double>(min);
  o.max = static_cast<double>(max);
  o.help = std::move(help);
  o.published = std::move(published);
  return o;
}

std::string canonical_option_text(const OptionSpec& o, const std::string& value) {
  switch (o.type) {
    case OptionType::kInt:
      return std::to_string(parse_integer(o, value, value));
    case OptionType::kFloat:
      return shortest_text(parse_number(o, value, value));
    case OptionType::kBool:
      if (value == "1" || value == "true") return "true";
      if (value == "0" || value == "false") return "false";
      bad_value(o, value, "not a boolean (true|false|1|0)");
    case OptionType::kChoice:
      if (std::find(o.choices.begin(), o.choices.end(), value) == o.choices.end()) {
        bad_value(o, value, "use " + join(o.choices, "|"));
      }
      return value;
    case OptionType::kIntList: {
      std::vector<std::string> parts;
      std::stringstream in(value);
      std::string item;
      while (std::getline(in, item, ',')) parts.push_back(std::to_string(parse_integer(o, item, value)));
      if (parts.empty() || value.back() == ',') bad_value(o, value, "expected a comma-separated list of integers");
      return join(parts, ",");
    }
  }
  bad_value(o, value, "unknown option type");
}

const std::string& OptionValues::at(const std::string& name) const {
  auto it = values_.find(name);
  MER_CHECK(it != values_.end(), "model option '" + name + "' is not in the model's table");
  return it->second;
}

int64_t OptionValues::integer(const std::string& name) const { return std::stoll(at(name)); }
double OptionValues::number(const std::string& name) const { return std::stod(at(name)); }
bool OptionValues::flag(const std::string& name) const { return at(name) == "true"; }
const std::string& OptionValues::text(const std::string& name) const { return at(name); }
std::vector<int64_t> OptionValues::int_list(const std::string& name) const {
  std::vector<int64_t> out;
  std::stringstream in(at(name));
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoll(item));
  return out;
}

std::vector<std::string> ModelInputs::names() const {
  std::vector<std::string> out = {"flow"};
  if (apex_crop) out.push_back("apex_crop");
  if (onset_crop) out.push_back("onset_crop");
  if (landmarks) out.push_back("landmarks");
  if (action_units == ActionUnits::kAlways) out.push_back("action_units");
  if (action_units == ActionUnits::kTrainingOnly) out.push_back("action_units_training_only");
  return out;
}

ModelInputs ModelInputs::from_names(const std::vector<std::string>& names) {
  ModelInputs in;
  for (const auto& n : names) {
    if (n == "apex_crop") in.apex_crop = true;
    else if (n == "onset_crop") in.onset_crop = true;
    else if (n == "landmarks") in.landmarks = true;
    else if (n == "action_units") in.action_units = ActionUnits::kAlways;
    else if (n == "action_units_training_only") in.action_units = ActionUnits::kTrainingOnly;
    else if (n != "flow") throw ConfigError("unknown model input '" + n + "'");
  }
  return in;
}

namespace {
const std::vector<std::pair<ExplanationKind, const char*>> kKindNames = {
    {ExplanationKind::kClassSpatialMaps, "class_spatial_maps"},
    {ExplanationKind::kClassScores, "class_scores"},
    {ExplanationKind::kSpatialMap, "spatial_map"},
    {ExplanationKind::kRegionWeights, "region_weights"},
    {ExplanationKind::kRegionBoxes, "region_boxes"},
    {ExplanationKind::kComponentStrengths, "component_strengths"},
    {ExplanationKind::kRelationMatrix, "relation_matrix"},
    {ExplanationKind::kLandmarks, "landmarks"},
    {ExplanationKind::kRowProfile, "row_profile"},
    {ExplanationKind::kActionUnitProbabilities, "action_unit_probabilities"},
};
}  // namespace

std::string explanation_kind_name(ExplanationKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "?";
}

ExplanationKind parse_explanation_kind(const std::string& name) {
  for (const auto& [k, n] : kKindNames) {
    if (name == n) return k;
  }
  throw ConfigError("unknown explanation kind '" + name + "'");
}

const OptionSpec* ModelSpec::find_option(const std::string& key) const {
  for (const auto& o : options) {
    if (o.name == key) return &o;
  }
  return nullptr;
}

OptionValues ModelSpec::resolve_options(const std::map<std::string, std::string>& given) const {
  std::map<std::string, std::string> values;
  for (const auto& [key, value] : given) {
    const auto* o = find_option(key);
    if (!o) {
      std::vector<std::string> known;
      for (const auto& k : options) known.push_back(k.name);
      throw ConfigError("--model-opt " + key + ": unknown option for model '" + name +
                        "' (known: " + (known.empty() ? "none" : join(known, ", ")) + ")");
    }
    values[key] = canonical_option_text(*o, value);
  }
  for (const auto& o : options) {
    if (!values.count(o.name)) values[o.name] = o.default_value;
  }
  return OptionValues(std::move(values));
}

OptionValues ModelSpec::resolve_recorded(std::map<std::string, std::string> recorded,
                                         int recorded_version) const {
  if (recorded_version > version) {
    throw ConfigError("model '" + name + "' was recorded with option table version " +
                      std::to_string(recorded_version) + ", newer than this mer's " +
                      std::to_string(version) + " (update mer)");
  }
  if (migrate && recorded_version < version) migrate(recorded, recorded_version);
  return resolve_options(recorded);
}

ModelInputs ModelSpec::inputs_for(const OptionValues& values) const {
  return inputs ? inputs(values) : ModelInputs{};
}

const ExplanationSpec* ModelSpec::find_explanation(const std::string& key) const {
  for (const auto& e : explanations) {
    if (e.name == key) return &e;
  }
  return nullptr;
}

nlohmann::json ModelSpec::to_json() const {
  static const char* kTypes[] = {"int", "float", "bool", "choice", "int_list"};
  nlohmann::json opts = nlohmann::json::array();
  for (const auto& o : options) {
    nlohmann::json j = {{"name", o.name},
                        {"type", kTypes[static_cast<int>(o.type)]},
                        {"default", o.default_value},
                        {"help", o.help}};
    if (!o.choices.empty()) j["choices"] = o.choices;
    if (o.type != OptionType::kBool && o.type != OptionType::kChoice) {
      if (o.min > -1e299) j["min"] = o.min;
      if (o.max < 1e299) j["max"] = o.max;
    }
    if (!o.published.empty()) j["published"] = o.published;
    opts.push_back(j);
  }
  nlohmann::json expl = nlohmann::json::array();
  for (const auto& e : explanations) {
    expl.push_back({{"name", e.name}, {"kind", explanation_kind_name(e.kind)},
                    {"description", e.description}});
  }
  const auto& t = training;
  return {{"name", name},
          {"summary", summary},
          {"version", version},
          {"options", opts},
          {"training",
           {{"epochs", t.epochs}, {"synthetic_epochs", t.synthetic_epochs}, {"lr", t.lr},
            {"batch_size", t.batch_size}, {"optimizer", t.optimizer},
            {"weight_decay", t.weight_decay}, {"lr_decay", t.lr_decay}}},
          {"inputs_with_defaults", inputs_for(resolve_options({})).names()},
          {"explanations", expl},
          {"fused_cpu_kernel", static_cast<bool>(fused_cpu_kernel)}};
}

std::vector<std::string> ModelSpec::option_help_lines() const {
  std::vector<std::string> lines;
  for (const auto& o : options) {
    std::string line = o.name + "=" + o.default_value;
    std::string detail;
    if (o.type == OptionType::kChoice) detail = join(o.choices, "|");
    else if (o.type == OptionType::kBool) detail = "true|false";
    else detail = range_text(o);
    if (!detail.empty()) line += " (" + detail + ")";
    if (!o.published.empty()) line += " [published " + o.published + "]";
    line += ": " + o.help;
    lines.push_back(line);
  }
  return lines;
}

}  // namespace mer::models
