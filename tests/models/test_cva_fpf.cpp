#include <gtest/gtest.h>

#include <filesystem>

#include "mer/core/error.h"
#include "mer/data/action_units.h"
#include "mer/data/synthetic.h"
#include "mer/engine/checkpoint.h"
#include "mer/engine/loso.h"
#include "mer/models/cva_fpf.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::models {

namespace {

// A small but complete configuration: 32x32 input, window 2 (Swin grids 8, 4, 2), the main
// branch's map at 2x2.
std::map<std::string, std::string> small_options(const std::string& au, const std::string& input) {
  return {{"input_size", "32"}, {"width", "0.125"}, {"embed", "8"}, {"heads", "1,2,4"},
          {"depths", "2,2,2"},  {"window", "2"},    {"au", au},     {"input", input}};
}

ModelPtr small_model(const std::string& au, const std::string& input = "crops", int64_t classes = 5) {
  ModelConfig config;
  config.num_classes = classes;
  config.options = small_options(au, input);
  return make_model("cva-fpf", config);
}

// The AU vector of an annotation string, as `mer prepare` writes it into labels.csv (the
// au1..au45 columns are the bits of data::parse_action_units' vector, in kActionUnitList order).
torch::Tensor au_row(std::initializer_list<int> aus) {
  auto v = torch::zeros({data::kNumActionUnits});
  for (int au : aus) v[data::action_unit_index(au)] = 1.0f;
  return v;
}

Batch crop_batch(int64_t n, int64_t crop = 64) {
  Batch b;
  b.flow = torch::randint(0, 256, {n, 3, 28, 28}).to(torch::kFloat32);
  b.onset = torch::randint(0, 256, {n, 1, crop, crop}).to(torch::kFloat32);
  b.face = (b.onset + torch::randint(-8, 9, b.onset.sizes()).to(torch::kFloat32)).clamp(0, 255);
  b.aus = torch::stack({au_row({1, 2, 4}), au_row({12}), au_row({4, 7}), au_row({14, 15})}).slice(0, 0, n);
  b.labels = torch::tensor({0, 1, 2, 3}, torch::kInt64).slice(0, 0, n);
  return b;
}

}  // namespace

TEST(CVAFPF, OutputShapesOnCropsAndOnTheFlowStandIn) {
  torch::manual_seed(0);
  auto model = small_model("none");
  model->eval();
  auto batch = crop_batch(3);
  batch.labels = torch::Tensor();
  const auto out = model->forward(batch);
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_FALSE(out.aux_loss.defined());
  ASSERT_TRUE(out.explain.count("vertical_attention"));
  EXPECT_EQ(out.explain.at("vertical_attention").sizes(), (std::vector<int64_t>{3, 2}));
  // crops needs the crops.
  Batch flow_only{batch.flow, {}};
  EXPECT_THROW(model->forward(flow_only), ConfigError);

  auto standin = small_model("none", "flow");
  standin->eval();
  EXPECT_EQ(standin->forward(flow_only).logits.sizes(), (std::vector<int64_t>{3, 5}));  // magnitude
  Batch with_face{batch.flow, {}, {}, {}, batch.face};  // flow, labels, landmarks, onset, face
  const auto a = standin->forward(with_face).logits;
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_FALSE(torch::allclose(a, standin->forward(flow_only).logits));  // the face is used
}

TEST(CVAFPF, AUModes) {
  torch::manual_seed(1);
  auto batch = crop_batch(4);
  auto other = batch;
  other.aus = 1 - batch.aus;

  auto none = small_model("none");
  none->eval();
  EXPECT_TRUE(torch::equal(none->forward(batch).logits, none->forward(other).logits));

  auto oracle = small_model("oracle");
  oracle->eval();
  EXPECT_FALSE(torch::allclose(oracle->forward(batch).logits, oracle->forward(other).logits));
  auto no_aus = batch;
  no_aus.aus = torch::Tensor();
  EXPECT_THROW(oracle->forward(no_aus), ConfigError);

  auto predicted = small_model("predicted");
  predicted->train();
  const auto trained = predicted->forward(batch);
  ASSERT_TRUE(trained.aux_loss.defined());  // the AU head's BCE on the batch's AUs
  EXPECT_GT(trained.aux_loss.item<float>(), 0.0f);
  EXPECT_THROW(predicted->forward(no_aus), ConfigError);  // training needs them
  predicted->eval();
  // At test time the true AUs are never used.
  EXPECT_TRUE(torch::equal(predicted->forward(batch).logits, predicted->forward(other).logits));
  EXPECT_TRUE(torch::equal(predicted->forward(batch).logits, predicted->forward(no_aus).logits));
  EXPECT_EQ(predicted->forward(batch).explain.at("au_probability").sizes(),
            (std::vector<int64_t>{4, data::kNumActionUnits}));
}

TEST(CVAFPF, GradientsReachEveryParameter) {
  torch::manual_seed(2);
  auto model = small_model("predicted");
  model->train();
  const auto batch = crop_batch(4);
  const auto out = model->forward(batch);
  (torch::nn::functional::cross_entropy(out.logits, batch.labels) + out.aux_loss).backward();
  for (const auto& p : model->named_parameters()) {
    SCOPED_TRACE(p.key());
    ASSERT_TRUE(p.value().grad().defined());
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0);
  }
  // A training batch of one (the remainder of an epoch) does not fail.
  EXPECT_NO_THROW(model->forward(crop_batch(1)));
}

TEST(CVAFPF, SaveAndLoadGiveIdenticalOutputs) {
  torch::manual_seed(3);
  const auto options = small_options("oracle", "crops");
  ModelConfig config;
  config.num_classes = 4;
  config.options = options;
  auto model = make_model("cva-fpf", config);
  model->train();
  const auto batch = crop_batch(4);
  auto out = model->forward(batch);  // moves the batch-norm statistics
  torch::nn::functional::cross_entropy(out.logits, batch.labels).backward();
  const auto path = (fs::temp_directory_path() / "mer_test_cva_fpf.pt").string();
  nlohmann::json meta = {{"model", "cva-fpf"},
                         {"model_options", options},
                         {"model_spec_version", find_model("cva-fpf").version},
                         {"num_classes", 4},
                         {"input_size", 28},
                         {"class_names", {"a", "b", "c", "d"}}};
  engine::save_checkpoint(path, model, meta);
  auto loaded = engine::load_checkpoint(path).model;
  model->eval();
  loaded->eval();
  const auto before = model->forward(batch);
  const auto after = loaded->forward(batch);
  EXPECT_TRUE(torch::equal(before.logits, after.logits));
  EXPECT_TRUE(torch::equal(before.explain.at("vertical_attention"),
                           after.explain.at("vertical_attention")));
  fs::remove(path);
}

TEST(CVAFPF, InvalidOptionsAreRejected) {
  EXPECT_THROW(CVAFPFImpl(CVAFPFOptions().au("maybe")), ConfigError);
  EXPECT_THROW(CVAFPFImpl(CVAFPFOptions().input("video")), ConfigError);
  EXPECT_THROW(CVAFPFImpl(CVAFPFOptions().input_size(96)), ConfigError);  // Swin grid 24 vs window 7
  EXPECT_THROW(CVAFPFImpl(CVAFPFOptions().depths({2, 2})), ConfigError);
  ModelConfig config;
  config.options = {{"depths", "2,x"}};
  EXPECT_THROW(make_model("cva-fpf", config), ConfigError);
  config.options = {{"colour", "blue"}};
  EXPECT_THROW(make_model("cva-fpf", config), ConfigError);
}

TEST(CVAFPF, FitToDataPicksTheStandInAndRefusesMissingAUs) {
  std::map<std::string, std::string> options;
  DataTraits flow_only;
  auto line = fit_model_to_data("cva-fpf", options, flow_only);
  EXPECT_EQ(options.at("input"), "flow");
  EXPECT_EQ(options.at("au"), "none");
  EXPECT_NE(line.find("STAND-IN"), std::string::npos) << line;

  DataTraits prepared{true, true, true};
  options = {{"au", "oracle"}};
  line = fit_model_to_data("cva-fpf", options, prepared);
  EXPECT_EQ(options.at("input"), "crops");
  EXPECT_NE(line.find("ORACLE"), std::string::npos) << line;

  options = {{"input", "auto"}};
  fit_model_to_data("cva-fpf", options, prepared);
  EXPECT_EQ(options.at("input"), "crops");

  options = {{"au", "oracle"}};
  EXPECT_THROW(fit_model_to_data("cva-fpf", options, flow_only), ConfigError);
  options = {{"au", "predicted"}};
  EXPECT_THROW(fit_model_to_data("cva-fpf", options, flow_only), ConfigError);
  options = {{"input", "crops"}};
  EXPECT_THROW(fit_model_to_data("cva-fpf", options, flow_only), ConfigError);
  options.clear();
  EXPECT_EQ(fit_model_to_data("ststnet", options, flow_only), "");
  EXPECT_TRUE(options.empty());
}

TEST(CVAFPF, TinyLosoOnSyntheticDataRecordsTheAUMode) {
  auto dataset = data::make_synthetic(
      data::SyntheticOptions().subjects(3).samples_per_subject(6).flow_size(16).face_size(32));
  // Synthetic data has no sheet: give it AU vectors so that the oracle mode can run.
  dataset.aus = torch::randint(0, 2, {dataset.size(), data::kNumActionUnits}).to(torch::kFloat32);
  engine::LosoOptions o;
  o.train.model = "cva-fpf";
  o.train.model_options = small_options("oracle", "flow");
  o.train.epochs = 2;
  o.train.batch_size = 8;
  o.train.lr = 1e-3;
  o.train.optimizer = "adamw";
  o.train.lr_decay = 0.9;
  o.quiet = true;
  o.threads = 2;
  const auto dir = fs::temp_directory_path() / ("mer_test_cva_loso_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const auto result = engine::run_loso(dataset, o, dir.string());
  EXPECT_TRUE(result.failures.empty());
  ASSERT_EQ(result.outcomes.size(), 3u);
  EXPECT_EQ(result.summary.at("model_options").at("au"), "oracle");
  EXPECT_EQ(result.summary.at("model_options").at("input"), "flow");
  EXPECT_TRUE(fs::exists(dir / "explain.json"));
  fs::remove_all(dir);
}

}  // namespace mer::models
