#include "mer/report/prediction_figure.h"

#include <algorithm>
#include <cstdio>
#include <opencv2/imgproc.hpp>

#include "mer/report/drawing.h"

namespace mer::report {

namespace {

const cv::Scalar kPanelWhite(255, 255, 255), kPanelBlack(0, 0, 0), kPanelGrey(100, 100, 100);
// Fill colours of the top regions (BGR): red, orange, yellow, then a neutral one.
const cv::Scalar kRankColour[] = {{40, 40, 230}, {30, 140, 250}, {40, 220, 240}};
const cv::Scalar kOutline(200, 200, 200);
constexpr int kPanelHeader = 52;
constexpr int kCaption = 22;

cv::Scalar rank_colour(int rank) { return rank >= 1 && rank <= 3 ? kRankColour[rank - 1] : kOutline; }

cv::Mat to_bgr(const cv::Mat& face, int side) {
  cv::Mat bgr;
  if (face.empty()) return cv::Mat(side, side, CV_8UC3, cv::Scalar(40, 40, 40));
  if (face.channels() == 1) cv::cvtColor(face, bgr, cv::COLOR_GRAY2BGR);
  else bgr = face.clone();
  if (bgr.cols != side) cv::resize(bgr, bgr, cv::Size(side, side), 0, 0, cv::INTER_AREA);
  return bgr;
}

std::vector<cv::Point> scaled(const std::vector<cv::Point2f>& poly, double s) {
  std::vector<cv::Point> out;
  for (const auto& q : poly) out.emplace_back(cvRound(q.x * s), cvRound(q.y * s));
  return out;
}

void text(cv::Mat& img, const std::string& s, cv::Point at, double scale, const cv::Scalar& colour,
          int thickness = 1) {
  drawing::put_text(img, s, at, scale, colour, thickness);
}

cv::Mat caption(const cv::Mat& panel, const std::string& line) {
  cv::Mat out(panel.rows + kCaption, panel.cols, CV_8UC3, kPanelWhite);
  panel.copyTo(out(cv::Rect(0, 0, panel.cols, panel.rows)));
  double scale = 0.45;
  int base = 0;
  while (cv::getTextSize(line, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base).width > panel.cols - 4 &&
         scale > 0.25) {
    scale -= 0.03;
  }
  text(out, line, cv::Point(2, panel.rows + 15), scale, kPanelBlack);
  return out;
}

// The face with every region outlined and the top `highlighted` filled, numbered by rank.
cv::Mat regions_panel(const PredictionFigureInput& in, int side) {
  cv::Mat face = to_bgr(in.face, side);
  const double s = in.face.empty() ? 1.0 : static_cast<double>(side) / in.face.cols;
  cv::Mat fill = face.clone();
  for (const auto& r : in.regions) {
    if (r.rank > in.highlighted || r.pixels == 0) continue;
    cv::fillPoly(fill, std::vector<std::vector<cv::Point>>{scaled(r.polygon, s)}, rank_colour(r.rank),
                 cv::LINE_AA);
  }
  cv::addWeighted(face, 0.55, fill, 0.45, 0.0, face);
  for (const auto& r : in.regions) {
    const bool top = r.rank <= in.highlighted;
    cv::polylines(face, std::vector<std::vector<cv::Point>>{scaled(r.polygon, s)}, true,
                  top ? rank_colour(r.rank) : kOutline, top ? 2 : 1, cv::LINE_AA);
  }
  for (const auto& r : in.regions) {
    if (r.rank > in.highlighted || r.polygon.empty()) continue;
    cv::Point2f c(0, 0);
    for (const auto& q : r.polygon) c += q;
    c *= 1.0f / static_cast<float>(r.polygon.size());
    const cv::Point at(cvRound(c.x * s) - 5, cvRound(c.y * s) + 6);
    text(face, std::to_string(r.rank), at, 0.55, kPanelBlack, 3);
    text(face, std::to_string(r.rank), at, 0.55, kPanelWhite, 1);
  }
  return face;
}

cv::Mat magnitude_panel(const PredictionFigureInput& in, int side) {
  cv::Mat face = to_bgr(in.face, side);
  if (in.magnitude.empty()) return face;
  double lo = 0, hi = 0;
  cv::minMaxLoc(in.magnitude, &lo, &hi);
  cv::Mat u8, big, colour;
  in.magnitude.convertTo(u8, CV_8U, 255.0 / std::max(hi, 1e-6));
  cv::resize(u8, big, cv::Size(side, side), 0, 0, cv::INTER_LINEAR);
  cv::applyColorMap(big, colour, cv::COLORMAP_JET);
  cv::Mat out;
  cv::addWeighted(face, 0.5, colour, 0.5, 0.0, out);
  const double s = in.face.empty() ? 1.0 : static_cast<double>(side) / in.face.cols;
  for (const auto& q : in.landmarks) {
    cv::circle(out, cv::Point(cvRound(q.x * s), cvRound(q.y * s)), 1, kPanelWhite, cv::FILLED, cv::LINE_AA);
  }
  return drawing::with_colour_bar(out, 0.0, std::max(hi, 1e-6), "px");
}

// Horizontal bars with a label and a value per row; rows `strong` drawn in their colour.
cv::Mat bars_panel(const std::vector<std::string>& labels, const std::vector<double>& values,
                   const std::vector<cv::Scalar>& colours, const char* format, int side) {
  cv::Mat panel(side, side + 40, CV_8UC3, kPanelWhite);
  const int n = static_cast<int>(values.size());
  if (n == 0) return panel;
  const double hi = std::max(1e-9, *std::max_element(values.begin(), values.end()));
  const int row_h = std::min(24, (side - 8) / n);
  const double font = std::min(0.42, 0.025 * row_h);
  int label_w = 20;
  for (const auto& l : labels) {
    int base = 0;
    label_w = std::max(label_w, cv::getTextSize(l, cv::FONT_HERSHEY_SIMPLEX, font, 1, &base).width + 8);
  }
  const int bar_w = std::max(20, panel.cols - label_w - 48);
  for (int i = 0; i < n; ++i) {
    const int y = 4 + i * row_h;
    text(panel, labels[static_cast<size_t>(i)], cv::Point(2, y + row_h - 7), font, kPanelBlack);
    const int w = std::max(1, static_cast<int>(bar_w * values[static_cast<size_t>(i)] / hi));
    cv::rectangle(panel, cv::Rect(label_w, y + 3, w, row_h - 6), colours[static_cast<size_t>(i)],
                  cv::FILLED);
    char buf[32];
    std::snprintf(buf, sizeof buf, format, values[static_cast<size_t>(i)]);
    text(panel, buf, cv::Point(label_w + w + 3, y + row_h - 7), font, kPanelGrey);
  }
  return panel;
}

cv::Mat pad_to_width(const cv::Mat& img, int width) {
  if (img.cols >= width) return img;
  cv::Mat out(img.rows, width, CV_8UC3, kPanelWhite);
  img.copyTo(out(cv::Rect(0, 0, img.cols, img.rows)));
  return out;
}

cv::Mat hconcat_spaced(const std::vector<cv::Mat>& panels) {
  std::vector<cv::Mat> spaced;
  int rows = 0;
  for (const auto& p : panels) rows = std::max(rows, p.rows);
  for (const auto& p : panels) {
    cv::Mat padded(rows, p.cols, CV_8UC3, kPanelWhite);
    p.copyTo(padded(cv::Rect(0, 0, p.cols, p.rows)));
    spaced.push_back(padded);
    spaced.push_back(cv::Mat(rows, 8, CV_8UC3, kPanelWhite));
  }
  cv::Mat row;
  cv::hconcat(spaced, row);
  return row;
}

}  // namespace

cv::Mat render_prediction(const PredictionFigureInput& in, const ExplainFigureOptions& options,
                          std::vector<std::string>* texts) {
  drawing::TextLog log;
  const int side = std::max(options.panel, 200);

  std::vector<std::string> region_names;
  std::vector<double> region_values;
  std::vector<cv::Scalar> region_colours;
  for (const auto& r : in.regions) {
    region_names.push_back(std::to_string(r.rank) + " " + r.name);
    region_values.push_back(r.motion);
    region_colours.push_back(r.rank <= in.highlighted ? rank_colour(r.rank) : kOutline);
  }
  std::vector<cv::Scalar> class_colours;
  size_t best = 0;
  for (size_t k = 0; k < in.probabilities.size(); ++k) {
    if (in.probabilities[k] > in.probabilities[best]) best = k;
  }
  for (size_t k = 0; k < in.probabilities.size(); ++k) {
    class_colours.push_back(k == best ? cv::Scalar(180, 110, 30) : cv::Scalar(210, 190, 170));
  }
  double hi = 0;
  if (!in.magnitude.empty()) cv::minMaxLoc(in.magnitude, nullptr, &hi);
  char mag[64];
  std::snprintf(mag, sizeof mag, "motion magnitude (0..%.2f px)", hi);
  const cv::Mat top = hconcat_spaced({
      caption(regions_panel(in, side), "regions that moved most"),
      caption(magnitude_panel(in, side), mag),
      caption(bars_panel(region_names, region_values, region_colours, "%.2f", side),
              "mean motion per region (px)"),
      caption(bars_panel(in.class_names, in.probabilities, class_colours, "%.3f", side),
              "class probabilities"),
  });

  ExplainFigureInput ex;
  ex.title = "model input (flow u, flow v, optical strain)";
  ex.subtitle = in.explain.empty() ? "the model exports no explanation panels"
                                   : "and the model's own explanation panels";
  ex.class_names = in.class_names;
  ex.face = in.face;
  ex.flow = in.flow;
  ex.explain = in.explain;
  ex.kinds = in.explain_kinds;
  ex.units = in.explain_units;
  ex.model_info = in.model_info;
  const cv::Mat lower = render_explanation(ex, options);
  if (texts) *texts = log.texts();

  const int width = std::max({top.cols + 12, lower.cols, 640});
  cv::Mat canvas(kPanelHeader + top.rows + 10 + lower.rows, width, CV_8UC3, kPanelWhite);
  text(canvas, in.title, cv::Point(6, 22), 0.6, kPanelBlack, 1);
  text(canvas, in.subtitle, cv::Point(6, 44), 0.4, kPanelGrey);
  top.copyTo(canvas(cv::Rect(6, kPanelHeader, top.cols, top.rows)));
  pad_to_width(lower, lower.cols).copyTo(canvas(cv::Rect(0, kPanelHeader + top.rows + 10, lower.cols, lower.rows)));
  return canvas;
}

}  // namespace mer::report
