#pragma once
// One sample through a trained model: class probabilities and the model's own explanations,
// for `mer predict` on a new clip.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mer/engine/checkpoint.h"
#include "mer/models/model_spec.h"

namespace mer::engine {

struct Inference {
  std::vector<std::string> class_names;  // from the checkpoint ("class 0", ... if it has none)
  std::vector<double> probabilities;     // softmax of the logits, one per class
  int64_t prediction = -1;               // argmax
  // {"name": nested arrays} of the model's Output::explain for this sample (the form
  // explain.json stores; report/explain_figure.h draws it); empty object when it has none.
  nlohmann::json explain = nlohmann::json::object();
};

// What a checkpoint's model reads (its recorded "inputs"), and the crop side it was trained
// on (0 when it reads no crops or the checkpoint does not say).
models::ModelInputs checkpoint_inputs(const LoadedCheckpoint& checkpoint);
int64_t checkpoint_crop_side(const LoadedCheckpoint& checkpoint);

// One sample (batch size 1) with every input the checkpoint's model reads:
//   flow      [1, 3, S, S] float32, the stored 0..255 values in the prepared-dataset channel
//             order (data/dataset.h kFlow*), S = the checkpoint's input_size;
//   face, onset [1, 1, C, C] float32 0..255 grey crops, C = the training crop side;
//   landmarks [1, 68, 2] flow-map pixels; aus [1, 21] 0/1.
// Throws ConfigError naming what is missing or of the wrong size (e.g. "the model reads the
// AU vector (au=oracle): give --aus"). Inputs the model does not read are ignored. Runs on
// the CPU without gradients.
Inference infer(const LoadedCheckpoint& checkpoint, const models::Batch& batch);

// The same checks for a batch of N samples (every input [N, ...]); returns the batch the
// model reads (float32, only its inputs).
models::Batch checked_batch(const LoadedCheckpoint& checkpoint, const models::Batch& batch);
// The checked batch through the checkpoint's model, without gradients: logits [N, classes]
// and the model's explanations ([N, ...] each).
models::Output run_checkpoint(const LoadedCheckpoint& checkpoint, const models::Batch& batch);
// The checkpoint's class names ("class 0", ... for those it does not name).
std::vector<std::string> checkpoint_class_names(const LoadedCheckpoint& checkpoint);

}  // namespace mer::engine
