#pragma once
// Fold checkpoints: the model's parameters and buffers (under their PyTorch-style names) plus
// a JSON description (model name and options, classes, input size, fold, protocol, epoch,
// data checksum) in one LibTorch archive. Versioned: a reader rejects unknown versions.
#include <nlohmann/json.hpp>
#include <string>

#include "models/model.h"

namespace mer::engine {

// Writes atomically (temporary file + rename): a crash never leaves a truncated checkpoint
// under the final name. `meta` must hold "model", "num_classes" and "input_size".
void save_checkpoint(const std::string& path, const models::ModelPtr& model,
                     const nlohmann::json& meta);

struct LoadedCheckpoint {
  models::ModelPtr model;  // built from the registry and loaded, in eval mode, on CPU
  nlohmann::json meta;
};

// Throws CheckpointError naming the file if it is missing, corrupt, of an unknown version or
// of an unknown model.
LoadedCheckpoint load_checkpoint(const std::string& path);

// Writes text to path through a temporary file and a rename.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace mer::engine
