#pragma once
// Per-sample explanations of a trained fold model (Output::explain: attention maps, region
// weights, relation matrices, ...), as JSON written next to the predictions, so that a user
// can see *why* each test sample got its prediction and `mer explain` can draw it.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "mer/data/dataset.h"
#include "mer/engine/trainer.h"
#include "mer/models/model_spec.h"

namespace mer::engine {

// Runs `model` (eval mode, no gradients) on the fold's test samples and returns
//   {"fold": key, "model_epoch": E, "samples": [{"key": "dataset/subject/sample", "index": i,
//     "label": y, "prediction": p, "explain": {"name": nested arrays, ...}}, ...]}
// with values rounded to 1e-4, plus "model_info": the model's explain_info() when it has one.
// The model sees the samples' landmarks when the dataset has them. `model_epoch` is the
// epoch of the model passed in (for the oracle protocol, the saved last-epoch model, not the
// epoch the predictions came from).
// Returns null when the model has no explanations.
nlohmann::json explain_fold(const models::ModelPtr& model, const data::Dataset& dataset,
                            const FoldOutcome& outcome, int64_t model_epoch);

// {"name": "kind", ...} of the model's declared explanations (models::ExplanationSpec), written
// into explain.json and checkpoints so that figures draw each entry by its kind.
nlohmann::json explanation_schema(const models::ModelSpec& spec);

// Sample key used in explanations and by `mer explain --sample`.
std::string sample_key(const data::SampleInfo& sample);

// Tensor <-> nested JSON arrays (float values).
nlohmann::json tensor_to_json(const torch::Tensor& tensor, double round_to = 1e-4);
torch::Tensor tensor_from_json(const nlohmann::json& json);

}  // namespace mer::engine
