#include <gtest/gtest.h>

#include "mer/core/error.h"
#include "mer/data/dataset.h"
#include "mer/report/explain_figure.h"

namespace mer::report {

namespace {
nlohmann::json grid(int rows, int cols, float value) {
  return nlohmann::json(std::vector<std::vector<float>>(rows, std::vector<float>(cols, value)));
}
}  // namespace

TEST(ExplainFigure, DrawsEveryKindOfExplanationItKnows) {
  ExplainFigureInput in;
  in.title = "synth/s01/clip01";
  in.class_names = {"negative", "positive", "surprise"};
  in.face = cv::Mat(64, 64, CV_8UC1, cv::Scalar(128));
  in.flow = cv::Mat(28, 28, CV_8UC3, cv::Scalar(0, 0, 0));
  in.explain["attention"] = {grid(14, 14, 0.2f), grid(14, 14, 0.5f), grid(14, 14, 0.9f)};
  in.explain["proposal"] = {0.1, 0.7, 0.2};
  in.explain["relation_matrix"] = grid(5, 5, 0.3f);
  in.explain["region_weight"] = {0.1, 0.2, 0.3, 0.4};
  in.kinds = {{"attention", "class_spatial_maps"},
              {"proposal", "class_scores"},
              {"relation_matrix", "relation_matrix"},
              {"region_weight", "region_weights"}};
  ExplainFigureOptions options;
  options.panel = 100;
  const cv::Mat image = render_explanation(in, options);
  ASSERT_EQ(image.type(), CV_8UC3);
  // Rows: face + 3 flow panels; 3 attention maps; the matrix and two bar charts.
  EXPECT_GE(image.cols, 4 * 100);
  EXPECT_GE(image.rows, 3 * 100);
  // A heatmap differs from the plain face it is laid over.
  EXPECT_GT(cv::norm(image), 0.0);
}

TEST(ExplainFigure, RegionWeightsWithBoxesAreDrawnAsShadedBoxes) {
  ExplainFigureInput in;
  in.title = "synth/s01/clip01";
  in.class_names = {"negative", "positive", "surprise"};
  in.face = cv::Mat(64, 64, CV_8UC1, cv::Scalar(128));
  in.flow = cv::Mat(28, 28, CV_8UC3, cv::Scalar(0, 0, 0));
  in.explain["region_weights"] = {0.2, 0.1, 0.7};
  in.model_info = {{"labels", {{"region_weights", {"face", "eye", "mouth"}}}}};
  in.kinds = {{"region_weights", "region_weights"}, {"region_boxes", "region_boxes"}};
  ExplainFigureOptions options;
  options.panel = 100;
  const cv::Mat bars_only = render_explanation(in, options);
  in.explain["region_boxes"] = {{-0.5, -0.5, 27.5, 27.5}, {4, 6, 12, 12}, {9, 18, 19, 24}};
  const cv::Mat with_boxes = render_explanation(in, options);
  // One more panel, the face with the boxes, beside the bar chart; "region_boxes" itself is
  // not drawn (it would be a second, meaningless panel).
  // (Its two-line caption makes the row taller than the bar chart's alone.)
  EXPECT_EQ(with_boxes.type(), CV_8UC3);
  EXPECT_GT(with_boxes.rows, bars_only.rows);
  in.explain.erase("region_weights");
  EXPECT_LT(render_explanation(in, options).rows, bars_only.rows);
  in.explain["region_weights"] = {0.2, 0.1, 0.7};
  in.explain["region_boxes"] = {{0, 0, 1}, {0, 0, 1}, {0, 0, 1}};
  EXPECT_THROW(render_explanation(in, options), DataError);
}

TEST(ExplainFigure, UndrawableShapesAndMissingFilesFailClearly) {
  ExplainFigureInput in;
  in.class_names = {"a", "b"};
  in.explain["volume"] = nlohmann::json::array({nlohmann::json::array({grid(2, 2, 0.f)})});
  EXPECT_THROW(render_explanation(in), DataError);  // no declared kind
  in.kinds = {{"volume", "spatial_map"}};
  EXPECT_THROW(render_explanation(in), DataError);  // a 3-D tensor is no spatial map
  // Runs recorded before kinds were: the model's spec gives them.
  EXPECT_EQ(explanation_kinds_of("fr", nullptr).at("attention"), "class_spatial_maps");
  EXPECT_EQ(explanation_kinds_of("fr", {{"x", "spatial_map"}}).at("x"), "spatial_map");
  data::Dataset empty;
  try {
    write_explanation_png("/nonexistent/run", empty, "x/y/z", "/tmp/never.png");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("explain.json"), std::string::npos) << e.what();
  }
}

}  // namespace mer::report

// Every model's figure names what it shows: for each registered model, a figure of its
// explanations on a synthetic sample carries the unit of every heat map and bar chart, the
// names of every region, component, class and AU its explanations are about (from the model's
// explanation schema and explain_info), and a colour bar.
#include "mer/data/synthetic.h"
#include "mer/engine/explain.h"
#include "mer/models/registry.h"

namespace mer::report {

TEST(ExplainFigure, EveryModelsFigureNamesWhatItShows) {
  const auto data = data::make_synthetic(
      data::SyntheticOptions().subjects(2).samples_per_subject(3).face_size(64).seed(3));
  models::DataTraits traits;
  traits.faces = traits.onsets = traits.aus = true;
  for (const auto* spec : models::model_registry()) {
    SCOPED_TRACE(spec->name);
    torch::manual_seed(1);
    models::ModelConfig config;
    config.num_classes = 3;
    config.input_size = 28;
    auto options = models::resolve_model_options(spec->name, spec->smoke_options, traits);
    // A model with an optional explanation (e.g. AU probabilities) shows it when asked.
    for (const auto& o : spec->options) {
      if (o.name == "au") options["au"] = "predicted";
    }
    config.options = options;
    auto model = models::make_model(spec->name, config);
    model->eval();
    models::Batch batch;
    batch.flow = data.flows.slice(0, 0, 1);
    batch.landmarks = data.landmarks.slice(0, 0, 1);
    batch.face = data.faces.slice(0, 0, 1).unsqueeze(1).to(torch::kFloat32);
    batch.onset = batch.face.clone();
    batch.aus = torch::zeros({1, 21});
    torch::NoGradGuard no_grad;
    const auto out = model->forward(batch);
    ExplainFigureInput in;
    in.title = "figure test";
    in.class_names = data.class_names;
    auto face = data.faces[0].contiguous();
    in.face = cv::Mat(64, 64, CV_8UC1, face.data_ptr<uint8_t>()).clone();
    auto flow = data.flows[0].permute({1, 2, 0}).clamp(0, 255).to(torch::kUInt8).contiguous();
    in.flow = cv::Mat(28, 28, CV_8UC3, flow.data_ptr<uint8_t>()).clone();
    for (const auto& [name, tensor] : out.explain) in.explain[name] = engine::tensor_to_json(tensor[0]);
    in.kinds = explanation_kinds_of(spec->name, nullptr);
    in.units = explanation_units_of(spec->name);
    in.model_info = model->explain_info();
    std::vector<std::string> texts;
    const cv::Mat image = render_explanation(in, ExplainFigureOptions(), &texts);
    ASSERT_FALSE(image.empty());
    std::string all;
    for (const auto& t : texts) all += t + "\n";
    const auto shows = [&](const std::string& word) { return all.find(word) != std::string::npos; };
    EXPECT_TRUE(shows("stored")) << "the flow panels' colour bars\n" << all;
    for (const auto& [name, tensor] : out.explain) {
      const auto* e = spec->find_explanation(name);
      ASSERT_NE(e, nullptr) << name;
      using Kind = models::ExplanationKind;
      if (e->kind == Kind::kLandmarks || e->kind == Kind::kRegionBoxes) continue;
      if (e->kind == Kind::kRowProfile && tensor.size(1) < 3) continue;  // not drawn: unreadable
      EXPECT_TRUE(shows(e->unit.empty() ? name : e->unit)) << name << " has no unit on the figure\n" << all;
      if (e->kind == Kind::kClassSpatialMaps || e->kind == Kind::kClassScores) {
        for (const auto& c : data.class_names) EXPECT_TRUE(shows(c)) << name << ": class " << c;
      }
      if (e->kind == Kind::kActionUnitProbabilities) EXPECT_TRUE(shows("AU12")) << name;
      const auto& info = in.model_info;
      if (info.is_object() && info.contains("labels") && info["labels"].contains(name)) {
        for (const auto& label : info["labels"][name]) {
          EXPECT_TRUE(shows(label.get<std::string>())) << name << ": " << label << "\n" << all;
        }
      }
    }
  }
}

}  // namespace mer::report
