#pragma once
// Fold checkpoints: the model's parameters and buffers (under their PyTorch-style names) plus
// a JSON description (model name and options, classes, input size, fold, protocol, epoch,
// data checksum) in one LibTorch archive. Versioned: a reader rejects unknown versions.
#include <nlohmann/json.hpp>
#include <string>

#include "mer/core/atomic_file.h"
#include "mer/models/model.h"

namespace mer::engine {

// Writes atomically (mer::AtomicFile: temporary file + rename): a crash never leaves a
// truncated checkpoint under the final name, and a failed write (full disk, ...) throws
// mer::IoError naming `path`, leaving an earlier file there intact. `meta` must hold "model",
// "num_classes" and "input_size". Returns the hash of the bytes written (file_hash(path)), which
// a fold records to recognise its own checkpoint.
std::string save_checkpoint(const std::string& path, const models::ModelPtr& model,
                     const nlohmann::json& meta);

struct LoadedCheckpoint {
  models::ModelPtr model;  // built from the registry and loaded, in eval mode, on CPU
  nlohmann::json meta;
};

// Throws CheckpointError naming the file if it is missing, corrupt, of an unknown version or
// of an unknown model.
LoadedCheckpoint load_checkpoint(const std::string& path);

// mer::write_file_atomic (core/atomic_file.h) under the name engine callers have used.
using ::mer::write_file_atomic;

// FNV-1a hash (16 hex digits) of a file's bytes; throws CheckpointError if it cannot be read.
std::string file_hash(const std::string& path);

}  // namespace mer::engine
