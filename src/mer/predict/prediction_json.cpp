#include "mer/predict/prediction_json.h"

#include <cmath>

#include "mer/pipeline/prepare.h"

namespace mer::predict {

namespace {
double rounded(double value, double scale) { return std::round(value * scale) / scale; }
}  // namespace

nlohmann::json clip_prediction_json(const ClipPrediction& p, const Predictor& predictor) {
  const auto& result = p.result;
  const auto& meta = predictor.first().meta;
  nlohmann::json probs = nlohmann::json::object(), regions = nlohmann::json::array();
  for (size_t k = 0; k < result.class_names.size(); ++k) {
    probs[result.class_names[k]] = rounded(result.probabilities[k], 1e6);
  }
  for (const auto& r : p.analysis.motion.regions) {
    regions.push_back({{"rank", r.rank}, {"name", r.name}, {"motion", rounded(r.motion, 1e4)},
                       {"pixels", r.pixels}});
  }
  const auto& shift = p.analysis.motion.global_shift;
  const auto& paths = predictor.checkpoint_paths();
  nlohmann::json out = {
      {"prediction", result.class_names.at(static_cast<size_t>(result.prediction))},
      {"prediction_index", result.prediction},
      {"probabilities", probs},
      {"class_names", result.class_names},
      {"onset", p.analysis.onset_file},
      {"apex", p.analysis.apex_file},
      {"onset_frame", p.onset_frame},
      {"apex_frame", p.apex_frame},
      {"apex_spotted", p.analysis.clip.apex_spotted},
      {"apex_index", p.analysis.clip.apex_index},
      {"regions", regions},
      {"motion_px", rounded(p.motion_px, 1e4)},
      {"no_motion", p.no_motion},
      {"no_motion_threshold_px", predictor.no_motion_threshold()},
      {"global_shift_px", {rounded(shift.x, 1e4), rounded(shift.y, 1e4)}},
      {"checkpoint", paths.size() == 1 ? nlohmann::json(paths[0]) : nlohmann::json(nullptr)},
      {"models", paths},
      {"ensemble", paths.size() > 1},
      {"model", meta.value("model", std::string("?"))},
      {"fold", meta.value("fold", std::string())},
      {"preprocessing",
       nlohmann::json::parse(pipeline::describe_preprocessing(predictor.preprocessing()))},
      {"inputs", predictor.inputs().names()}};
  if (p.no_motion) out["note"] = "no facial movement found";
  if (paths.size() > 1) out["member_probabilities"] = p.member_probabilities;
  if (!result.explain.empty()) out["explain"] = result.explain;
  return out;
}

}  // namespace mer::predict
