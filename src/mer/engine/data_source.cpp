#include "mer/engine/data_source.h"

#include <filesystem>
#include <fstream>

#include "mer/core/error.h"
#include "mer/data/dataset_cache.h"
#include "mer/data/landmarks_io.h"
#include "mer/data/prepared_io.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::engine {

std::string synthetic_label(const data::SyntheticOptions& o) {
  return "synthetic(subjects=" + std::to_string(o.subjects()) +
         ",samples=" + std::to_string(o.samples_per_subject()) +
         ",size=" + std::to_string(o.flow_size()) + ",seed=" + std::to_string(o.seed()) +
         (o.parts() > 1 ? ",parts=" + std::to_string(o.parts()) : std::string()) + ")";
}

namespace {

nlohmann::json read_manifest(const std::string& dir) {
  const fs::path file = fs::path(dir) / "manifest.json";
  if (!fs::is_regular_file(file)) return nullptr;
  try {
    std::ifstream in(file);
    return nlohmann::json::parse(in);
  } catch (const std::exception&) {
    throw DataError(file.string() + ": unreadable JSON (remove it, or prepare the folder again)");
  }
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

OpenedData open_dataset(const DataSourceOptions& options) {
  OpenedData out;
  const auto& path = options.path();
  if (path.empty()) {
    if (!options.landmarks().empty()) {
      throw ConfigError("--landmarks needs --data (the synthetic set has its own landmarks)");
    }
    if (!options.parts().empty()) throw ConfigError("--parts needs --data");
    out.dataset = data::make_synthetic(options.synthetic());
    out.synthetic = true;
    out.label = synthetic_label(options.synthetic());
    out.landmarks_label = "synthetic generator";
    return out;
  }
  if (options.synthetic_given()) {
    throw ConfigError("--synth-* options describe the built-in synthetic set; they have no "
                      "effect with --data " + path);
  }
  if (!fs::exists(path)) throw DataError(path + ": no such file or folder");
  if (data::is_dataset_cache(path)) {
    if (!options.landmarks().empty()) {
      throw ConfigError("--landmarks does not apply to a dataset cache (" + path +
                        "): it holds the landmarks given to `mer cache`");
    }
    out.dataset = data::read_dataset_cache(path);
    out.landmarks_label = "dataset cache " + path;
  } else {
    out.dataset = data::read_prepared(
        path, data::PreparedReadOptions().landmarks_file(options.landmarks()).crops(options.crops()));
    out.landmarks_label = options.landmarks().empty() ? path + "/" + data::kLandmarksFile
                                                      : options.landmarks();
    out.preprocessing = read_manifest(path);
  }
  out.label = path;
  if (!options.parts().empty()) {
    out.dataset = data::select_parts(out.dataset, options.parts());
    out.label += " (parts " + joined(options.parts()) + ")";
  }
  return out;
}

void apply_training_defaults(TrainOptions& options, const std::set<std::string>& given,
                             bool synthetic) {
  const auto& d = models::find_model(options.model).training;
  const auto missing = [&](const char* name) { return given.count(name) == 0; };
  if (missing("lr")) options.lr = d.lr;
  if (missing("batch_size")) options.batch_size = d.batch_size;
  if (missing("optimizer")) options.optimizer = d.optimizer;
  if (missing("weight_decay")) options.weight_decay = d.weight_decay;
  if (missing("lr_decay")) options.lr_decay = d.lr_decay;
  if (missing("epochs")) options.epochs = synthetic ? d.synthetic_epochs : d.epochs;
}

bool may_read_crops(const std::string& model, const std::map<std::string, std::string>& options) {
  models::DataTraits everything;
  everything.faces = everything.onsets = everything.aus = true;
  const auto resolved = models::resolve_model_options(model, options, everything);
  const auto& spec = models::find_model(model);
  return spec.inputs_for(spec.resolve_options(resolved)).crops();
}

void parse_model_option(const std::string& item, std::map<std::string, std::string>& options) {
  const auto eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("--model-opt " + item + ": expected key=value");
  }
  const auto key = item.substr(0, eq);
  if (options.count(key)) throw ConfigError("--model-opt " + key + " is given twice");
  options[key] = item.substr(eq + 1);
}

}  // namespace mer::engine
