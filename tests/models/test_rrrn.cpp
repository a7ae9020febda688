#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/engine/checkpoint.h"
#include "mer/engine/loso.h"
#include "mer/models/dere_grl.h"
#include "mer/models/registry.h"
#include "mer/models/rrrn.h"

namespace mer::models {

namespace {

torch::Tensor random_flow(int64_t batch, int64_t side = 28) {
  return torch::randint(0, 256, {batch, 3, side, side}).to(torch::kFloat32);
}

// The template layout jittered per sample by up to a pixel, as real faces differ.
torch::Tensor jittered_landmarks(int64_t batch, int64_t side = 28) {
  return dere_template_landmarks(side).unsqueeze(0).repeat({batch, 1, 1}) +
         (torch::rand({batch, 68, 2}) * 2.0 - 1.0);
}

constexpr int64_t kRegions = 9;

}  // namespace

TEST(RRRN, OutputShapesAndRegionWeightsAreADistribution) {
  torch::manual_seed(0);
  RRRNImpl net;
  net.eval();
  const auto out = net.forward({random_flow(4), {}, jittered_landmarks(4)});
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_FALSE(out.aux_loss.defined());
  ASSERT_EQ(out.explain.size(), 3u);
  const auto w = out.explain.at("region_weights");
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{4, kRegions}));
  EXPECT_EQ(out.explain.at("region_boxes").sizes(), (std::vector<int64_t>{4, kRegions, 4}));
  EXPECT_EQ(out.explain.at("landmarks").sizes(), (std::vector<int64_t>{4, 68, 2}));
  EXPECT_GT(w.min().item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(w.sum(1), torch::ones({4}), 1e-5, 1e-5));

  RRRNImpl other(RRRNOptions().num_classes(5).input_size(40).grid(1).gcn_layers(1)
                     .relation_attention(false).channels(4).region_dim(8));
  other.eval();
  const auto out5 = other.forward({random_flow(2, 40), {}, jittered_landmarks(2, 40)});
  EXPECT_EQ(out5.logits.sizes(), (std::vector<int64_t>{2, 5}));
  EXPECT_TRUE(torch::allclose(out5.explain.at("region_weights").sum(1), torch::ones({2}), 1e-5, 1e-5));
  EXPECT_THROW(other.forward({random_flow(2, 28), {}, {}}), Error);
  EXPECT_THROW(other.forward({random_flow(2, 40), {}, torch::zeros({2, 5, 2})}), Error);
}

TEST(RRRN, GradientsReachEveryParameter) {
  torch::manual_seed(2);
  RRRNImpl net;
  net.train();
  const auto y = torch::tensor({0, 1, 2, 0, 1, 2, 0, 1}, torch::kInt64);
  const auto out = net.forward({random_flow(8), y, jittered_landmarks(8)});
  torch::nn::functional::cross_entropy(out.logits, y).backward();
  for (const auto& p : net.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  for (const char* name : {"conv1.weight", "conv2.weight", "region_embed.weight",
                           "self_attention.weight", "relation_attention.weight",
                           "region_embedding", "relation_logits", "gcn.1.weight",
                           "classifier.weight"}) {
    EXPECT_TRUE(net.named_parameters().contains(name)) << name;
  }
}

TEST(RRRN, RegionBoxesHoldTheirLandmarksInsideTheMap) {
  const int64_t side = 28;
  const auto points = jittered_landmarks(3, side);
  const auto boxes = rrrn_region_boxes(points, side, 0.04, 0.18);
  ASSERT_EQ(boxes.sizes(), (std::vector<int64_t>{3, kRegions, 4}));
  const auto& regions = rrrn_regions();
  ASSERT_EQ(static_cast<int64_t>(regions.size()), kRegions);
  EXPECT_EQ(regions[0].name, "face");
  for (int64_t b = 0; b < 3; ++b) {
    // The face is the whole map.
    EXPECT_TRUE(torch::allclose(boxes[b][0], torch::tensor({-0.5f, -0.5f, 27.5f, 27.5f})));
    for (int64_t r = 1; r < kRegions; ++r) {
      const auto box = boxes[b][r];
      const double x0 = box[0].item<double>(), y0 = box[1].item<double>();
      const double x1 = box[2].item<double>(), y1 = box[3].item<double>();
      EXPECT_GE(x0, -0.5);
      EXPECT_LE(x1, side - 0.5);
      EXPECT_GE(y0, -0.5);
      EXPECT_LE(y1, side - 0.5);
      // At least min_box wide unless clipped by the border.
      if (x0 > -0.5 && x1 < side - 0.5) EXPECT_GE(x1 - x0, 0.18 * side - 1e-4) << regions[r].name;
      for (int64_t i : regions[static_cast<size_t>(r)].landmarks) {
        const double x = points[b][i][0].item<double>(), y = points[b][i][1].item<double>();
        if (x < -0.5 || x > side - 0.5 || y < -0.5 || y > side - 0.5) continue;
        EXPECT_GE(x, x0) << regions[r].name;
        EXPECT_LE(x, x1) << regions[r].name;
        EXPECT_GE(y, y0) << regions[r].name;
        EXPECT_LE(y, y1) << regions[r].name;
      }
    }
  }
  // The mouth lies below the eyes, the left eye left of the right one.
  EXPECT_GT(boxes[0][7][1].item<double>(), boxes[0][1][3].item<double>());
  EXPECT_LT(boxes[0][1][2].item<double>(), boxes[0][2][2].item<double>());
}

TEST(RRRN, NoMotionGivesUniformWeightsAndOcclusionMovesThem) {
  torch::manual_seed(3);
  RRRNImpl net;
  net.eval();
  // Constant maps: after median centring nothing moves anywhere, every region feature is 0
  // and the weights are those of a featureless region, the same for all: uniform.
  const auto still = net.forward({torch::full({2, 3, 28, 28}, 77.0f), {}, jittered_landmarks(2)});
  const auto w = still.explain.at("region_weights");
  EXPECT_TRUE(torch::allclose(w, torch::full_like(w, 1.0 / kRegions), 1e-5, 1e-5));

  // Occlusion (a region's flow set to the map's "no motion" level) changes the region's
  // weight and nothing is NaN. (That the weight *drops* is learned, from region_drop: an
  // untrained model's attention biases are arbitrary; bench/rrrn_occlusion_probe measures it
  // on trained models.)
  const auto lm = dere_template_landmarks(28).unsqueeze(0);
  auto flow = random_flow(1);
  const auto clean = net.forward({flow, {}, lm}).explain.at("region_weights");
  const auto box = rrrn_region_boxes(lm, 28, 0.04, 0.18)[0][7];  // mouth
  const auto median = std::get<0>(flow.flatten(2).median(2)).view({1, 3, 1, 1});
  const int64_t x0 = static_cast<int64_t>(std::ceil(box[0].item<double>()));
  const int64_t x1 = static_cast<int64_t>(std::floor(box[2].item<double>()));
  const int64_t y0 = static_cast<int64_t>(std::ceil(box[1].item<double>()));
  const int64_t y1 = static_cast<int64_t>(std::floor(box[3].item<double>()));
  auto occluded = flow.clone();
  occluded.slice(2, y0, y1 + 1).slice(3, x0, x1 + 1) = median.expand({1, 3, y1 - y0 + 1, x1 - x0 + 1});
  const auto hidden = net.forward({occluded, {}, lm}).explain.at("region_weights");
  EXPECT_FALSE(torch::isnan(hidden).any().item<bool>());
  EXPECT_NE(hidden[0][7].item<double>(), clean[0][7].item<double>());
}

TEST(RRRN, LandmarksPlaceTheRegionsAndTheTemplateIsTheFallback) {
  torch::manual_seed(4);
  RRRNImpl net;
  net.eval();
  const auto x = random_flow(2);
  const auto t = dere_template_landmarks(28).unsqueeze(0).repeat({2, 1, 1});
  const auto without = net.forward({x, {}, {}});
  const auto with_template = net.forward({x, {}, t});
  EXPECT_TRUE(torch::allclose(without.logits, with_template.logits));
  EXPECT_TRUE(torch::equal(without.explain.at("landmarks"), t));
  const auto moved = net.forward({x, {}, t + 2.0});
  EXPECT_FALSE(torch::allclose(without.logits, moved.logits));
}

TEST(RRRN, ExplainInfoNamesTheRegions) {
  RRRNImpl net;
  const auto info = net.explain_info();
  ASSERT_EQ(info["regions"].size(), static_cast<size_t>(kRegions));
  EXPECT_EQ(info["regions"][7]["name"], "mouth");
  EXPECT_EQ(info["regions"][4]["landmarks"].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{27, 28, 29, 30, 31, 32, 33, 34, 35}));
  EXPECT_EQ(info["labels"]["region_weights"].size(), static_cast<size_t>(kRegions));
}

TEST(RRRN, RegistryOptionsAndInvalidOptions) {
  const auto& spec = find_model("rrrn");
  EXPECT_TRUE(spec.inputs_for(spec.resolve_options({{"visibility", "none"}})).landmarks);
  EXPECT_FALSE(spec.inputs_for(spec.resolve_options({{"visibility", "none"}})).apex_crop);
  EXPECT_TRUE(spec.inputs_for(spec.resolve_options({{"visibility", "appearance"}})).apex_crop);
  ModelConfig config;
  config.options = {{"grid", "2"}, {"relation_attention", "0"}, {"region_drop", "0"},
                    {"visibility", "none"}};
  auto model = make_model("rrrn", config);
  auto* rrrn = dynamic_cast<RRRNImpl*>(model.get());
  ASSERT_NE(rrrn, nullptr);
  EXPECT_EQ(rrrn->options().grid(), 2);
  EXPECT_FALSE(rrrn->options().relation_attention());
  EXPECT_FALSE(model->named_parameters().contains("relation_attention.weight"));
  config.options = {{"relation_attention", "maybe"}};
  EXPECT_THROW(make_model("rrrn", config), ConfigError);
  config.options = {{"heads", "4"}};
  EXPECT_THROW(make_model("rrrn", config), ConfigError);
  config.options = {{"grid", "2.5"}};
  EXPECT_THROW(make_model("rrrn", config), ConfigError);
  EXPECT_THROW(RRRNImpl(RRRNOptions().grid(0)), ConfigError);
  EXPECT_THROW(RRRNImpl(RRRNOptions().gcn_layers(0)), ConfigError);
  EXPECT_THROW(RRRNImpl(RRRNOptions().centering("mean")), ConfigError);
  EXPECT_THROW(RRRNImpl(RRRNOptions().min_box(0)), ConfigError);
  EXPECT_THROW(RRRNImpl(RRRNOptions().dropout(1.0)), ConfigError);
  EXPECT_THROW(RRRNImpl(RRRNOptions().region_drop(-0.1)), ConfigError);
}

TEST(RRRN, SaveAndLoadGiveIdenticalOutputs) {
  torch::manual_seed(5);
  ModelConfig config;
  config.options = {{"region_dim", "32"}, {"visibility", "none"}};
  auto model = make_model("rrrn", config);
  // Train a few steps so that every parameter has left its initial value.
  auto optimizer = torch::optim::Adam(model->parameters(), torch::optim::AdamOptions(1e-2));
  model->train();
  const auto y = torch::tensor({0, 1, 2, 1}, torch::kInt64);
  const auto lm = jittered_landmarks(4);
  for (int step = 0; step < 3; ++step) {
    auto out = model->forward({random_flow(4), y, lm});
    optimizer.zero_grad();
    torch::nn::functional::cross_entropy(out.logits, y).backward();
    optimizer.step();
  }
  const auto path = (std::filesystem::temp_directory_path() / "mer_test_rrrn.pt").string();
  nlohmann::json meta = {{"model", "rrrn"},
                         {"model_options", config.options},
                         {"model_spec_version", find_model("rrrn").version},
                         {"num_classes", 3},
                         {"input_size", 28},
                         {"class_names", {"a", "b", "c"}}};
  engine::save_checkpoint(path, model, meta);
  auto loaded = engine::load_checkpoint(path).model;
  model->eval();
  const auto x = random_flow(3);
  const auto points = jittered_landmarks(3);
  const auto before = model->forward({x, {}, points});
  const auto after = loaded->forward({x, {}, points});
  EXPECT_TRUE(torch::equal(before.logits, after.logits));
  for (const auto& [name, value] : before.explain) {
    EXPECT_TRUE(torch::equal(value, after.explain.at(name))) << name;
  }
  std::filesystem::remove(path);
}

TEST(RRRN, OwnGeneratorMakesTrainingRandomnessReproducible) {
  const auto x = random_flow(4);
  const auto lm = jittered_landmarks(4);
  auto build = [](uint64_t generator_seed) {
    torch::manual_seed(7);
    auto net = std::make_shared<RRRNImpl>();
    net->train();
    net->set_generator(make_cpu_generator(generator_seed));
    return net;
  };
  auto a = build(11), b = build(11), c = build(12);
  torch::manual_seed(100);
  const auto la = a->forward({x, {}, lm}).logits;
  torch::manual_seed(200);
  const auto lb = b->forward({x, {}, lm}).logits;
  const auto lc = c->forward({x, {}, lm}).logits;
  EXPECT_TRUE(torch::equal(la, lb));
  EXPECT_FALSE(torch::equal(la, lc));
  // Evaluation mode draws nothing: no dropout, no training-time occlusion.
  a->eval();
  EXPECT_TRUE(torch::equal(a->forward({x, {}, lm}).logits, a->forward({x, {}, lm}).logits));
}

TEST(RRRN, GroupDropHidesAWholeUpperOrLowerHalfOfTheFace) {
  // With group_drop alone, a training forward zeroes every box of one half (the input's
  // gradient is exactly 0 there) and no sample loses both halves or only a part of one.
  const int64_t batch = 8;
  torch::manual_seed(3);
  RRRNOptions options;
  options.region_drop(0.0).group_drop(0.75).centering("none").dropout(0.0);
  RRRNImpl net(options);
  net.train();
  net.set_generator(make_cpu_generator(5));
  const auto lm = jittered_landmarks(batch);
  const auto flow = (torch::rand({batch, 3, 28, 28}) * 200.0 + 20.0).requires_grad_(true);
  auto zero_gradient = [&]() {
    flow.mutable_grad() = torch::Tensor();
    net.forward({flow, {}, lm}).logits.pow(2).sum().backward();
    return flow.grad().abs().sum(1) == 0;  // [B, 28, 28]
  };
  const auto zero_grad = zero_gradient();
  net.eval();  // hides nothing: the pixels that get no gradient anyway (the RoI sampling)
  const auto zero_grad_eval = zero_gradient();

  const auto boxes = rrrn_region_boxes(lm, 28, options.margin(), options.min_box());
  const auto coords = torch::arange(28).to(torch::kFloat32);
  auto half_mask = [&](int64_t sample, bool upper) {
    auto mask = torch::zeros({28, 28}, torch::kBool);
    for (size_t i = 1; i < rrrn_regions().size(); ++i) {
      if (rrrn_regions()[i].upper_face != upper) continue;
      const auto box = boxes[sample][static_cast<int64_t>(i)];
      const auto in_x = (coords >= box[0]) & (coords <= box[2]);
      const auto in_y = (coords >= box[1]) & (coords <= box[3]);
      mask = mask | (in_y.unsqueeze(1) & in_x.unsqueeze(0));
    }
    return mask;
  };
  int hidden_upper = 0, hidden_lower = 0;
  for (int64_t i = 0; i < batch; ++i) {
    const auto upper = half_mask(i, true), lower = half_mask(i, false);
    const bool upper_hidden = zero_grad[i].masked_select(upper).all().item<bool>();
    const bool lower_hidden = zero_grad[i].masked_select(lower).all().item<bool>();
    EXPECT_FALSE(upper_hidden && lower_hidden) << "sample " << i;
    // Nothing outside the hidden half is zeroed.
    const auto hidden_half = upper_hidden ? upper : lower_hidden ? lower : torch::zeros_like(upper);
    EXPECT_TRUE(torch::equal(zero_grad[i].masked_select(~hidden_half),
                             zero_grad_eval[i].masked_select(~hidden_half)))
        << "sample " << i;
    hidden_upper += upper_hidden;
    hidden_lower += lower_hidden;
  }
  // A fixed generator: this draw hides both kinds of half in the batch.
  EXPECT_GT(hidden_upper, 0);
  EXPECT_GT(hidden_lower, 0);
  // The hidden halves are more than the pixels the model never reads.
  EXPECT_GT(zero_grad.sum().item<int64_t>(), zero_grad_eval.sum().item<int64_t>());
  EXPECT_THROW(RRRNImpl(RRRNOptions().group_drop(1.0)), ConfigError);
}

// Textured grey "faces" [B, 1, 112, 112]: noise at two scales, as skin, brows and eyes give
// an appearance branch texture everywhere.
torch::Tensor textured_faces(int64_t batch) {
  namespace F = torch::nn::functional;
  const auto coarse = F::interpolate(torch::rand({batch, 1, 14, 14}) * 160.0,
                                     F::InterpolateFuncOptions()
                                         .size(std::vector<int64_t>{112, 112})
                                         .mode(torch::kBilinear)
                                         .align_corners(false));
  return (coarse + torch::rand({batch, 1, 112, 112}) * 90.0).clamp(0, 255);
}

TEST(RRRN, VisibilityFromAppearanceWeighsTheRegionsAndTrainsOnPaintedRegions) {
  torch::manual_seed(11);
  RRRNImpl net(RRRNOptions().visibility("appearance"));
  const auto lm = jittered_landmarks(4);
  net.eval();
  // Without face crops the model says what it needs.
  EXPECT_THROW(net.forward({random_flow(4), {}, lm}), std::exception);
  const auto out = net.forward({random_flow(4), {}, lm, {}, textured_faces(4)});
  EXPECT_FALSE(out.aux_loss.defined());  // nothing painted outside training
  ASSERT_TRUE(out.explain.count("region_visibility"));
  const auto v = out.explain.at("region_visibility");
  EXPECT_EQ(v.sizes(), (std::vector<int64_t>{4, kRegions}));
  EXPECT_TRUE(torch::allclose(v.select(1, 0), torch::ones({4})));  // the face is always visible
  EXPECT_TRUE((v > 0).all().item<bool>());
  EXPECT_TRUE((v < 1).slice(1, 1, kRegions).all().item<bool>());
  const auto w = out.explain.at("region_weights");
  EXPECT_TRUE(torch::allclose(w.sum(1), torch::ones({4}), 1e-5, 1e-5));

  // In training, with region_drop, the painted regions give an auxiliary loss, and every
  // parameter (the appearance branch's included) gets a gradient.
  net.train();
  net.set_generator(make_cpu_generator(3));
  const auto y = torch::tensor({0, 1, 2, 1}, torch::kInt64);
  auto trained = net.forward({random_flow(4), y, lm, {}, textured_faces(4)});
  ASSERT_TRUE(trained.aux_loss.defined());
  EXPECT_GT(trained.aux_loss.item<double>(), 0.0);
  (torch::nn::functional::cross_entropy(trained.logits, y) + trained.aux_loss).backward();
  for (const auto& p : net.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(RRRN, VisibilityBranchLearnsToSpotAnOccluder) {
  // Trained on painted-over regions of textured faces only (the auxiliary loss), the branch
  // then gives a region hidden under a flat grey overlay, which it never saw in training
  // (the paint was random shading and noise), a lower visibility than the same region
  // unhidden.
  torch::manual_seed(12);
  RRRNOptions options;
  options.visibility("appearance").region_drop(0.4).dropout(0.0);
  RRRNImpl net(options);
  net.set_generator(make_cpu_generator(4));
  std::vector<torch::Tensor> params;
  for (const auto& p : net.named_parameters()) {
    if (p.key().rfind("appearance", 0) == 0 || p.key().rfind("visibility", 0) == 0) params.push_back(p.value());
  }
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(3e-3));
  net.train();
  for (int step = 0; step < 120; ++step) {
    const auto out = net.forward({random_flow(16), {}, jittered_landmarks(16), {}, textured_faces(16)});
    optimizer.zero_grad();
    out.aux_loss.backward();
    optimizer.step();
  }
  net.eval();
  const auto lm = jittered_landmarks(8);
  const auto flow = random_flow(8);
  auto faces = textured_faces(8);
  const auto clean = net.forward({flow, {}, lm, {}, faces}).explain.at("region_visibility");
  // A flat overlay of level 200 on the mouth box (crop pixels: 4 per flow pixel).
  const auto box = rrrn_region_boxes(lm, 28, 0.04, 0.18);
  for (int64_t i = 0; i < 8; ++i) {
    const auto x0 = static_cast<int64_t>(std::max(0.0, (box[i][7][0].item<double>() + 0.5) * 4));
    const auto x1 = static_cast<int64_t>(std::min(112.0, (box[i][7][2].item<double>() + 0.5) * 4));
    const auto y0 = static_cast<int64_t>(std::max(0.0, (box[i][7][1].item<double>() + 0.5) * 4));
    const auto y1 = static_cast<int64_t>(std::min(112.0, (box[i][7][3].item<double>() + 0.5) * 4));
    faces[i].slice(1, y0, y1).slice(2, x0, x1).fill_(200.0);
  }
  const auto hidden = net.forward({flow, {}, lm, {}, faces}).explain.at("region_visibility");
  EXPECT_LT(hidden.select(1, 7).mean().item<double>() + 0.2, clean.select(1, 7).mean().item<double>())
      << "mouth visibility hidden " << hidden.select(1, 7).mean().item<double>() << " clean "
      << clean.select(1, 7).mean().item<double>();
  // Its weight drops with it.
  EXPECT_LT(net.forward({flow, {}, lm, {}, faces}).explain.at("region_weights").select(1, 7).mean().item<double>(),
            net.forward({flow, {}, lm, {}, textured_faces(8)}).explain.at("region_weights").select(1, 7).mean().item<double>());
}

TEST(RRRN, VisibilityIsChosenFromTheData) {
  std::map<std::string, std::string> options;
  fit_model_to_data("rrrn", options, DataTraits{true, false, false});
  EXPECT_EQ(options.at("visibility"), "appearance");
  options.clear();
  fit_model_to_data("rrrn", options, DataTraits{});
  EXPECT_EQ(options.at("visibility"), "none");
  options = {{"visibility", "appearance"}};
  EXPECT_THROW(fit_model_to_data("rrrn", options, DataTraits{}), ConfigError);
  options = {{"visibility", "none"}};
  fit_model_to_data("rrrn", options, DataTraits{true, true, false});
  EXPECT_EQ(options.at("visibility"), "none");
  // Runs recorded before the option (no key, no spec version) were flow only.
  EXPECT_EQ(recorded_model_options("rrrn", {{"model_options", nlohmann::json::object()}})
                .at("visibility"),
            "none");
  // auto must be fitted to the data before a model is built.
  EXPECT_THROW(make_model("rrrn", ModelConfig{}), ConfigError);
  EXPECT_THROW(RRRNImpl(RRRNOptions().visibility("maybe")), ConfigError);
  EXPECT_THROW(RRRNImpl(RRRNOptions().visibility_weight(-1)), ConfigError);
}

TEST(RRRN, TinyLosoOnTheSyntheticSetRuns) {
  namespace fs = std::filesystem;
  const auto dataset =
      data::make_synthetic(data::SyntheticOptions().subjects(4).samples_per_subject(8).face_size(0));
  ASSERT_TRUE(dataset.landmarks.defined());
  const auto dir = fs::temp_directory_path() / ("mer_test_rrrn_loso_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  engine::LosoOptions options;
  options.train.model = "rrrn";
  options.train.epochs = 2;
  options.train.batch_size = 16;
  options.train.lr = 1e-3;
  options.quiet = true;
  options.threads = 2;
  options.landmarks_label = "synthetic generator";
  const auto result = engine::run_loso(dataset, options, dir.string());
  ASSERT_TRUE(result.failures.empty());
  EXPECT_EQ(result.summary["folds"], 4);
  EXPECT_EQ(result.summary["model"], "rrrn");
  std::ifstream in(dir / "explain.json");
  const auto explain = nlohmann::json::parse(in);
  EXPECT_EQ(explain["model_info"]["regions"].size(), static_cast<size_t>(kRegions));
  ASSERT_EQ(explain["samples"].size(), static_cast<size_t>(dataset.size()));
  const auto w = explain["samples"][0]["explain"]["region_weights"].get<std::vector<double>>();
  ASSERT_EQ(w.size(), static_cast<size_t>(kRegions));
  double total = 0;
  for (double v : w) total += v;
  EXPECT_NEAR(total, 1.0, 1e-4);
  fs::remove_all(dir);
}

}  // namespace mer::models
