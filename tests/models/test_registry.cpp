#include <gtest/gtest.h>

#include "mer/core/error.h"
#include "mer/models/registry.h"

namespace mer::models {

TEST(Registry, EveryRegisteredModelBuildsAndRunsOnTheCommonInput) {
  ASSERT_FALSE(model_registry().empty());
  for (const auto* spec : model_registry()) {
    SCOPED_TRACE(spec->name);
    EXPECT_FALSE(spec->summary.empty());
    // The common input is a flow-only dataset: models that can use more adapt to it.
    ModelConfig config;
    config.options = resolve_model_options(spec->name, {}, DataTraits{});
    auto model = make_model(spec->name, config);
    model->train();
    const auto out = model->forward({torch::rand({3, 3, 28, 28}) * 255, torch::tensor({0, 1, 2})});
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, 3}));
    EXPECT_EQ(model->num_classes(), 3);
  }
}

TEST(Registry, UnknownModelAndUnknownOptionsAreRejected) {
  try {
    make_model("resnet9000", {});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("ststnet"), std::string::npos) << e.what();
  }
  ModelConfig config;
  config.options["colour"] = "blue";
  EXPECT_THROW(make_model("ststnet", config), ConfigError);
  config.options = {{"dropout", "abc"}};
  EXPECT_THROW(make_model("ststnet", config), ConfigError);
  config.options = {{"dropout", "0.25"}};
  EXPECT_NO_THROW(make_model("ststnet", config));
}

}  // namespace mer::models
