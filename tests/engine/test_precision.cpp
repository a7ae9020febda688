// Training precision (`mer loso --precision`): the options are checked, the autocast scope
// really lowers convolutions and matrix products to bfloat16 and restores what it found, every
// model trains under it with finite values close to float32, and a run records it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine_fixtures.h"
#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/engine/evaluate.h"
#include "mer/engine/loso.h"
#include "mer/engine/precision.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::engine {
namespace {

TEST(Precision, OptionsAreChecked) {
  EXPECT_THROW(check_precision("fp16", "cpu"), ConfigError);
  EXPECT_THROW(check_precision("tf32", "cpu"), ConfigError);  // a CUDA setting
  EXPECT_NO_THROW(check_precision("bf16", "cpu"));
  TrainOptions o;
  o.precision = "bf16";
  EXPECT_EQ(resolve_backend(o), "torch");  // STSTNet's fused kernel is float32 only
  o.backend = "fused";
  EXPECT_THROW(o.validate(), ConfigError);
}

TEST(Precision, AutocastScopeLowersMatrixProductsAndRestores) {
  const auto a = torch::rand({8, 8}), b = torch::rand({8, 8});
  {
    AutocastScope fp32("fp32", torch::kCPU);
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat32);
  }
  {
    AutocastScope bf16("bf16", torch::kCPU);
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    EXPECT_EQ((a + b).scalar_type(), torch::kFloat32);  // elementwise work stays float32
  }
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat32);
}

class EveryModelBf16 : public ::testing::TestWithParam<std::string> {};

// One training step's forward and backward under bf16 autocast: finite logits and gradients,
// different from float32 (the scope acts) but close to it.
TEST_P(EveryModelBf16, TrainsWithFiniteValuesCloseToFloat32) {
  const auto& spec = models::find_model(GetParam());
  auto data = data::make_synthetic(
      data::SyntheticOptions().subjects(2).samples_per_subject(4).face_size(64).seed(5));
  models::DataTraits traits;
  traits.faces = true;
  auto given = spec.smoke_options;
  for (const auto& o : spec.options) {
    if (o.name.find("drop") != std::string::npos) given[o.name] = "0";
  }
  models::ModelConfig config;
  config.options = models::resolve_model_options(spec.name, given, traits);
  torch::manual_seed(3);
  auto model = models::make_model(spec.name, config);
  model->train();
  models::Batch batch;
  batch.flow = data.flows;
  batch.labels = data.labels();
  batch.landmarks = data.landmarks;
  batch.face = data.faces.unsqueeze(1).to(torch::kFloat32);
  torch::Tensor reference;
  {
    torch::NoGradGuard no_grad;
    reference = model->forward(batch).logits;
  }
  models::Output out;
  {
    AutocastScope bf16("bf16", torch::kCPU);
    out = model->forward(batch);
  }
  const auto logits = out.logits.to(torch::kFloat32);
  auto loss = torch::nn::functional::cross_entropy(logits, batch.labels);
  if (out.aux_loss.defined()) loss = loss + out.aux_loss.to(torch::kFloat32);
  loss.backward();
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>()) << spec.name;
  const double scale = 1.0 + reference.abs().max().item<double>();
  const double diff = (logits - reference).abs().max().item<double>();
  EXPECT_GT(diff, 0.0) << spec.name << ": bf16 changed nothing";
  EXPECT_LT(diff, 0.1 * scale) << spec.name;
  for (const auto& p : model->named_parameters()) {
    if (!p.value().grad().defined()) continue;
    EXPECT_EQ(p.value().scalar_type(), torch::kFloat32) << p.key();
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << spec.name << " " << p.key();
  }
}

INSTANTIATE_TEST_SUITE_P(Models, EveryModelBf16, ::testing::ValuesIn([] {
                           std::vector<std::string> names;
                           for (const auto* spec : models::model_registry()) names.push_back(spec->name);
                           return names;
                         }()));

// Fold by fold and stacked: a bf16 run finishes, records its precision, its recorded
// predictions are what its checkpoints predict in float32, and a float32 rerun into the same
// folder is another run.
TEST(Precision, LosoRunRecordsItsPrecision) {
  const auto dataset = testing_fixtures::tiny_dataset(
      {{"casme2", "s1", 5}, {"casme2", "s2", 6}, {"samm", "s3", 7}});
  for (int64_t fold_batch : {1, 3}) {
    const auto dir = fs::temp_directory_path() /
                     ("mer_test_precision_" + std::to_string(::getpid()) + "_" + std::to_string(fold_batch));
    fs::remove_all(dir);
    LosoOptions o;
    o.train.epochs = 2;
    o.train.batch_size = 4;
    o.train.lr = 1e-3;
    o.train.precision = "bf16";
    o.train.fold_batch = fold_batch;
    o.quiet = true;
    const auto result = run_loso(dataset, o, dir.string());
    ASSERT_TRUE(result.failures.empty());
    EXPECT_EQ(result.outcomes.size(), 3u);
    std::ifstream run_json(dir / "run.json");
    EXPECT_EQ(nlohmann::json::parse(run_json)["settings"]["precision"], "bf16");
    std::ifstream summary(dir / "summary.json");
    EXPECT_EQ(nlohmann::json::parse(summary)["training"]["precision"], "bf16");
    EXPECT_EQ(evaluate_run(dataset, dir.string()).mismatches, 0);
    auto again = o;
    again.train.precision = "fp32";
    EXPECT_THROW(run_loso(dataset, again, dir.string()), ConfigError);
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace mer::engine
