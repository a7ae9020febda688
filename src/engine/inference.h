#pragma once
// One sample through a trained model: class probabilities and the model's own explanations,
// for `mer predict` on a new clip.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/checkpoint.h"

namespace mer::engine {

struct Inference {
  std::vector<std::string> class_names;  // from the checkpoint ("class 0", ... if it has none)
  std::vector<double> probabilities;     // softmax of the logits, one per class
  int64_t prediction = -1;               // argmax
  // {"name": nested arrays} of the model's Output::explain for this sample (the form
  // explain.json stores; report/explain_figure.h draws it); empty object when it has none.
  nlohmann::json explain = nlohmann::json::object();
};

// `flow`: [3, S, S] (or [1, 3, S, S]) float32 motion map with the stored 0..255 values in
// the prepared-dataset channel order (data/dataset.h kFlow*), S = the checkpoint's input_size. Throws
// ConfigError naming both sizes when S differs from it. Runs on the CPU without gradients.
Inference infer(const LoadedCheckpoint& checkpoint, const torch::Tensor& flow);

}  // namespace mer::engine
