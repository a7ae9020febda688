#include "mer/engine/checkpoint.h"

#include <filesystem>
#include <exception>
#include <fstream>
#include <vector>

#include "mer/core/checksum.h"
#include "mer/data/archive_file.h"
#include "mer/core/error.h"
#include "mer/core/version.h"
#include "mer/models/registry.h"
#ifdef MER_HAVE_ZIP_INTEGRITY
#include "mer/data/zip_integrity.h"
#endif

namespace fs = std::filesystem;

namespace mer::engine {

namespace {
constexpr const char* kVersionKey = "mer_checkpoint_version";
constexpr const char* kMetaKey = "mer_meta";
}  // namespace

std::string file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError(path + ": cannot read");
  Fnv1a hash;
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash.update(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw CheckpointError(path + ": cannot read");
  return hash.hex();
}

std::string save_checkpoint(const std::string& path, const models::ModelPtr& model,
                     const nlohmann::json& meta) {
  MER_CHECK(meta.contains("model") && meta.contains("num_classes") && meta.contains("input_size"),
            "checkpoint metadata needs model, num_classes and input_size");
  torch::serialize::OutputArchive archive;
  model->save(archive);
  archive.write(kVersionKey, c10::IValue(static_cast<int64_t>(kCheckpointVersion)));
  archive.write(kMetaKey, c10::IValue(meta.dump()));
  return data::save_archive_atomic(archive, path);
}

namespace {

LoadedCheckpoint read_checkpoint(const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error&) {
    throw CheckpointError(path + ": not a readable mer checkpoint (corrupt or not a LibTorch "
                          "archive)");
  }
  c10::IValue version, meta_text;
  if (!archive.try_read(kVersionKey, version) || !version.isInt()) {
    throw CheckpointError(path + ": no mer checkpoint version (not written by mer?)");
  }
  if (version.toInt() != kCheckpointVersion) {
    throw CheckpointError(path + ": checkpoint version " + std::to_string(version.toInt()) +
                          " is not supported (this mer reads version " +
                          std::to_string(kCheckpointVersion) + ")");
  }
  if (!archive.try_read(kMetaKey, meta_text) || !meta_text.isString()) {
    throw CheckpointError(path + ": checkpoint has no metadata");
  }
  LoadedCheckpoint loaded;
  try {
    loaded.meta = nlohmann::json::parse(meta_text.toStringRef());
    const auto name = loaded.meta.at("model").get<std::string>();
    const auto& spec = models::find_model(name);
    // Older checkpoints record only the options given (no version): they resolve to what
    // they were trained with (the spec's migration), and the metadata is completed with it.
    const auto values = spec.resolve_recorded(
        models::recorded_model_options(name, loaded.meta), spec.version);
    loaded.meta["model_options"] = values.map();
    loaded.meta["model_spec_version"] = spec.version;
    if (!loaded.meta.contains("inputs")) loaded.meta["inputs"] = spec.inputs_for(values).names();
    loaded.model = spec.make(loaded.meta.at("num_classes").get<int64_t>(),
                             loaded.meta.at("input_size").get<int64_t>(), values);
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(path + ": malformed checkpoint metadata: " + e.what());
  } catch (const ConfigError& e) {
    throw CheckpointError(path + ": " + e.what());
  }
  try {
    loaded.model->load(archive);
  } catch (const c10::Error& e) {
    throw CheckpointError(path + ": parameters do not match the model '" +
                          loaded.meta["model"].get<std::string>() + "'");
  }
  loaded.model->eval();
  return loaded;
}

}  // namespace

LoadedCheckpoint load_checkpoint(const std::string& path) {
  if (!fs::is_regular_file(path)) throw CheckpointError(path + ": checkpoint not found");
#ifdef MER_HAVE_ZIP_INTEGRITY
  // Before LibTorch sees the file: its loader does not check the archive's CRCs.
  try {
    data::verify_zip_integrity(path);
  } catch (const DataError& e) {
    throw CheckpointError(std::string(e.what()) + " (not a readable mer checkpoint)");
  }
#endif
  try {
    return read_checkpoint(path);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    // An archive that is intact as a zip but not what mer wrote (a hand-made or foreign one).
    throw CheckpointError(path + ": not a readable mer checkpoint (" +
                          e.msg().substr(0, e.msg().find('\n')) + ")");
  } catch (const std::exception& e) {
    throw CheckpointError(path + ": not a readable mer checkpoint (" + std::string(e.what()) + ")");
  }
}

}  // namespace mer::engine
