#include "mer/interop/weights_exchange.h"

#include <filesystem>

#include "mer/core/atomic_file.h"
#include "mer/core/error.h"
#include "mer/data/dataset.h"
#include "mer/engine/checkpoint.h"
#include "mer/engine/explain.h"
#include "mer/interop/state_dict.h"
#include "mer/interop/torch_file.h"
#include "mer/models/registry.h"

namespace mer::interop {

namespace {

// Like `mer train --out`, an output may go into a folder that does not exist yet.
void make_parent_folder(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  std::error_code error;
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  if (error) throw IoError(parent.string() + ": cannot create the folder (" + error.message() + ")");
}

}  // namespace

ExportSummary export_checkpoint_weights(const std::string& checkpoint_path,
                                        const std::string& out_path) {
  const auto checkpoint = engine::load_checkpoint(checkpoint_path);
  const auto weights = state_dict_of(*checkpoint.model);
  make_parent_folder(out_path);
  write_torch_state_dict(out_path, weights);
  ExportSummary summary;
  summary.model = checkpoint.meta.at("model").get<std::string>();
  summary.tensors = static_cast<int64_t>(weights.size());
  for (const auto& [name, tensor] : weights) summary.values += tensor.numel();
  return summary;
}

ImportSummary import_weights(const ImportOptions& options, const std::string& checkpoint_path) {
  const auto& spec = models::find_model(options.model);
  const auto class_names =
      options.class_names.empty() ? data::megc2019_class_names() : options.class_names;
  if (class_names.size() < 2) throw ConfigError("--classes: give at least two class names");
  if (options.input_size < 8) throw ConfigError("--input-size must be at least 8");
  if (options.crop_side < 0) throw ConfigError("--crop-side must not be negative");

  models::DataTraits traits;
  traits.faces = traits.onsets = options.crop_side > 0;
  traits.aus = true;  // an AU-reading model is refused at prediction time without --aus instead
  ImportSummary summary;
  const auto resolved =
      models::resolve_model_options(options.model, options.model_options, traits, &summary.options_line);
  const auto values = spec.resolve_options(resolved);
  const auto inputs = spec.inputs_for(values);
  if (inputs.crops() && options.crop_side == 0) {
    throw ConfigError(options.model + " with these options reads face crops: give --crop-side "
                      "(the side of the crops it was trained on)");
  }
  const auto num_classes = static_cast<int64_t>(class_names.size());
  auto model = spec.make(num_classes, options.input_size, values);

  const auto weights = read_torch_state_dict(options.weights);
  load_state_dict(*model, weights, options.weights,
                  "the model " + options.model + " (" + std::to_string(num_classes) +
                      " classes, input " + std::to_string(options.input_size) + ")");
  model->eval();

  nlohmann::json given = nlohmann::json::object();
  for (const auto& [key, value] : options.model_options) given[key] = value;
  summary.meta = {{"model", options.model},
                  {"model_options", values.map()},
                  {"model_spec_version", spec.version},
                  {"inputs", inputs.names()},
                  {"explanations", engine::explanation_schema(spec)},
                  {"data", "not known (weights imported)"},
                  {"preprocessing", "not known"},
                  {"num_classes", num_classes},
                  {"input_size", options.input_size},
                  {"class_names", class_names},
                  {"fold", "imported"},
                  {"protocol", "not known"},
                  {"imported_from",
                   {{"file", std::filesystem::path(options.weights).filename().string()},
                    {"file_hash", engine::file_hash(options.weights)},
                    {"model_options_given", given},
                    {"class_names_given", !options.class_names.empty()},
                    {"input_size", options.input_size},
                    {"crop_side", options.crop_side}}}};
  if (inputs.crops()) summary.meta["crop_side"] = options.crop_side;
  make_parent_folder(checkpoint_path);
  engine::save_checkpoint(checkpoint_path, model, summary.meta);
  return summary;
}

}  // namespace mer::interop
