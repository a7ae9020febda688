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
#include "mer/report/explain_panels.h"

namespace fs = std::filesystem;

namespace mer::report {

using namespace drawing;
using namespace panels;

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
