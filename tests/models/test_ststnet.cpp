#include <gtest/gtest.h>

#include "mer/core/error.h"
#include "mer/models/ststnet.h"

namespace mer::models {

TEST(STSTNet, OutputShapeAndParameterNamesMatchThePyTorchDefinition) {
  STSTNetImpl net;
  const auto out = net.forward({torch::rand({4, 3, 28, 28}) * 255, {}});
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(net.pooled_side(), 10);
  EXPECT_EQ(net.feature_side(), 5);
  const auto params = net.named_parameters();
  for (const char* name : {"c1.weight", "c2.weight", "c3.bias", "bn1.weight", "bn3.bias",
                           "fc.weight", "fc.bias"}) {
    EXPECT_TRUE(params.contains(name)) << name;
  }
  EXPECT_EQ(params["fc.weight"].sizes(), (std::vector<int64_t>{3, 400}));
  EXPECT_EQ(params["c3.weight"].sizes(), (std::vector<int64_t>{8, 3, 3, 3}));
}

TEST(STSTNet, OtherInputSizesAndClassCounts) {
  STSTNetImpl net(STSTNetOptions().input_size(56).num_classes(5));
  EXPECT_EQ(net.forward({torch::rand({2, 3, 56, 56}), {}}).logits.sizes(),
            (std::vector<int64_t>{2, 5}));
  EXPECT_THROW(net.forward({torch::rand({2, 3, 28, 28}), {}}), Error);
  EXPECT_THROW(STSTNetImpl(STSTNetOptions().num_classes(1)), ConfigError);
  EXPECT_THROW(STSTNetImpl(STSTNetOptions().dropout(1.0)), ConfigError);
}

TEST(STSTNet, GradientReachesEveryParameter) {
  torch::manual_seed(0);
  STSTNetImpl net;
  net.train();
  const auto out = net.forward({torch::rand({8, 3, 28, 28}) * 255, {}});
  torch::nn::functional::cross_entropy(out.logits, torch::tensor({0, 1, 2, 0, 1, 2, 0, 1}))
      .backward();
  for (const auto& p : net.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(STSTNet, EvalModeIsDeterministicTrainModeUsesDropout) {
  torch::manual_seed(0);
  STSTNetImpl net;
  const auto x = torch::rand({4, 3, 28, 28}) * 255;
  net.eval();
  EXPECT_TRUE(torch::equal(net.forward_flow(x), net.forward_flow(x)));
  net.train();
  EXPECT_FALSE(torch::equal(net.forward_flow(x), net.forward_flow(x)));
}

}  // namespace mer::models
