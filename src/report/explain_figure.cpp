#include "report/explain_figure.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "face/image_io.h"
#include "data/action_units.h"
#include "models/registry.h"

namespace fs = std::filesystem;

namespace mer::report {

namespace {

constexpr int kCaption = 22;  // caption band under each panel
constexpr int kHeader = 52;
const cv::Scalar kWhite(255, 255, 255), kBlack(0, 0, 0), kGrey(90, 90, 90);

std::vector<int64_t> shape_of(const nlohmann::json& j) {
  std::vector<int64_t> shape;
  const nlohmann::json* cur = &j;
  while (cur->is_array()) {
    if (cur->empty()) throw DataError("empty explanation tensor");
    shape.push_back(static_cast<int64_t>(cur->size()));
    cur = &(*cur)[0];
  }
  return shape;
}

// 1-D or 2-D nested array -> CV_32F matrix (a vector becomes one row).
cv::Mat to_mat(const nlohmann::json& j) {
  const auto shape = shape_of(j);
  if (shape.size() == 1) {
    cv::Mat m(1, static_cast<int>(shape[0]), CV_32F);
    for (int64_t i = 0; i < shape[0]; ++i) m.at<float>(0, i) = j[i].get<float>();
    return m;
  }
  if (shape.size() != 2) throw DataError("to_mat: expected a 1-D or 2-D tensor");
  cv::Mat m(static_cast<int>(shape[0]), static_cast<int>(shape[1]), CV_32F);
  for (int64_t r = 0; r < shape[0]; ++r) {
    if (static_cast<int64_t>(j[r].size()) != shape[1]) throw DataError("ragged explanation tensor");
    for (int64_t c = 0; c < shape[1]; ++c) m.at<float>(r, c) = j[r][c].get<float>();
  }
  return m;
}

// Values of a map scaled to 0..255 for a colour map: probabilities-like maps (all in 0..1)
// keep their absolute scale so that panels compare; other maps are min-max scaled.
cv::Mat to_u8(const cv::Mat& map, std::string* range_note) {
  double lo = 0, hi = 0;
  cv::minMaxLoc(map, &lo, &hi);
  const bool unit = lo >= 0.0 && hi <= 1.0;
  const double a = unit ? 0.0 : lo, b = unit ? 1.0 : std::max(hi, lo + 1e-12);
  cv::Mat out;
  map.convertTo(out, CV_8U, 255.0 / (b - a), -a * 255.0 / (b - a));
  if (range_note) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f..%.2f", lo, hi);
    *range_note = buf;
  }
  return out;
}

cv::Mat face_panel(const cv::Mat& face, int side) {
  cv::Mat bgr;
  if (face.empty()) {
    bgr = cv::Mat(side, side, CV_8UC3, cv::Scalar(40, 40, 40));
  } else {
    if (face.channels() == 1) cv::cvtColor(face, bgr, cv::COLOR_GRAY2BGR);
    else bgr = face.clone();
    cv::resize(bgr, bgr, cv::Size(side, side), 0, 0, cv::INTER_AREA);
  }
  return bgr;
}

cv::Mat heat(const cv::Mat& u8, int side) {
  cv::Mat big, colour;
  cv::resize(u8, big, cv::Size(side, side), 0, 0, cv::INTER_LINEAR);
  cv::applyColorMap(big, colour, cv::COLORMAP_JET);
  return colour;
}

cv::Mat overlay(const cv::Mat& face, const cv::Mat& map, int side, double alpha,
                std::string* range_note) {
  cv::Mat out;
  cv::addWeighted(face_panel(face, side), 1.0 - alpha, heat(to_u8(map, range_note), side), alpha, 0.0,
                  out);
  return out;
}

// Caption lines ('\n'-separated) under a panel, shrunk to fit its width.
cv::Mat with_caption(const cv::Mat& panel, const std::string& text) {
  std::vector<std::string> lines;
  for (size_t start = 0;;) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  cv::Mat out(panel.rows + kCaption * static_cast<int>(lines.size()), panel.cols, CV_8UC3, kWhite);
  panel.copyTo(out(cv::Rect(0, 0, panel.cols, panel.rows)));
  for (size_t i = 0; i < lines.size(); ++i) {
    double scale = 0.42;
    int baseline = 0;
    auto size = cv::getTextSize(lines[i], cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline);
    while (size.width > panel.cols - 4 && scale > 0.25) {
      scale -= 0.03;
      size = cv::getTextSize(lines[i], cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline);
    }
    cv::putText(out, lines[i], cv::Point(2, panel.rows + 15 + kCaption * static_cast<int>(i)),
                cv::FONT_HERSHEY_SIMPLEX, scale, i == 0 ? kBlack : kGrey, 1, cv::LINE_AA);
  }
  return out;
}

// Text turned 90 degrees counter-clockwise (reads bottom to top), on white.
cv::Mat vertical_text(const std::string& text, double scale, int max_length) {
  int baseline = 0;
  const auto size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline);
  cv::Mat line(size.height + baseline + 2, std::min(size.width + 2, max_length), CV_8UC3, kWhite);
  cv::putText(line, text, cv::Point(1, size.height + 1), cv::FONT_HERSHEY_SIMPLEX, scale, kBlack, 1,
              cv::LINE_AA);
  cv::Mat turned;
  cv::rotate(line, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
  return turned;
}

cv::Mat bar_chart(const cv::Mat& values, const std::vector<std::string>& labels, int side) {
  cv::Mat panel(side, side, CV_8UC3, kWhite);
  const int n = values.cols;
  double lo = 0, hi = 0;
  cv::minMaxLoc(values, &lo, &hi);
  lo = std::min(lo, 0.0);
  hi = std::max(hi, lo + 1e-12);
  // Named entries that do not fit under their bars get vertical names inside the bars.
  bool vertical = false;
  for (const auto& l : labels) vertical = vertical || l.size() * 7 > static_cast<size_t>((side - 8) / std::max(n, 1));
  const int top = 8, bottom = side - (vertical ? 4 : 22), width = std::max(2, (side - 8) / std::max(n, 1));
  const int zero_y = bottom - static_cast<int>((0.0 - lo) / (hi - lo) * (bottom - top));
  for (int i = 0; i < n; ++i) {
    const double v = values.at<float>(0, i);
    const int y = bottom - static_cast<int>((v - lo) / (hi - lo) * (bottom - top));
    const int x = 4 + i * width;
    cv::rectangle(panel, cv::Point(x + 1, std::min(y, zero_y)), cv::Point(x + width - 2, std::max(y, zero_y)),
                  cv::Scalar(180, 110, 30), cv::FILLED);
    const std::string label = i < static_cast<int>(labels.size()) ? labels[i] : std::to_string(i);
    if (vertical && i < static_cast<int>(labels.size())) {
      const cv::Mat text = vertical_text(label, 0.34, bottom - top);
      const int w = std::min(text.cols, width - 2), h = std::min(text.rows, bottom - top);
      const cv::Rect at(x + 1, bottom - h, w, h);
      cv::Mat mask;
      cv::cvtColor(text(cv::Rect(0, text.rows - h, w, h)), mask, cv::COLOR_BGR2GRAY);
      cv::threshold(mask, mask, 160, 255, cv::THRESH_BINARY_INV);
      panel(at).setTo(kBlack, mask);
    } else if (width >= 18) {
      cv::putText(panel, label.substr(0, std::max(1, width / 7)), cv::Point(x + 1, side - 8),
                  cv::FONT_HERSHEY_SIMPLEX, 0.32, kBlack, 1, cv::LINE_AA);
    }
  }
  cv::line(panel, cv::Point(2, zero_y), cv::Point(side - 2, zero_y), kGrey);
  return panel;
}

cv::Mat matrix_panel(const cv::Mat& m, int side) {
  cv::Mat colour = heat(to_u8(m, nullptr), side);
  // The nearest-neighbour look shows cells; values are printed where they fit.
  cv::Mat u8 = to_u8(m, nullptr), big;
  cv::resize(u8, big, cv::Size(side, side), 0, 0, cv::INTER_NEAREST);
  cv::applyColorMap(big, colour, cv::COLORMAP_VIRIDIS);
  const double cw = static_cast<double>(side) / m.cols, ch = static_cast<double>(side) / m.rows;
  if (cw >= 28 && ch >= 14) {
    for (int r = 0; r < m.rows; ++r) {
      for (int c = 0; c < m.cols; ++c) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%.2f", m.at<float>(r, c));
        cv::putText(colour, buf, cv::Point(static_cast<int>(c * cw + 2), static_cast<int>((r + 0.6) * ch)),
                    cv::FONT_HERSHEY_SIMPLEX, 0.3, kWhite, 1, cv::LINE_AA);
      }
    }
  }
  return colour;
}

// A matrix panel with its rows named on the left ("0 jaw") and its columns numbered on top.
cv::Mat labelled_matrix_panel(const cv::Mat& m, const std::vector<std::string>& names, int side) {
  const int margin_left = 70, margin_top = 14;
  const int inner = std::max(side, 30 * m.cols);  // cells wide enough for their values
  cv::Mat panel(inner + margin_top, inner + margin_left, CV_8UC3, kWhite);
  matrix_panel(m, inner).copyTo(panel(cv::Rect(margin_left, margin_top, inner, inner)));
  const double cell = static_cast<double>(inner) / m.rows;
  for (int r = 0; r < m.rows; ++r) {
    const std::string name = std::to_string(r) + " " + (r < static_cast<int>(names.size()) ? names[r] : "");
    cv::putText(panel, name.substr(0, 12), cv::Point(2, margin_top + static_cast<int>((r + 0.65) * cell)),
                cv::FONT_HERSHEY_SIMPLEX, 0.32, kBlack, 1, cv::LINE_AA);
  }
  for (int c = 0; c < m.cols; ++c) {
    cv::putText(panel, std::to_string(c),
                cv::Point(margin_left + static_cast<int>((c + 0.4) * cell), margin_top - 3),
                cv::FONT_HERSHEY_SIMPLEX, 0.32, kBlack, 1, cv::LINE_AA);
  }
  return panel;
}

struct ComponentRegion {
  std::string name;
  std::vector<int> landmarks;
};

// The face with each component's region (convex hull of its landmarks, plus a band along
// them; components whose hull would cover much of the face, like the jaw line, only the band)
// filled with the colour of its value, scaled by the largest value; the landmarks as dots.
cv::Mat component_panel(const cv::Mat& face, const std::vector<cv::Point2f>& points,
                        const std::vector<ComponentRegion>& regions, const cv::Mat& values,
                        int side, double alpha) {
  cv::Mat base = face_panel(face, side);
  double lo = 0, hi = 0;
  cv::minMaxLoc(values, &lo, &hi);
  const double top = std::max(hi, 1e-12);
  cv::Mat layer = base.clone(), covered(side, side, CV_8U, cv::Scalar(0));
  const int band = std::max(3, side / 22);
  // Regions with the larger hulls first, so that small ones stay visible on top.
  std::vector<size_t> order(regions.size());
  std::vector<double> areas(regions.size(), 0.0);
  std::vector<std::vector<cv::Point>> hulls(regions.size());
  for (size_t r = 0; r < regions.size(); ++r) {
    order[r] = r;
    std::vector<cv::Point> pts;
    for (int i : regions[r].landmarks) {
      if (i >= 0 && i < static_cast<int>(points.size())) pts.emplace_back(points[i]);
    }
    if (pts.size() >= 3) cv::convexHull(pts, hulls[r]);
    areas[r] = hulls[r].size() >= 3 ? cv::contourArea(hulls[r]) : 0.0;
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return areas[a] > areas[b]; });
  for (size_t r : order) {
    const double v = std::clamp(static_cast<double>(values.at<float>(0, static_cast<int>(r))) / top, 0.0, 1.0);
    cv::Mat one(1, 1, CV_8U, cv::Scalar(static_cast<int>(std::lround(v * 255)))), colour;
    cv::applyColorMap(one, colour, cv::COLORMAP_JET);
    const cv::Scalar c(colour.at<cv::Vec3b>(0, 0)[0], colour.at<cv::Vec3b>(0, 0)[1],
                       colour.at<cv::Vec3b>(0, 0)[2]);
    cv::Mat mask(side, side, CV_8U, cv::Scalar(0));
    if (hulls[r].size() >= 3 && areas[r] < 0.12 * side * side) {
      cv::fillConvexPoly(mask, hulls[r], cv::Scalar(255), cv::LINE_AA);
    }
    std::vector<cv::Point> line;
    for (int i : regions[r].landmarks) {
      if (i >= 0 && i < static_cast<int>(points.size())) line.emplace_back(points[i]);
    }
    if (!line.empty()) {
      cv::polylines(mask, std::vector<std::vector<cv::Point>>{line}, false, cv::Scalar(255), band,
                    cv::LINE_AA);
    }
    layer.setTo(c, mask);
    covered.setTo(255, mask);
  }
  cv::Mat blended;
  cv::addWeighted(base, 1.0 - alpha, layer, alpha, 0.0, blended);
  base.copyTo(blended, ~covered);
  for (const auto& p : points) cv::circle(blended, p, 1, kWhite, cv::FILLED, cv::LINE_AA);
  return blended;
}

// The face with each region's box (flow-map pixels, x0 y0 x1 y1, converted by `scale`) filled
// with the colour of its value, scaled by the largest value; larger boxes first so that small
// ones stay visible on top; a box covering most of the map (the whole face) only outlined.
cv::Mat box_panel(const cv::Mat& face, const std::vector<cv::Point2f>& points, const cv::Mat& boxes,
                  const cv::Mat& values, float scale, int side, double alpha) {
  cv::Mat base = face_panel(face, side);
  double lo = 0, hi = 0;
  cv::minMaxLoc(values, &lo, &hi);
  const double top = std::max(hi, 1e-12);
  const int n = values.cols;
  std::vector<cv::Rect> rects(static_cast<size_t>(n));
  std::vector<int> order(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    order[static_cast<size_t>(r)] = r;
    // Box edges in pixel-centre coordinates: (e + 0.5) * scale is the panel's edge.
    const auto edge = [&](int c) { return static_cast<int>(std::lround((boxes.at<float>(r, c) + 0.5f) * scale)); };
    rects[static_cast<size_t>(r)] = cv::Rect(cv::Point(edge(0), edge(1)), cv::Point(edge(2), edge(3))) &
                                    cv::Rect(0, 0, side, side);
  }
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return rects[static_cast<size_t>(a)].area() > rects[static_cast<size_t>(b)].area(); });
  cv::Mat layer = base.clone(), covered(side, side, CV_8U, cv::Scalar(0));
  std::vector<std::pair<cv::Rect, cv::Scalar>> outlines;
  for (int r : order) {
    const double v = std::clamp(static_cast<double>(values.at<float>(0, r)) / top, 0.0, 1.0);
    cv::Mat one(1, 1, CV_8U, cv::Scalar(static_cast<int>(std::lround(v * 255)))), colour;
    cv::applyColorMap(one, colour, cv::COLORMAP_JET);
    const cv::Scalar c(colour.at<cv::Vec3b>(0, 0)[0], colour.at<cv::Vec3b>(0, 0)[1],
                       colour.at<cv::Vec3b>(0, 0)[2]);
    const auto& rect = rects[static_cast<size_t>(r)];
    if (rect.area() < 0.8 * side * side) {
      layer(rect).setTo(c);
      covered(rect).setTo(255);
    }
    outlines.emplace_back(rect, c);
  }
  cv::Mat blended;
  cv::addWeighted(base, 1.0 - alpha, layer, alpha, 0.0, blended);
  base.copyTo(blended, ~covered);
  for (const auto& [rect, c] : outlines) cv::rectangle(blended, rect, c, 1, cv::LINE_AA);
  for (const auto& p : points) cv::circle(blended, p, 1, kWhite, cv::FILLED, cv::LINE_AA);
  return blended;
}

cv::Mat hconcat_all(const std::vector<cv::Mat>& panels) {
  cv::Mat row;
  int height = 0;
  for (const auto& p : panels) height = std::max(height, p.rows);
  std::vector<cv::Mat> spaced;
  for (const auto& p : panels) {
    cv::Mat padded = p;  // panels of different heights are padded below with white
    if (p.rows < height) cv::copyMakeBorder(p, padded, 0, height - p.rows, 0, 0, cv::BORDER_CONSTANT, kWhite);
    spaced.push_back(padded);
    spaced.push_back(cv::Mat(height, 6, CV_8UC3, kWhite));
  }
  cv::hconcat(spaced, row);
  return row;
}

std::vector<std::string> labels_of(const nlohmann::json& model_info, const std::string& name) {
  if (model_info.is_object() && model_info.contains("labels") &&
      model_info["labels"].contains(name) && model_info["labels"][name].is_array()) {
    return model_info["labels"][name].get<std::vector<std::string>>();
  }
  return {};
}

std::vector<ComponentRegion> components_of(const nlohmann::json& model_info) {
  std::vector<ComponentRegion> out;
  if (!model_info.is_object() || !model_info.contains("components")) return out;
  for (const auto& c : model_info["components"]) {
    out.push_back({c.value("name", std::string()), c.at("landmarks").get<std::vector<int>>()});
  }
  return out;
}

// The declared kind of explanation `name` (the model spec's, as recorded with the run).
models::ExplanationKind kind_of(const ExplainFigureInput& input, const std::string& name) {
  if (input.kinds.is_object() && input.kinds.contains(name) && input.kinds[name].is_string()) {
    return models::parse_explanation_kind(input.kinds[name].get<std::string>());
  }
  throw DataError("explanation '" + name + "' has no declared kind (the model's spec lists its "
                  "explanations; see `mer models`)");
}

}  // namespace

nlohmann::json explanation_kinds_of(const std::string& model, const nlohmann::json& recorded) {
  if (recorded.is_object() && !recorded.empty()) return recorded;
  nlohmann::json kinds = nlohmann::json::object();
  for (const auto& e : models::find_model(model).explanations) {
    kinds[e.name] = models::explanation_kind_name(e.kind);
  }
  return kinds;
}

cv::Mat render_explanation(const ExplainFigureInput& input, const ExplainFigureOptions& options) {
  const int side = options.panel;
  const auto k = static_cast<int64_t>(input.class_names.size());
  std::vector<std::vector<cv::Mat>> rows;

  // Landmarks the model used, in panel pixels.
  std::vector<cv::Point2f> points;
  const int flow_side = input.flow_side > 0 ? input.flow_side : input.flow.cols;
  std::string boxes_name;
  for (const auto& [name, value] : input.explain.items()) {
    const auto kind = kind_of(input, name);
    if (kind == models::ExplanationKind::kRegionBoxes) boxes_name = name;
    if (kind != models::ExplanationKind::kLandmarks || flow_side <= 0) continue;
    const auto shape = shape_of(value);
    if (shape.size() != 2 || shape[1] != 2) {
      throw DataError("explanation '" + name + "' must be [n, 2] (x, y) points");
    }
    const auto m = to_mat(value);
    const float scale = static_cast<float>(side) / static_cast<float>(flow_side);
    for (int i = 0; i < m.rows; ++i) {
      // Pixel centres at integers in both images: (x + 0.5) * scale - 0.5.
      points.emplace_back((m.at<float>(i, 0) + 0.5f) * scale - 0.5f,
                          (m.at<float>(i, 1) + 0.5f) * scale - 0.5f);
    }
  }
  cv::Mat face_with_points = face_panel(input.face, side);
  for (const auto& p : points) cv::circle(face_with_points, p, 1, cv::Scalar(0, 0, 255), cv::FILLED, cv::LINE_AA);
  std::vector<cv::Mat> top{with_caption(face_with_points, points.empty() ? "face" : "face, landmarks")};
  if (!input.flow.empty()) {
    std::vector<cv::Mat> channels;
    cv::split(input.flow, channels);
    MER_CHECK(channels.size() == 3, "render_explanation: the flow map must have 3 channels");
    const std::pair<int64_t, const char*> shown[] = {
        {data::kFlowU, "flow u"}, {data::kFlowV, "flow v"}, {data::kFlowStrain, "strain"}};
    for (const auto& [channel, name] : shown) {
      cv::Mat big, colour;
      cv::resize(channels[channel], big, cv::Size(side, side), 0, 0, cv::INTER_NEAREST);
      cv::applyColorMap(big, colour, cv::COLORMAP_JET);
      top.push_back(with_caption(colour, name));
    }
  }
  rows.push_back(top);

  // The per-class scores caption the per-class maps.
  std::string caption_name;
  cv::Mat caption_values;
  for (const auto& [name, value] : input.explain.items()) {
    if (kind_of(input, name) == models::ExplanationKind::kClassScores &&
        shape_of(value) == std::vector<int64_t>{k}) {
      caption_name = name;
      caption_values = to_mat(value);
      break;
    }
  }

  const auto regions = components_of(input.model_info);
  std::vector<cv::Mat> small;  // panels of 2-D and 1-D tensors share a row
  for (const auto& [name, value] : input.explain.items()) {
    using Kind = models::ExplanationKind;
    const auto kind = kind_of(input, name);
    const auto shape = shape_of(value);
    const auto labels = labels_of(input.model_info, name);
    const auto expect_dims = [&](size_t dims) {
      if (shape.size() != dims) {
        throw DataError("explanation '" + name + "' (" + models::explanation_kind_name(kind) +
                        ") must have " + std::to_string(dims) + " dimensions, has " +
                        std::to_string(shape.size()));
      }
    };
    switch (kind) {
      case Kind::kLandmarks:
        break;  // drawn on the face
      case Kind::kRegionBoxes:  // drawn with the region values they belong to
        if (shape.size() != 2 || shape[1] != 4) {
          throw DataError("explanation '" + name + "' must be [n, 4] (x0, y0, x1, y1) boxes");
        }
        break;
      case Kind::kRegionWeights: {
        expect_dims(1);
        const auto values = to_mat(value);
        if (!boxes_name.empty() && flow_side > 0 &&
            shape_of(input.explain[boxes_name]) == std::vector<int64_t>{shape[0], 4}) {
          cv::Point top_at;
          cv::minMaxLoc(values, nullptr, nullptr, nullptr, &top_at);
          const std::string strongest =
              top_at.x < static_cast<int>(labels.size()) ? labels[top_at.x] : std::to_string(top_at.x);
          const float scale = static_cast<float>(side) / static_cast<float>(flow_side);
          small.push_back(with_caption(box_panel(input.face, points, to_mat(input.explain[boxes_name]),
                                                 values, scale, side, options.alpha),
                                       name + " on the face\nlargest: " + strongest));
        }
        small.push_back(with_caption(bar_chart(values, labels, side), name));
        break;
      }
      case Kind::kComponentStrengths: {
        expect_dims(1);
        const auto values = to_mat(value);
        std::vector<std::string> names = labels;
        if (!points.empty() && !regions.empty() && shape[0] == static_cast<int64_t>(regions.size())) {
          cv::Point top_at;
          cv::minMaxLoc(values, nullptr, nullptr, nullptr, &top_at);
          names.clear();
          for (const auto& r : regions) names.push_back(r.name);
          small.push_back(with_caption(
              component_panel(input.face, points, regions, values, side, options.alpha),
              name + " on the face\nstrongest: " + regions[top_at.x].name));
        }
        small.push_back(with_caption(bar_chart(values, names, side), name));
        break;
      }
      case Kind::kClassSpatialMaps: {
        expect_dims(3);
        std::vector<cv::Mat> row;
        for (int64_t i = 0; i < shape[0]; ++i) {
          std::string range;
          auto panel = overlay(input.face, to_mat(value[i]), side, options.alpha, &range);
          std::string text = name + ": " + (i < k ? input.class_names[i] : std::to_string(i)) + "\n";
          if (!caption_values.empty() && i < k) {
            char buf[48];
            std::snprintf(buf, sizeof buf, "%s %.2f, ", caption_name.c_str(), caption_values.at<float>(0, i));
            text += buf;
          }
          row.push_back(with_caption(panel, text + "range " + range));
        }
        rows.push_back(row);
        break;
      }
      case Kind::kSpatialMap: {
        expect_dims(2);
        std::string range;
        small.push_back(with_caption(overlay(input.face, to_mat(value), side, options.alpha, &range),
                                     name + " [" + range + "]"));
        break;
      }
      case Kind::kRelationMatrix: {
        expect_dims(2);
        const auto m = to_mat(value);
        small.push_back(labels.empty()
                            ? with_caption(matrix_panel(m, side), name)
                            : with_caption(labelled_matrix_panel(m, labels, side), name + " (row <- column)"));
        break;
      }
      case Kind::kClassScores: {
        expect_dims(1);
        small.push_back(with_caption(bar_chart(to_mat(value), input.class_names, side), name));
        break;
      }
      case Kind::kActionUnitProbabilities: {
        expect_dims(1);
        std::vector<std::string> names;
        for (int au : data::kActionUnitList) names.push_back("AU" + std::to_string(au));
        if (static_cast<int64_t>(names.size()) != shape[0]) names.clear();
        small.push_back(with_caption(bar_chart(to_mat(value), names, side), name));
        break;
      }
      case Kind::kRowProfile: {
        expect_dims(1);
        small.push_back(with_caption(bar_chart(to_mat(value), labels, side), name + " (top -> bottom)"));
        break;
      }
    }
  }
  if (!small.empty()) rows.push_back(small);

  int width = 0, height = kHeader;
  std::vector<cv::Mat> row_images;
  for (const auto& r : rows) {
    row_images.push_back(hconcat_all(r));
    width = std::max(width, row_images.back().cols);
    height += row_images.back().rows + 6;
  }
  width = std::max(width, 480);
  cv::Mat canvas(height, width + 8, CV_8UC3, kWhite);
  cv::putText(canvas, input.title, cv::Point(6, 20), cv::FONT_HERSHEY_SIMPLEX, 0.5, kBlack, 1, cv::LINE_AA);
  cv::putText(canvas, input.subtitle, cv::Point(6, 42), cv::FONT_HERSHEY_SIMPLEX, 0.4, kGrey, 1, cv::LINE_AA);
  int y = kHeader;
  for (const auto& img : row_images) {
    img.copyTo(canvas(cv::Rect(6, y, img.cols, img.rows)));
    y += img.rows + 6;
  }
  return canvas;
}

void write_explanation_png(const std::string& run_dir, const data::Dataset& dataset,
                           const std::string& sample_key, const std::string& png_path,
                           const ExplainFigureOptions& options) {
  const fs::path file = fs::path(run_dir) / "explain.json";
  if (!fs::is_regular_file(file)) {
    throw DataError(file.string() +
                    ": not found (the run is unfinished, or its model exports no explanations)");
  }
  nlohmann::json run;
  try {
    std::ifstream in(file);
    run = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw DataError(file.string() + ": unreadable: " + e.what());
  }
  if (run.value("format", "") != "mer-explanations" || run.value("version", 0) != 1) {
    throw DataError(file.string() + ": not a mer explanation file of a known version");
  }
  const nlohmann::json* found = nullptr;
  std::string some;
  for (const auto& s : run.at("samples")) {
    if (s.at("key") == sample_key) found = &s;
    if (some.size() < 200) some += (some.empty() ? "" : ", ") + s.at("key").get<std::string>();
  }
  if (!found) {
    throw DataError("sample '" + sample_key + "' is not in " + file.string() + " (it has e.g. " +
                    some + ")");
  }
  int64_t index = -1;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    const auto& s = dataset.samples[i];
    if (s.dataset + "/" + s.subject + "/" + s.sample == sample_key) index = i;
  }
  if (index < 0) throw DataError("sample '" + sample_key + "' is not in the given dataset");
  const auto& info = dataset.samples[index];

  ExplainFigureInput input;
  input.class_names = run.at("class_names").get<std::vector<std::string>>();
  const auto label = found->at("label").get<int64_t>();
  const auto prediction = found->at("prediction").get<int64_t>();
  input.title = sample_key + "   true: " + input.class_names.at(label) +
                "   predicted: " + input.class_names.at(prediction) +
                (label == prediction ? "  (correct)" : "  (wrong)");
  input.subtitle = "model " + run.at("model").get<std::string>() + ", protocol " +
                   run.at("protocol").get<std::string>() + ", fold " +
                   found->at("fold").get<std::string>() + " (trained without this subject), epoch " +
                   std::to_string(found->at("model_epoch").get<int64_t>());
  input.explain = found->at("explain");
  if (run.contains("model_info")) input.model_info = run.at("model_info");
  input.kinds = explanation_kinds_of(run.at("model").get<std::string>(),
                                     run.value("explanations", nlohmann::json()));
  if (dataset.faces.defined()) {
    auto face = dataset.faces[index].contiguous();
    input.face = cv::Mat(static_cast<int>(face.size(0)), static_cast<int>(face.size(1)), CV_8UC1,
                         face.data_ptr<uint8_t>())
                     .clone();
  } else if (!info.face_path.empty() && !dataset.root.empty()) {
    const auto path = (fs::path(dataset.root) / info.face_path).string();
    input.face = face::read_image(path, face::ImageMode::kGrey);
  }
  if (dataset.flows.defined()) {
    auto flow = dataset.flows[index].permute({1, 2, 0}).clamp(0, 255).to(torch::kUInt8).contiguous();
    input.flow = cv::Mat(static_cast<int>(flow.size(0)), static_cast<int>(flow.size(1)), CV_8UC3,
                         flow.data_ptr<uint8_t>())
                     .clone();
  }
  const auto image = render_explanation(input, options);
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", image, bytes)) throw DataError(png_path + ": cannot encode the PNG");
  write_file_atomic(png_path,
                    std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace mer::report
