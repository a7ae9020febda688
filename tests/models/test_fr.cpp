#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "mer/core/error.h"
#include "mer/engine/checkpoint.h"
#include "mer/models/fr.h"
#include "mer/models/registry.h"

namespace mer::models {

namespace {
torch::Tensor random_flow(int64_t batch, int64_t side = 28) {
  return torch::randint(0, 256, {batch, 3, side, side}).to(torch::kFloat32);
}
}  // namespace

TEST(FR, OutputShapesAndExplanations) {
  torch::manual_seed(0);
  FRImpl net;
  net.eval();
  const auto out = net.forward({random_flow(5), {}});
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{5, 3}));
  EXPECT_FALSE(out.aux_loss.defined());  // no labels, no proposal loss
  ASSERT_TRUE(out.explain.count("attention"));
  ASSERT_TRUE(out.explain.count("proposal"));
  // One spatial attention map per expression branch, on the 14x14 shared map.
  EXPECT_EQ(out.explain.at("attention").sizes(), (std::vector<int64_t>{5, 3, 14, 14}));
  EXPECT_EQ(out.explain.at("proposal").sizes(), (std::vector<int64_t>{5, 3}));
  EXPECT_GT(out.explain.at("attention").min().item<double>(), 0.0);
  EXPECT_LT(out.explain.at("attention").max().item<double>(), 1.0);

  FRImpl five(FROptions().num_classes(5).input_size(56).streams("uv"));
  five.eval();
  const auto out5 = five.forward({random_flow(2, 56), {}});
  EXPECT_EQ(out5.logits.sizes(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(out5.explain.at("attention").sizes(), (std::vector<int64_t>{2, 5, 28, 28}));
  EXPECT_THROW(five.forward({random_flow(2, 28), {}}), Error);
}

TEST(FR, InvalidOptionsAreRejected) {
  EXPECT_THROW(FRImpl(FROptions().streams("u")), ConfigError);
  EXPECT_THROW(FRImpl(FROptions().attention("maybe")), ConfigError);
  EXPECT_THROW(FRImpl(FROptions().input_size(27)), ConfigError);
  EXPECT_THROW(FRImpl(FROptions().proposal_weight(-1)), ConfigError);
  EXPECT_THROW(FRImpl(FROptions().dropout(1.0)), ConfigError);
  ModelConfig config;
  config.options = {{"attention", "none"}, {"proposal_weight", "0"}};
  EXPECT_NO_THROW(make_model("fr", config));
  config.options = {{"heads", "4"}};
  EXPECT_THROW(make_model("fr", config), ConfigError);
  config.options = {{"branch_channels", "2.5"}};
  EXPECT_THROW(make_model("fr", config), ConfigError);
}

TEST(FR, ProposalLossOnAHandCheckedCase) {
  // scores [[0, 2], [1, -1]], labels [0, 1]: branch 0's targets are [1, 0], branch 1's [0, 1].
  // BCE(l, 1) = log(1 + e^-l), BCE(l, 0) = log(1 + e^l).
  const auto scores = torch::tensor({{0.0f, 2.0f}, {1.0f, -1.0f}});
  const auto labels = torch::tensor({0, 1}, torch::kInt64);
  const double branch0 = (std::log(2.0) + std::log1p(std::exp(1.0))) / 2;
  const double branch1 = (std::log1p(std::exp(2.0)) + std::log1p(std::exp(1.0))) / 2;
  EXPECT_NEAR(fr_proposal_loss(scores, labels).item<double>(), branch0 + branch1, 1e-5);
  EXPECT_NEAR(branch0 + branch1, 2.7233, 1e-4);
}

TEST(FR, ProposalLossIsAddedWithItsWeightAndCanBeSwitchedOff) {
  torch::manual_seed(1);
  const auto x = random_flow(6);
  const auto y = torch::tensor({0, 1, 2, 0, 1, 2}, torch::kInt64);
  FRImpl net(FROptions().proposal_weight(2.0));
  net.eval();
  const auto out = net.forward({x, y});
  ASSERT_TRUE(out.aux_loss.defined());
  // The proposal scores are the logits of the exported probabilities.
  const auto scores = torch::logit(out.explain.at("proposal").to(torch::kFloat64)).to(torch::kFloat32);
  EXPECT_NEAR(out.aux_loss.item<double>(), 2.0 * fr_proposal_loss(scores, y).item<double>(), 1e-3);
  FRImpl off(FROptions().proposal_weight(0.0));
  EXPECT_FALSE(off.forward({x, y}).aux_loss.defined());
}

TEST(FR, GradientsReachEveryBranchAndParameter) {
  torch::manual_seed(2);
  FRImpl net;
  net.train();
  const auto y = torch::tensor({0, 1, 2, 0, 1, 2, 0, 1}, torch::kInt64);
  const auto out = net.forward({random_flow(8), y});
  (torch::nn::functional::cross_entropy(out.logits, y) + out.aux_loss).backward();
  for (const auto& p : net.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  // Every expression branch is a module of its own with its own parameters.
  EXPECT_TRUE(net.named_parameters().contains("branches.2.proposal.weight"));
  EXPECT_TRUE(net.named_parameters().contains("spatial_attention.weight"));
}

TEST(FR, AttentionAblationRemovesTheAttentionFactors) {
  torch::manual_seed(3);
  FRImpl net(FROptions().attention("none"));
  net.eval();
  const auto params = net.named_parameters();
  EXPECT_FALSE(params.contains("spatial_attention.weight"));
  EXPECT_FALSE(params.contains("branches.0.channel_reduce.weight"));
  const auto out = net.forward({random_flow(3), {}});
  EXPECT_TRUE(torch::all(out.explain.at("attention") == 1).item<bool>());
  FRImpl spatial_only(FROptions().attention("spatial"));
  EXPECT_TRUE(spatial_only.named_parameters().contains("spatial_attention.weight"));
  EXPECT_FALSE(spatial_only.named_parameters().contains("branches.0.channel_reduce.weight"));
}

TEST(FR, GroupedStreamsAreIndependent) {
  // Changing the strain channel must not change what the u stream's Inception branches see:
  // streams are separate (grouped convolutions), as in Dual-Inception.
  torch::manual_seed(4);
  FRImpl net;
  net.eval();
  auto x = random_flow(2);
  auto x2 = x.clone();
  x2.select(1, 2).uniform_(0, 255);
  const auto a = net.inception->forward(x / 255.0);
  const auto b = net.inception->forward(x2 / 255.0);
  const int64_t c = net.options().branch_channels();
  // Branch-major layout: each branch holds streams*c channels, stream s at [s*c, (s+1)*c).
  for (int64_t branch = 0; branch < 4; ++branch) {
    const int64_t base = branch * 3 * c;
    EXPECT_TRUE(torch::allclose(a.narrow(1, base, 2 * c), b.narrow(1, base, 2 * c))) << branch;
    EXPECT_FALSE(torch::allclose(a.narrow(1, base + 2 * c, c), b.narrow(1, base + 2 * c, c)))
        << branch;
  }
}

TEST(FR, SaveAndLoadGiveIdenticalOutputs) {
  torch::manual_seed(5);
  ModelConfig config;
  config.options = {{"feature_dim", "16"}};
  auto model = make_model("fr", config);
  // Train a step so that batch-norm statistics are not at their initial values.
  model->train();
  const auto y = torch::tensor({0, 1, 2, 1}, torch::kInt64);
  auto out = model->forward({random_flow(4), y});
  (torch::nn::functional::cross_entropy(out.logits, y) + out.aux_loss).backward();
  const auto path = (std::filesystem::temp_directory_path() / "mer_test_fr.pt").string();
  nlohmann::json meta = {{"model", "fr"},
                         {"model_options", config.options},
                         {"model_spec_version", find_model("fr").version},
                         {"num_classes", 3},
                         {"input_size", 28},
                         {"class_names", {"a", "b", "c"}}};
  engine::save_checkpoint(path, model, meta);
  auto loaded = engine::load_checkpoint(path).model;
  model->eval();
  loaded->eval();
  const auto x = random_flow(3);
  const auto before = model->forward({x, {}});
  const auto after = loaded->forward({x, {}});
  EXPECT_TRUE(torch::equal(before.logits, after.logits));
  EXPECT_TRUE(torch::equal(before.explain.at("attention"), after.explain.at("attention")));
  std::filesystem::remove(path);
}

TEST(FR, OwnGeneratorMakesTrainingModeDropoutReproducible) {
  const auto x = random_flow(4);
  auto build = [](uint64_t generator_seed) {
    torch::manual_seed(7);  // same weights
    auto net = std::make_shared<FRImpl>();
    net->train();
    net->set_generator(make_cpu_generator(generator_seed));
    return net;
  };
  auto a = build(11), b = build(11), c = build(12);
  torch::manual_seed(100);  // the global generator must not matter
  const auto la = a->forward({x, {}}).logits;
  torch::manual_seed(200);
  const auto lb = b->forward({x, {}}).logits;
  const auto lc = c->forward({x, {}}).logits;
  EXPECT_TRUE(torch::equal(la, lb));
  EXPECT_FALSE(torch::equal(la, lc));
}

}  // namespace mer::models
