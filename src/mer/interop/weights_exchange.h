#pragma once
// Moving a model's weights between mer checkpoints and PyTorch state_dict files:
//   export: a mer checkpoint -> a .pth file torch.load opens, the names those of the model's
//           PyTorch layout (for STSTNet, the authors' official code: c1..c3, bn1..bn3, fc);
//   import: a .pth file written by torch.save (zip or legacy format) -> a mer checkpoint that
//           `mer predict` and the library's load_checkpoint use, after every name and shape has
//           been checked against the model.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mer::interop {

struct ExportSummary {
  std::string model;
  int64_t tensors = 0;  // parameters and buffers written
  int64_t values = 0;   // their elements, in all
};

// Throws CheckpointError for a bad checkpoint, IoError when `out_path` cannot be written.
ExportSummary export_checkpoint_weights(const std::string& checkpoint_path,
                                        const std::string& out_path);

// What a checkpoint records that a weights file does not: the model, its options and the shape
// of the data it reads.
struct ImportOptions {
  std::string model;    // a registered model name (`mer models`)
  std::string weights;  // the .pth file
  // --model-opt key=value as given; completed and resolved as for training. Options chosen
  // from the data ("auto") are resolved for flow-only data unless crop_side > 0 (then for data
  // with face and onset crops).
  std::map<std::string, std::string> model_options;
  // Class names, in the order of the logits; their number is the model's number of classes.
  // Empty: the MEGC2019 composite classes (negative, positive, surprise).
  std::vector<std::string> class_names;
  int64_t input_size = 28;  // flow map side
  int64_t crop_side = 0;    // side of the face/onset crops, for models that read them
};

struct ImportSummary {
  nlohmann::json meta;        // what the checkpoint records
  std::string options_line;   // what was chosen from the data, or ""
};

// Builds the model, loads the weights into it (ConfigError for bad options; DataError naming
// the weights file for an unreadable file or one whose names/shapes differ, listing the
// missing, unexpected and mis-shaped keys) and writes the checkpoint atomically. The
// checkpoint's metadata says which file the weights came from ("imported_from": file name,
// its hash, and the options given).
ImportSummary import_weights(const ImportOptions& options, const std::string& checkpoint_path);

}  // namespace mer::interop
