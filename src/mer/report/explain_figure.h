#pragma once
// Pictures of a model's per-sample explanations (`mer explain`, `mer predict --png`): the face,
// the motion map and every explanation tensor the model exported, each drawn by its declared
// kind (models::ExplanationKind, from the model's spec):
//   class_spatial_maps [K, h, w]: one heatmap per class laid over the face, captioned with
//       the class and its class_scores value when the model has one (e.g. FR);
//   spatial_map [h, w]: one heatmap over the face;
//   region_weights [R] with region_boxes [R, 4] (x0, y0, x1, y1 in flow-map pixels): the
//       face with each box shaded by its value, beside its bar chart (e.g. RRRN);
//   component_strengths [C] with the model info's "components" and the landmarks: the face
//       with each component's region shaded, beside its bar chart (e.g. DeRe-GRL);
//   relation_matrix [C, C]: a labelled matrix with its values;
//   class_scores, action_unit_probabilities, row_profile [n]: bar charts with their names;
//   landmarks [68, 2] (flow-map pixels): drawn on the face, not a panel.
// Needs OpenCV (MER_WITH_VISION).
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <map>
#include <string>
#include <vector>

#include "mer/data/dataset.h"

namespace mer::report {

struct ExplainFigureOptions {
  int panel = 160;     // side of one square panel in pixels
  double alpha = 0.5;  // heatmap opacity over the face
};

struct ExplainFigureInput {
  std::string title;                     // first line of the header
  std::string subtitle;                  // second line (protocol, fold, epoch)
  std::vector<std::string> class_names;  // K
  cv::Mat face;  // grey or BGR face crop in the motion map's geometry; may be empty
  cv::Mat flow;  // CV_8UC3 as stored (channels kFlowStrain, kFlowV, kFlowU); may be empty
  nlohmann::json explain;  // {"name": nested arrays} of one sample
  // The run's "model_info" (engine::explain_fold): {"labels": {"name": [entry names]},
  // "components": [{"name", "landmarks": [indices]}]}; may be null.
  nlohmann::json model_info;
  // {"name": "kind"} of every entry of `explain` (models::explanation_kind_name): how each is
  // drawn. Recorded with runs and checkpoints (explanation_kinds_of for older ones).
  nlohmann::json kinds;
  // {"name": "unit"}: what each entry's values are, written on its colour bar or axis
  // (explanation_units_of); the name where absent.
  nlohmann::json units;
  // Side of the flow map the landmarks are given in; 0 = flow.cols (or no landmark drawing
  // without a flow).
  int flow_side = 0;
};

// The kinds recorded with a run or checkpoint ("explanations"), or, for those written before
// kinds were recorded, the ones `model`'s spec declares.
nlohmann::json explanation_kinds_of(const std::string& model, const nlohmann::json& recorded);

// {"name": "unit"} of the explanations `model`'s spec declares (empty for an unknown model).
nlohmann::json explanation_units_of(const std::string& model);

// Renders the figure (BGR, CV_8UC3): every heat map with a colour bar and its unit, every bar
// chart with its names and values. Throws DataError on an explanation without a declared kind
// or of a shape its kind does not have. `texts`, when given, receives every text drawn (what
// a reader can read off the figure).
cv::Mat render_explanation(const ExplainFigureInput& input, const ExplainFigureOptions& options = {},
                           std::vector<std::string>* texts = nullptr);

// A run's explain.json, parsed once for any number of figures.
struct RunExplanations {
  std::string file;      // RUN/explain.json, for messages
  nlohmann::json run;    // the whole file
  std::map<std::string, size_t> samples;  // key -> index in run["samples"]
};

// Reads RUN/explain.json. Throws DataError naming the file if it is missing (the model exports
// no explanations, or the run is unfinished), unreadable, or not a known version.
RunExplanations read_run_explanations(const std::string& run_dir);

// Finds `sample_key` ("dataset/subject/sample") in the run's explanations, loads its face and
// flow from `dataset` (faces are read from dataset.root/face_path, or dataset.faces) and
// renders the figure as PNG bytes. Throws DataError if the sample is not in the run (the
// message lists a few keys that are) or not in `dataset`.
std::vector<uchar> explanation_png(const RunExplanations& explanations,
                                   const data::Dataset& dataset, const std::string& sample_key,
                                   const ExplainFigureOptions& options = {});

// read_run_explanations + explanation_png, written to `png_path`.
void write_explanation_png(const std::string& run_dir, const data::Dataset& dataset,
                           const std::string& sample_key, const std::string& png_path,
                           const ExplainFigureOptions& options = {});

}  // namespace mer::report
