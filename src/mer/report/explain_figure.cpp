#include "mer/report/explain_figure.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "mer/core/atomic_file.h"
#include "mer/core/error.h"
#include "mer/face/image_io.h"
#include "mer/data/action_units.h"
#include "mer/models/registry.h"
#include "mer/report/drawing.h"

namespace fs = std::filesystem;

namespace mer::report {

using namespace drawing;

namespace {

constexpr int kHeader = 52;

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

std::vector<double> values_of(const cv::Mat& row) {
  std::vector<double> out;
  for (int i = 0; i < row.cols; ++i) out.push_back(row.at<float>(0, i));
  return out;
}

// The colour scale of a map: maps whose values all lie in 0..1 (attention, probabilities)
// keep that absolute scale so that panels compare; others span their own min..max.
struct Scale {
  double lo = 0, hi = 1;
};
Scale scale_of(const cv::Mat& map) {
  double lo = 0, hi = 0;
  cv::minMaxLoc(map, &lo, &hi);
  if (lo >= 0.0 && hi <= 1.0) return {0.0, 1.0};
  return {lo, std::max(hi, lo + 1e-12)};
}

cv::Mat heat(const cv::Mat& map, const Scale& scale, int side, int interpolation = cv::INTER_LINEAR,
             int colormap = cv::COLORMAP_JET) {
  cv::Mat u8, big, colour;
  map.convertTo(u8, CV_8U, 255.0 / (scale.hi - scale.lo), -scale.lo * 255.0 / (scale.hi - scale.lo));
  cv::resize(u8, big, cv::Size(side, side), 0, 0, interpolation);
  cv::applyColorMap(big, colour, colormap);
  return colour;
}

// The map laid over the face (alpha), without its colour bar.
cv::Mat overlay(const cv::Mat& face, const cv::Mat& map, const Scale& scale, int side, double alpha) {
  cv::Mat out;
  cv::addWeighted(face_panel(face, side), 1.0 - alpha, heat(map, scale, side), alpha, 0.0, out);
  return out;
}

// Text turned 90 degrees counter-clockwise (reads bottom to top), on white.
cv::Mat vertical_text(const std::string& text, double scale, int max_length) {
  int baseline = 0;
  const auto size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline);
  cv::Mat line(size.height + baseline + 2, std::max(1, std::min(size.width + 2, max_length)), CV_8UC3, kWhite);
  put_text(line, text, cv::Point(1, size.height + 1), scale, kBlack);
  cv::Mat turned;
  cv::rotate(line, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
  return turned;
}

// A matrix as coloured cells with their values, rows and columns named, and a colour bar.
cv::Mat matrix_panel(const cv::Mat& m, const std::vector<std::string>& names, const std::string& unit) {
  int name_width = 16;
  for (const auto& n : names) {
    int baseline = 0;
    name_width = std::max(name_width, cv::getTextSize(n, cv::FONT_HERSHEY_SIMPLEX, 0.34, 1, &baseline).width + 6);
  }
  if (names.empty()) name_width = 20;
  const int cell = 32, top = name_width, left = name_width;
  cv::Mat panel(top + cell * m.rows + 2, left + cell * m.cols + 2, CV_8UC3, kWhite);
  const Scale scale = scale_of(m);
  for (int r = 0; r < m.rows; ++r) {
    for (int c = 0; c < m.cols; ++c) {
      const double v = m.at<float>(r, c);
      const double t = (v - scale.lo) / (scale.hi - scale.lo);
      const cv::Rect at(left + c * cell, top + r * cell, cell - 1, cell - 1);
      cv::rectangle(panel, at, colormap_colour(t, cv::COLORMAP_VIRIDIS), cv::FILLED);
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.2f", v);
      put_text(panel, buf, cv::Point(at.x + 2, at.y + cell / 2 + 4), 0.3, t > 0.6 ? kBlack : kWhite);
    }
  }
  for (int r = 0; r < m.rows; ++r) {
    const std::string name = r < static_cast<int>(names.size()) ? names[static_cast<size_t>(r)] : std::to_string(r);
    put_text(panel, name, cv::Point(2, top + r * cell + cell / 2 + 4), 0.34, kBlack);
  }
  for (int c = 0; c < m.cols; ++c) {
    const std::string name = c < static_cast<int>(names.size()) ? names[static_cast<size_t>(c)] : std::to_string(c);
    const cv::Mat text = vertical_text(name, 0.34, top - 2);
    const int x = left + c * cell + (cell - text.cols) / 2;
    if (x >= 0 && x + text.cols <= panel.cols && text.rows <= top) {
      text.copyTo(panel(cv::Rect(x, top - text.rows - 1, text.cols, text.rows)));
    }
  }
  return with_colour_bar(panel, scale.lo, scale.hi, unit, cv::COLORMAP_VIRIDIS);
}

struct ComponentRegion {
  std::string name;
  std::vector<int> landmarks;
};

// The face with each component's region (convex hull of its landmarks, plus a band along
// them; components whose hull would cover much of the face, like the jaw line, only the band)
// filled with the colour of its value on 0..max, the landmarks as dots, and a colour bar.
cv::Mat component_panel(const cv::Mat& face, const std::vector<cv::Point2f>& points,
                        const std::vector<ComponentRegion>& regions, const cv::Mat& values,
                        int side, double alpha, const std::string& unit) {
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
    const double v = static_cast<double>(values.at<float>(0, static_cast<int>(r))) / top;
    const cv::Scalar c = colormap_colour(v);
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
  return with_colour_bar(blended, 0.0, top, unit);
}

// The face with each region's box (flow-map pixels, x0 y0 x1 y1, converted by `scale`)
// outlined in its own colour (the legend's) and numbered, filled by its value on 0..max
// (larger boxes first so that small ones stay visible; a box covering most of the map, the
// whole face, only outlined); a colour bar for the fill.
cv::Mat box_panel(const cv::Mat& face, const std::vector<cv::Point2f>& points, const cv::Mat& boxes,
                  const cv::Mat& values, float scale, int side, double alpha, const std::string& unit) {
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
  for (int r : order) {
    const auto& rect = rects[static_cast<size_t>(r)];
    if (rect.area() < 0.8 * side * side) {
      layer(rect).setTo(colormap_colour(static_cast<double>(values.at<float>(0, r)) / top));
      covered(rect).setTo(255);
    }
  }
  cv::Mat blended;
  cv::addWeighted(base, 1.0 - alpha, layer, alpha, 0.0, blended);
  base.copyTo(blended, ~covered);
  for (int r : order) {
    const auto& rect = rects[static_cast<size_t>(r)];
    cv::rectangle(blended, rect, category_colour(r), 2, cv::LINE_AA);
    const cv::Point at(rect.x + 2, rect.y + 11);
    cv::putText(blended, std::to_string(r), at, cv::FONT_HERSHEY_SIMPLEX, 0.35, kBlack, 3, cv::LINE_AA);
    put_text(blended, std::to_string(r), at, 0.35, category_colour(r));
  }
  for (const auto& p : points) cv::circle(blended, p, 1, kWhite, cv::FILLED, cv::LINE_AA);
  return with_colour_bar(blended, 0.0, top, unit);
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

// What the values of explanation `name` are, for its colour bar or axis.
std::string unit_of(const ExplainFigureInput& input, const std::string& name) {
  if (input.units.is_object() && input.units.contains(name) && input.units[name].is_string()) {
    return input.units[name].get<std::string>();
  }
  return name;
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

nlohmann::json explanation_units_of(const std::string& model) {
  nlohmann::json units = nlohmann::json::object();
  try {
    for (const auto& e : models::find_model(model).explanations) {
      if (!e.unit.empty()) units[e.name] = e.unit;
    }
  } catch (const ConfigError&) {
    // a model this mer does not know: the names stand for the units
  }
  return units;
}

cv::Mat render_explanation(const ExplainFigureInput& input, const ExplainFigureOptions& options,
                           std::vector<std::string>* texts) {
  TextLog log;
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
  std::vector<cv::Mat> top{with_caption(face_with_points, points.empty() ? "face" : "face, landmarks (red)")};
  if (!input.flow.empty()) {
    std::vector<cv::Mat> channels;
    cv::split(input.flow, channels);
    MER_CHECK(channels.size() == 3, "render_explanation: the flow map must have 3 channels");
    const std::pair<int64_t, const char*> shown[] = {
        {data::kFlowU, "flow u (horizontal)"}, {data::kFlowV, "flow v (vertical)"},
        {data::kFlowStrain, "optical strain"}};
    for (const auto& [channel, name] : shown) {
      cv::Mat as_float;
      channels[static_cast<size_t>(channel)].convertTo(as_float, CV_32F);
      const cv::Mat colour = heat(as_float, {0, 255}, side, cv::INTER_NEAREST);
      top.push_back(with_caption(with_colour_bar(colour, 0, 255, "stored"),
                                 std::string(name) + "\n0..255 = the clip's min..max"));
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
  const int bars_width = std::max(side + 60, 240);
  std::vector<cv::Mat> small;  // the other panels share a row
  for (const auto& [name, value] : input.explain.items()) {
    using Kind = models::ExplanationKind;
    const auto kind = kind_of(input, name);
    const auto shape = shape_of(value);
    const auto labels = labels_of(input.model_info, name);
    const std::string unit = unit_of(input, name);
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
        std::vector<std::string> names;
        std::vector<cv::Scalar> colours;
        for (int i = 0; i < values.cols; ++i) {
          names.push_back(std::to_string(i) + " " +
                          (i < static_cast<int>(labels.size()) ? labels[static_cast<size_t>(i)] : ""));
          colours.push_back(category_colour(i));
        }
        if (!boxes_name.empty() && flow_side > 0 &&
            shape_of(input.explain[boxes_name]) == std::vector<int64_t>{shape[0], 4}) {
          cv::Point top_at;
          cv::minMaxLoc(values, nullptr, nullptr, nullptr, &top_at);
          const float scale = static_cast<float>(side) / static_cast<float>(flow_side);
          small.push_back(with_caption(box_panel(input.face, points, to_mat(input.explain[boxes_name]),
                                                 values, scale, side, options.alpha, unit),
                                       name + " on the face (fill)\nlargest: " + names[static_cast<size_t>(top_at.x)]));
        }
        small.push_back(with_caption(horizontal_bars(names, values_of(values), bars_width, colours),
                                     name + " (" + unit + ")\nbox outline colours as in the bars"));
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
              component_panel(input.face, points, regions, values, side, options.alpha, unit),
              name + " on the face\nstrongest: " + regions[static_cast<size_t>(top_at.x)].name));
        }
        small.push_back(with_caption(horizontal_bars(names, values_of(values), bars_width),
                                     name + " (" + unit + ")"));
        break;
      }
      case Kind::kClassSpatialMaps: {
        expect_dims(3);
        std::vector<cv::Mat> row;
        Scale shared{0, 1};
        bool unit_range = true;
        for (int64_t i = 0; i < shape[0]; ++i) {
          const auto s = scale_of(to_mat(value[i]));
          unit_range = unit_range && s.lo == 0.0 && s.hi == 1.0;
          shared.lo = i == 0 ? s.lo : std::min(shared.lo, s.lo);
          shared.hi = i == 0 ? s.hi : std::max(shared.hi, s.hi);
        }
        if (unit_range) shared = {0, 1};
        for (int64_t i = 0; i < shape[0]; ++i) {
          const auto map = to_mat(value[i]);
          double lo = 0, hi = 0;
          cv::minMaxLoc(map, &lo, &hi);
          auto panel = overlay(input.face, map, shared, side, options.alpha);
          std::string text = (i < k ? input.class_names[static_cast<size_t>(i)] : std::to_string(i)) + " branch";
          char buf[96];
          if (!caption_values.empty() && i < k) {
            std::snprintf(buf, sizeof buf, ", %s %.2f", caption_name.c_str(), caption_values.at<float>(0, static_cast<int>(i)));
            text += buf;
          }
          std::snprintf(buf, sizeof buf, "\n%s %.2f..%.2f", unit.c_str(), lo, hi);
          row.push_back(with_caption(panel, text + buf));
        }
        // One colour bar for the row: the maps share a scale.
        const cv::Mat bar = colour_bar(shared.lo, shared.hi, unit, side);
        row.push_back(bar);
        rows.push_back(row);
        break;
      }
      case Kind::kSpatialMap: {
        expect_dims(2);
        const auto map = to_mat(value);
        const Scale s = scale_of(map);
        small.push_back(with_caption(with_colour_bar(overlay(input.face, map, s, side, options.alpha), s.lo, s.hi, unit),
                                     name));
        break;
      }
      case Kind::kRelationMatrix: {
        expect_dims(2);
        small.push_back(with_caption(matrix_panel(to_mat(value), labels, unit), name + " (row <- column)"));
        break;
      }
      case Kind::kClassScores: {
        expect_dims(1);
        small.push_back(with_caption(horizontal_bars(input.class_names, values_of(to_mat(value)), bars_width),
                                     name + " (" + unit + ")"));
        break;
      }
      case Kind::kActionUnitProbabilities: {
        expect_dims(1);
        std::vector<std::string> names;
        for (int au : data::kActionUnitList) names.push_back("AU" + std::to_string(au));
        if (static_cast<int64_t>(names.size()) != shape[0]) names.clear();
        small.push_back(with_caption(horizontal_bars(names, values_of(to_mat(value)), bars_width),
                                     name + " (" + unit + ")"));
        break;
      }
      case Kind::kRowProfile: {
        expect_dims(1);
        // Fewer than 3 rows say nothing a reader can place on the face: not drawn.
        if (shape[0] < 3) break;
        const auto row = to_mat(value);
        cv::Mat map;
        cv::repeat(row.t(), 1, static_cast<int>(shape[0]), map);
        const Scale s = scale_of(row);
        small.push_back(with_caption(with_colour_bar(overlay(input.face, map, s, side, options.alpha), s.lo, s.hi, unit),
                                     name + "\nper row of the face, top to bottom"));
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
  put_text(canvas, input.title, cv::Point(6, 20), 0.5, kBlack);
  put_text(canvas, input.subtitle, cv::Point(6, 42), fitting_scale(input.subtitle, width, 0.4), kGrey);
  int y = kHeader;
  for (const auto& img : row_images) {
    img.copyTo(canvas(cv::Rect(6, y, img.cols, img.rows)));
    y += img.rows + 6;
  }
  if (texts) *texts = log.texts();
  return canvas;
}

RunExplanations read_run_explanations(const std::string& run_dir) {
  RunExplanations out;
  out.file = (fs::path(run_dir) / "explain.json").string();
  if (!fs::is_regular_file(out.file)) {
    throw DataError(out.file +
                    ": not found (the run is unfinished, or its model exports no explanations)");
  }
  try {
    std::ifstream in(out.file);
    out.run = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw DataError(out.file + ": unreadable: " + e.what());
  }
  if (out.run.value("format", "") != "mer-explanations" || out.run.value("version", 0) != 1) {
    throw DataError(out.file + ": not a mer explanation file of a known version");
  }
  const auto& samples = out.run.at("samples");
  for (size_t i = 0; i < samples.size(); ++i) {
    out.samples[samples[i].at("key").get<std::string>()] = i;
  }
  return out;
}

std::vector<uchar> explanation_png(const RunExplanations& explanations,
                                   const data::Dataset& dataset, const std::string& sample_key,
                                   const ExplainFigureOptions& options) {
  const auto& run = explanations.run;
  const auto entry = explanations.samples.find(sample_key);
  if (entry == explanations.samples.end()) {
    std::string some;
    for (const auto& s : run.at("samples")) {
      if (some.size() >= 200) break;
      some += (some.empty() ? "" : ", ") + s.at("key").get<std::string>();
    }
    throw DataError("sample '" + sample_key + "' is not in " + explanations.file +
                    " (it has e.g. " + some + ")");
  }
  const nlohmann::json* found = &run.at("samples").at(entry->second);
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
  input.units = explanation_units_of(run.at("model").get<std::string>());
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
  if (!cv::imencode(".png", image, bytes)) {
    throw DataError("sample '" + sample_key + "': cannot encode the figure as PNG");
  }
  return bytes;
}

void write_explanation_png(const std::string& run_dir, const data::Dataset& dataset,
                           const std::string& sample_key, const std::string& png_path,
                           const ExplainFigureOptions& options) {
  const auto bytes =
      explanation_png(read_run_explanations(run_dir), dataset, sample_key, options);
  write_file_atomic(png_path,
                    std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace mer::report
