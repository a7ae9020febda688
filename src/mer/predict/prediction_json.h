#pragma once
// One clip's prediction as JSON: what `mer predict --json` prints and what the Python
// module's mer.predict returns.
#include <nlohmann/json.hpp>

#include "mer/predict/predictor.h"

namespace mer::predict {

// {"prediction", "prediction_index", "probabilities" {class: p}, "class_names", "onset",
//  "apex", "onset_frame", "apex_frame", "apex_spotted", "apex_index", "regions",
//  "motion_px", "no_motion", "no_motion_threshold_px", "global_shift_px", "checkpoint",
//  "models", "ensemble", "model", "fold", "preprocessing", "inputs"[, "note",
//  "member_probabilities", "explain"]}. Probabilities rounded to 1e-6, motion to 1e-4 px.
nlohmann::json clip_prediction_json(const ClipPrediction& prediction, const Predictor& predictor);

}  // namespace mer::predict
