// HTNet's own properties (the model contract covers shapes, gradients, save/load and inputs):
// where the areas are cut, that the mosaic copies them, that attention stays inside its
// blocks, the explanations, and that the published configuration is the default. Small
// options keep it fast; the published size is built by the contract tests.
#include <gtest/gtest.h>

#include "mer/core/error.h"
#include "mer/models/dere_grl.h"
#include "mer/models/htnet.h"
#include "mer/models/registry.h"

namespace mer::models {

namespace {

torch::Tensor random_flow(int64_t batch, int64_t side = 28) {
  return torch::randint(0, 256, {batch, 3, side, side}).to(torch::kFloat32);
}

torch::Tensor template_batch(int64_t batch, int64_t side = 28) {
  return dere_template_landmarks(side).unsqueeze(0).repeat({batch, 1, 1}) +
         (torch::rand({batch, 68, 2}) * 2.0 - 1.0);
}

// A small HTNet: 28 x 28 map, patch 7 (4 x 4 tokens), two levels, so the bottom level's
// blocks are 2 x 2 tokens: exactly one area each.
HTNetOptions small() {
  return HTNetOptions().dim(8).heads(2).hierarchies(2).block_repeats({1, 1});
}

}  // namespace

TEST(HTNet, AreasAreCentredOnTheEyesAndLipCornersAndStayInsideTheMap) {
  auto points = torch::zeros({1, 68, 2});
  points.slice(1, 36, 42).select(2, 0).fill_(10.2);  // left eye at (10.2, 4.6): near the top
  points.slice(1, 36, 42).select(2, 1).fill_(4.6);
  points.slice(1, 42, 48).select(2, 0).fill_(17.0);  // right eye at (17, 12)
  points.slice(1, 42, 48).select(2, 1).fill_(12.0);
  points[0][48] = torch::tensor({-3.0, 27.4});  // lip corners off the map's corners
  points[0][54] = torch::tensor({30.0, 20.0});
  const auto o = htnet_area_origins(points, 28);  // (y0, x0), area side 14
  ASSERT_EQ(o.sizes(), (std::vector<int64_t>{1, 4, 2}));
  EXPECT_EQ(o[0][0][0].item<int64_t>(), 0);   // round(4.6) - 7 < 0: clamped
  EXPECT_EQ(o[0][0][1].item<int64_t>(), 3);   // round(10.2) - 7
  EXPECT_EQ(o[0][1][0].item<int64_t>(), 5);
  EXPECT_EQ(o[0][1][1].item<int64_t>(), 10);
  EXPECT_EQ(o[0][2][0].item<int64_t>(), 14);  // 27 - 7 > 28 - 14: clamped
  EXPECT_EQ(o[0][2][1].item<int64_t>(), 0);
  EXPECT_EQ(o[0][3][0].item<int64_t>(), 13);
  EXPECT_EQ(o[0][3][1].item<int64_t>(), 14);
}

TEST(HTNet, TheMosaicCopiesTheFourAreasInTheirPlaces) {
  torch::manual_seed(0);
  HTNetImpl net(small());
  const auto flow = random_flow(2);
  const auto origins = htnet_area_origins(template_batch(2), 28);
  const auto m = net.mosaic(flow, origins);
  ASSERT_EQ(m.sizes(), flow.sizes());
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t k = 0; k < 4; ++k) {
      const int64_t y0 = origins[b][k][0].item<int64_t>(), x0 = origins[b][k][1].item<int64_t>();
      const auto area = flow[b].slice(1, y0, y0 + 14).slice(2, x0, x0 + 14);
      const auto tile = m[b].slice(1, (k / 2) * 14, (k / 2) * 14 + 14).slice(2, (k % 2) * 14, (k % 2) * 14 + 14);
      EXPECT_TRUE(torch::equal(area, tile)) << "sample " << b << ", area " << k;
    }
  }
}

TEST(HTNet, AttentionStaysInsideItsBlock) {
  torch::manual_seed(1);
  // A last level (no aggregation) with 2 x 2 token blocks on a 4 x 4 grid.
  HTNetLevel level(8, 2, 2, 4, 2, 0);
  const HTNetDropout none = [](const torch::Tensor& t) { return t; };
  const auto x = torch::randn({1, 4, 4, 8});
  auto changed = x.clone();
  changed[0][0][1] += 1.0;  // a token of the top-left block
  const auto diff = (level->forward(changed, none) - level->forward(x, none)).abs().sum(3)[0];
  EXPECT_GT(diff.slice(0, 0, 2).slice(1, 0, 2).sum().item<double>(), 0.0);
  EXPECT_EQ(diff.slice(0, 2, 4).sum().item<double>(), 0.0);
  EXPECT_EQ(diff.slice(1, 2, 4).sum().item<double>(), 0.0);
}

TEST(HTNet, ExplainsEachAreaInEvalModeOnly) {
  torch::manual_seed(2);
  HTNetImpl net(small());
  const Batch batch{random_flow(3), {}, template_batch(3)};
  net.train();
  EXPECT_TRUE(net.forward(batch).explain.empty());
  net.eval();
  torch::NoGradGuard no_grad;
  const auto out = net.forward(batch);
  const auto importance = out.explain.at("area_importance");
  ASSERT_EQ(importance.sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_TRUE((importance >= 0).all().item<bool>());
  EXPECT_TRUE((importance <= 1).all().item<bool>());
  // The boxes are the areas: side 14, where htnet_area_origins puts them.
  const auto boxes = out.explain.at("area_boxes");
  ASSERT_EQ(boxes.sizes(), (std::vector<int64_t>{3, 4, 4}));
  const auto origins = htnet_area_origins(batch.landmarks, 28).to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(boxes.select(2, 0), origins.select(2, 1) - 0.5));
  EXPECT_TRUE(torch::equal(boxes.select(2, 1), origins.select(2, 0) - 0.5));
  EXPECT_TRUE(torch::allclose(boxes.select(2, 2) - boxes.select(2, 0), torch::full({3, 4}, 14.0)));
  EXPECT_EQ(net.explain_info()["labels"]["area_importance"].size(), 4u);
}

TEST(HTNet, WithoutLandmarksItUsesTheTemplateFace) {
  torch::manual_seed(3);
  HTNetImpl net(small());
  net.eval();
  torch::NoGradGuard no_grad;
  const auto flow = random_flow(2);
  const auto without = net.forward({flow, {}, {}});
  const auto with_template = net.forward(
      {flow, {}, dere_template_landmarks(28).unsqueeze(0).repeat({2, 1, 1})});
  EXPECT_TRUE(torch::equal(without.logits, with_template.logits));
}

TEST(HTNet, ThePublishedConfigurationIsTheDefault) {
  const auto& spec = find_model("htnet");
  const auto o = spec.resolve_options({});
  EXPECT_EQ(o.integer("patch"), 7);
  EXPECT_EQ(o.integer("dim"), 256);
  EXPECT_EQ(o.integer("heads"), 3);
  EXPECT_EQ(o.integer("hierarchies"), 3);
  EXPECT_EQ(o.int_list("block_repeats"), (std::vector<int64_t>{2, 2, 10}));
  EXPECT_EQ(spec.training.epochs, 800);
  EXPECT_DOUBLE_EQ(spec.training.lr, 5e-5);
  EXPECT_EQ(spec.training.batch_size, 256);
  EXPECT_EQ(spec.training.optimizer, "adam");
  EXPECT_TRUE(spec.inputs_for(o).landmarks);
}

TEST(HTNet, OptionsThatDoNotFitTheMapAreRefusedByName) {
  EXPECT_THROW(HTNetImpl(small().block_repeats({1, 1, 1})), ConfigError);  // 3 values, 2 levels
  EXPECT_THROW(HTNetImpl(small().patch(5)), ConfigError);                  // 28 % 5
  EXPECT_THROW(HTNetImpl(small().hierarchies(4).block_repeats({1, 1, 1, 1})), ConfigError);  // 4 / 8
  try {
    HTNetImpl(small().patch(5));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("patch"), std::string::npos) << e.what();
  }
}

}  // namespace mer::models
