// engine::infer: one motion map through a checkpointed model, as `mer predict` does.
#include <gtest/gtest.h>

#include "mer/core/error.h"
#include "mer/engine/inference.h"
#include "mer/models/registry.h"

namespace mer::engine {
namespace {

LoadedCheckpoint untrained(const std::string& model, int64_t size) {
  LoadedCheckpoint c;
  models::ModelConfig config;
  config.num_classes = 3;
  config.input_size = size;
  c.model = models::make_model(model, config);
  c.model->eval();
  c.meta = {{"model", model},
            {"num_classes", 3},
            {"input_size", size},
            {"class_names", {"negative", "positive", "surprise"}}};
  return c;
}

TEST(Inference, ProbabilitiesOfOneMapMatchTheBatchedForward) {
  torch::manual_seed(3);
  const auto checkpoint = untrained("ststnet", 28);
  const auto flow = torch::randint(0, 256, {3, 28, 28}).to(torch::kFloat32);
  const auto result = infer(checkpoint, {flow.unsqueeze(0), {}});
  ASSERT_EQ(result.probabilities.size(), 3u);
  EXPECT_EQ(result.class_names, (std::vector<std::string>{"negative", "positive", "surprise"}));
  double sum = 0;
  for (double p : result.probabilities) sum += p;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  torch::NoGradGuard no_grad;
  const auto expected = torch::softmax(checkpoint.model->forward({flow.unsqueeze(0), {}}).logits, 1)[0];
  for (int64_t k = 0; k < 3; ++k) EXPECT_NEAR(result.probabilities[k], expected[k].item<double>(), 1e-6);
  EXPECT_EQ(result.prediction, expected.argmax().item<int64_t>());
  EXPECT_TRUE(result.explain.empty());  // STSTNet exports no explanations
  // A batch of several maps is not one sample.
  EXPECT_THROW(infer(checkpoint, {flow.unsqueeze(0).repeat({2, 1, 1, 1}), {}}), ConfigError);
}

TEST(Inference, ExplanationsOfAModelThatHasThemComeBackPerSample) {
  torch::manual_seed(3);
  const auto checkpoint = untrained("fr", 28);
  const auto result = infer(checkpoint, {torch::rand({1, 3, 28, 28}) * 255, {}});
  EXPECT_FALSE(result.explain.empty());
}

TEST(Inference, AMapOfAnotherSizeIsRefusedNamingBothSizes) {
  const auto checkpoint = untrained("ststnet", 28);
  try {
    infer(checkpoint, {torch::zeros({1, 3, 32, 32}), {}});
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("28x28"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("32x32"), std::string::npos) << e.what();
  }
}

TEST(Inference, InputsTheCheckpointDeclaresMustBeGivenAndOthersAreIgnored) {
  torch::manual_seed(3);
  auto checkpoint = untrained("ststnet", 28);
  checkpoint.meta["inputs"] = {"flow", "landmarks", "apex_crop"};
  checkpoint.meta["crop_side"] = 64;
  models::Batch batch{torch::rand({1, 3, 28, 28}) * 255, {}};
  auto expect_refusal = [&](const std::string& words) {
    try {
      infer(checkpoint, batch);
      ADD_FAILURE() << "expected ConfigError mentioning " << words;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_refusal("apex (face) crop");
  batch.face = torch::rand({1, 1, 32, 32}) * 255;
  expect_refusal("64x64");
  batch.face = torch::rand({1, 1, 64, 64}) * 255;
  expect_refusal("landmarks");
  batch.landmarks = torch::rand({1, 68, 2}) * 27;
  batch.aus = torch::ones({1, 21});  // not declared: ignored
  EXPECT_EQ(infer(checkpoint, batch).probabilities.size(), 3u);
  checkpoint.meta["inputs"] = {"flow", "action_units"};
  batch.aus = torch::Tensor();
  expect_refusal("--aus");
}

}  // namespace
}  // namespace mer::engine
