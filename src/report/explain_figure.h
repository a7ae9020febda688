#pragma once
// Pictures of a model's per-sample explanations (`mer explain`): the face, the motion map
// and every explanation tensor the model exported, drawn the way a researcher reads them:
//   [K, h, w]  one heatmap per class/branch laid over the face (e.g. FR's per-expression
//              attention), captioned with the class and, if the model exported a
//              length-K vector (e.g. FR's "proposal"), its value for that class;
//   [h, w]     one heatmap over the face, or, for a name containing "relation" or
//              "matrix", a matrix heatmap with its values;
//   [n]        a bar chart (its entries named when the model's info names them);
//   "landmarks" [68, 2] (flow-map pixels) is not a panel: the points are drawn on the face;
//   a vector whose name contains "component", with the model info's "components" (each
//              component's name and landmark indices) and the sample's landmarks: the face
//              with each component's region shaded by its value (e.g. DeRe-GRL's action
//              strength per component), beside its bar chart;
//   a vector whose name contains "region", with a "region_boxes" [n, 4] tensor (x0, y0, x1,
//              y1 in flow-map pixels): the face with each box shaded by its value (e.g.
//              RRRN's region weights; a box covering most of the map only outlined),
//              beside its bar chart; "region_boxes" itself is not a panel.
// Needs OpenCV (MER_WITH_VISION).
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "data/dataset.h"

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
  // Side of the flow map the landmarks are given in; 0 = flow.cols (or no landmark drawing
  // without a flow).
  int flow_side = 0;
};

// Renders the figure (BGR, CV_8UC3). Throws DataError on explanation tensors of a shape it
// cannot draw.
cv::Mat render_explanation(const ExplainFigureInput& input, const ExplainFigureOptions& options = {});

// Finds `sample_key` ("dataset/subject/sample") in RUN/explain.json, loads its face and flow
// from `dataset` (faces are read from dataset.root/face_path, or dataset.faces), renders the
// figure and writes it to `png_path`. Throws DataError naming the file if RUN has no
// explain.json (the model exports no explanations, or the run is unfinished), or the sample
// is not in it (the message lists a few keys that are).
void write_explanation_png(const std::string& run_dir, const data::Dataset& dataset,
                           const std::string& sample_key, const std::string& png_path,
                           const ExplainFigureOptions& options = {});

}  // namespace mer::report
