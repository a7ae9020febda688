#pragma once
// The picture `mer predict` writes for one clip: the aligned face with the facial regions that
// moved most (ranked, the top ones filled), the residual motion magnitude over the face, the
// motion per region and the class probabilities as bars, then the model's input (u, v,
// strain) and any explanation panels the model exports (drawn by render_explanation).
// Needs OpenCV (MER_WITH_VISION).
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "mer/pipeline/facial_regions.h"
#include "mer/report/explain_figure.h"

namespace mer::report {

struct PredictionFigureInput {
  std::string title;     // first header line (e.g. the prediction)
  std::string subtitle;  // second header line (files, apex, checkpoint)
  std::vector<std::string> class_names;
  std::vector<double> probabilities;  // one per class
  cv::Mat face;       // aligned apex crop, grey or BGR (crop_size square)
  cv::Mat flow;       // CV_8UC3 motion map as prepared (channels kFlowStrain, kFlowV, kFlowU)
  cv::Mat magnitude;  // CV_32F residual motion magnitude at the face's size (may be empty)
  std::vector<pipeline::RegionMotion> regions;  // ranked, largest first
  std::vector<cv::Point2f> landmarks;           // crop coordinates (may be empty)
  int highlighted = 3;                          // how many top regions are filled
  nlohmann::json explain = nlohmann::json::object();  // the model's panels (may be empty)
  nlohmann::json explain_kinds;  // {"name": "kind"} of those panels (ExplainFigureInput::kinds)
  nlohmann::json explain_units;  // {"name": "unit"} of those panels (ExplainFigureInput::units)
  nlohmann::json model_info;     // the model's explain_info() (names of regions, components)
};

// Renders the figure (BGR, CV_8UC3).
// `texts`, when given, receives every text drawn.
cv::Mat render_prediction(const PredictionFigureInput& input, const ExplainFigureOptions& options = {},
                          std::vector<std::string>* texts = nullptr);

}  // namespace mer::report
