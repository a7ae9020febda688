#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/engine/checkpoint.h"
#include "mer/models/dere_grl.h"
#include "mer/models/registry.h"

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

// A flow map with no motion (constant channels) except a Gaussian blob of displacement
// centred at (x, y) pixels: what the min-max normalised maps look like around one action.
torch::Tensor blob_flow(double x, double y, int64_t side = 28) {
  const auto coords = torch::arange(side, torch::kFloat32);
  const auto d2 = (coords.view({1, side}) - x).pow(2) + (coords.view({side, 1}) - y).pow(2);
  const auto blob = torch::exp(-d2 / (2.0 * 1.5 * 1.5));
  auto flow = torch::full({1, 3, side, side}, 100.0f);
  flow[0][0] += 120.0 * blob;
  flow[0][1] -= 90.0 * blob;
  flow[0][2] += 150.0 * blob;
  return flow.round();
}

}  // namespace

TEST(DeReGRL, OutputShapesAndExplanations) {
  torch::manual_seed(0);
  DeReGRLImpl net;
  net.eval();
  const auto out = net.forward({random_flow(4), {}, jittered_landmarks(4)});
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_FALSE(out.aux_loss.defined());
  ASSERT_EQ(out.explain.size(), 3u);
  EXPECT_EQ(out.explain.at("component_action").sizes(), (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(out.explain.at("relation_matrix").sizes(), (std::vector<int64_t>{4, 8, 8}));
  EXPECT_EQ(out.explain.at("landmarks").sizes(), (std::vector<int64_t>{4, 68, 2}));
  EXPECT_GE(out.explain.at("component_action").min().item<double>(), 0.0);
  // Each row of the reconstructed relation graph is a distribution over the components.
  const auto rows = out.explain.at("relation_matrix").sum(2);
  EXPECT_TRUE(torch::allclose(rows, torch::ones_like(rows), 1e-5, 1e-5));

  DeReGRLImpl coarse(DeReGRLOptions().partition("coarse").num_classes(5).input_size(40).patch(1)
                         .cnn_channels(0).gcn_layers(1));
  coarse.eval();
  const auto out5 = coarse.forward({random_flow(2, 40), {}, jittered_landmarks(2, 40)});
  EXPECT_EQ(out5.logits.sizes(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(out5.explain.at("component_action").sizes(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(out5.explain.at("relation_matrix").sizes(), (std::vector<int64_t>{2, 5, 5}));
  EXPECT_THROW(coarse.forward({random_flow(2, 28), {}, {}}), Error);
  EXPECT_THROW(coarse.forward({random_flow(2, 40), {}, torch::zeros({2, 5, 2})}), Error);
}

TEST(DeReGRL, PartitionCoversEveryNodeExactlyOnce) {
  for (const std::string partition : {"fine", "coarse"}) {
    const auto components = face_components(partition);
    std::vector<int> count(68, 0);
    std::set<std::string> names;
    for (const auto& c : components) {
      EXPECT_FALSE(c.landmarks.empty()) << c.name;
      EXPECT_TRUE(names.insert(c.name).second) << "duplicate name " << c.name;
      for (auto i : c.landmarks) {
        ASSERT_GE(i, 0);
        ASSERT_LT(i, 68);
        ++count[static_cast<size_t>(i)];
      }
    }
    for (int i = 0; i < 68; ++i) EXPECT_EQ(count[static_cast<size_t>(i)], 1) << partition << " node " << i;
    // The model's mask is the same partition.
    DeReGRLImpl net(DeReGRLOptions().partition(partition));
    const auto mask = net.named_buffers()["partition_mask"];
    EXPECT_TRUE(torch::equal(mask.sum(0), torch::ones({68})));
    EXPECT_EQ(mask.size(0), static_cast<int64_t>(components.size()));
  }
  EXPECT_EQ(face_components("fine").size(), 8u);
  EXPECT_EQ(face_components("coarse").size(), 5u);
  EXPECT_THROW(face_components("eyes-only"), ConfigError);
  // The groups of the fine partition are the coarse components.
  std::set<std::string> groups, coarse;
  for (const auto& c : face_components("fine")) groups.insert(c.group);
  for (const auto& c : face_components("coarse")) coarse.insert(c.name);
  EXPECT_EQ(groups, coarse);
}

TEST(DeReGRL, ExplainInfoNamesTheComponents) {
  DeReGRLImpl net;
  const auto info = net.explain_info();
  ASSERT_EQ(info["components"].size(), 8u);
  EXPECT_EQ(info["components"][1]["name"], "brow_left");
  EXPECT_EQ(info["components"][1]["landmarks"].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{17, 18, 19, 20, 21}));
  EXPECT_EQ(info["labels"]["component_action"].size(), 8u);
  EXPECT_EQ(info["labels"]["relation_matrix"], info["labels"]["component_action"]);
}

TEST(DeReGRL, GradientsReachEveryParameter) {
  torch::manual_seed(2);
  DeReGRLImpl net;
  net.train();
  const auto y = torch::tensor({0, 1, 2, 0, 1, 2, 0, 1}, torch::kInt64);
  const auto out = net.forward({random_flow(8), y, jittered_landmarks(8)});
  torch::nn::functional::cross_entropy(out.logits, y).backward();
  for (const auto& p : net.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  for (const char* name : {"adjacency", "map_matrix", "relation_prior", "component_embedding",
                           "cnn1.weight", "gcn.1.weight", "action.weight", "classifier.weight"}) {
    EXPECT_TRUE(net.named_parameters().contains(name)) << name;
  }
}

TEST(DeReGRL, NoMotionNoActionAndActionsStayLocal) {
  torch::manual_seed(3);
  DeReGRLImpl net;
  net.eval();
  // Constant maps: after median centring nothing moves, and no component acts.
  const auto still = net.forward({torch::full({2, 3, 28, 28}, 77.0f), {}, jittered_landmarks(2)});
  EXPECT_EQ(still.explain.at("component_action").abs().max().item<double>(), 0.0);

  // Motion at the mouth only: the mouth components act, the brows (far away) do not.
  const auto t = dere_template_landmarks(28);
  const auto mouth = t.slice(0, 48, 68).mean(0);
  const auto out = net.forward({blob_flow(mouth[0].item<double>(), mouth[1].item<double>()), {},
                                t.unsqueeze(0)});
  const auto a = out.explain.at("component_action")[0];
  const double lips = std::max(a[6].item<double>(), a[7].item<double>());
  EXPECT_GT(lips, 0.0);
  EXPECT_LT(a[1].item<double>(), 1e-2 * lips);  // brow_left
  EXPECT_LT(a[2].item<double>(), 1e-2 * lips);  // brow_right
  // Motion at the left brow only: it is the strongest component.
  const auto brow = t.slice(0, 17, 22).mean(0);
  const auto out2 = net.forward({blob_flow(brow[0].item<double>(), brow[1].item<double>()), {},
                                 t.unsqueeze(0)});
  EXPECT_EQ(out2.explain.at("component_action")[0].argmax().item<int64_t>(), 1);
}

TEST(DeReGRL, MaxPoolingKeepsActionsLocalAndTrainable) {
  // adm_pool=max (a component acts as strongly as its most moving point; its gain on the
  // synthetic set's interpretability is measured by DeReGRLInterpretability and
  // docs/benchmarks.md): still maps give no action, motion at one lip corner makes the lips
  // act and not the brows, and every parameter (the map matrix included) gets a gradient.
  torch::manual_seed(6);
  DeReGRLImpl net(DeReGRLOptions().adm_pool("max"));
  net.eval();
  EXPECT_EQ(net.forward({torch::full({2, 3, 28, 28}, 77.0f), {}, jittered_landmarks(2)})
                .explain.at("component_action").abs().max().item<double>(),
            0.0);
  const auto t = dere_template_landmarks(28);
  const auto corner = t[48];
  const auto a = net.forward({blob_flow(corner[0].item<double>(), corner[1].item<double>()), {},
                              t.unsqueeze(0)})
                     .explain.at("component_action")[0];
  EXPECT_GT(a[6].item<double>(), 0.0);                    // upper lip (with the corners)
  EXPECT_LT(a[1].item<double>(), 1e-2 * a[6].item<double>());  // brow_left
  EXPECT_LT(a[2].item<double>(), 1e-2 * a[6].item<double>());  // brow_right
  net.train();
  const auto y = torch::tensor({0, 1, 2, 0}, torch::kInt64);
  torch::nn::functional::cross_entropy(net.forward({random_flow(4), y, jittered_landmarks(4)}).logits, y)
      .backward();
  for (const auto& p : net.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  EXPECT_THROW(DeReGRLImpl(DeReGRLOptions().adm_pool("sum")), ConfigError);
  // New runs train with max and record it; runs recorded without the key (and without a
  // spec version) load as mean, what they were trained with.
  EXPECT_EQ(resolve_model_options("dere-grl", {}, DataTraits{}).at("adm_pool"), "max");
  EXPECT_EQ(resolve_model_options("dere-grl", {{"adm_pool", "mean"}}, DataTraits{}).at("adm_pool"),
            "mean");
  EXPECT_EQ(DeReGRLOptions().adm_pool(), "max");
  EXPECT_EQ(recorded_model_options("dere-grl", {{"model_options", nlohmann::json::object()}})
                .at("adm_pool"),
            "mean");
  EXPECT_EQ(recorded_model_options("dere-grl", {{"model_options", {{"adm_pool", "max"}}}})
                .at("adm_pool"),
            "max");
}

TEST(DeReGRL, LandmarksPlaceTheNodesAndTheTemplateIsTheFallback) {
  torch::manual_seed(4);
  DeReGRLImpl net;
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

TEST(DeReGRL, TemplateIsTheSyntheticGeneratorsTemplateFace) {
  for (int64_t side : {28, 64}) {
    const auto ours = dere_template_landmarks(side);
    const auto generator = data::template_landmarks(side);
    EXPECT_LT((ours - generator).abs().max().item<double>(), 1e-4 * side + 1e-5) << side;
  }
}

TEST(DeReGRL, InvalidOptionsAreRejected) {
  EXPECT_THROW(DeReGRLImpl(DeReGRLOptions().partition("halves")), ConfigError);
  EXPECT_THROW(DeReGRLImpl(DeReGRLOptions().centering("mean")), ConfigError);
  EXPECT_THROW(DeReGRLImpl(DeReGRLOptions().patch(2)), ConfigError);
  EXPECT_THROW(DeReGRLImpl(DeReGRLOptions().patch_step(0)), ConfigError);
  EXPECT_THROW(DeReGRLImpl(DeReGRLOptions().gcn_layers(0)), ConfigError);
  EXPECT_THROW(DeReGRLImpl(DeReGRLOptions().adjacency_sigma(-1)), ConfigError);
  EXPECT_THROW(DeReGRLImpl(DeReGRLOptions().dropout(1.0)), ConfigError);
  EXPECT_THROW(DeReGRLImpl(DeReGRLOptions().node_dim(0)), ConfigError);
  ModelConfig config;
  config.options = {{"partition", "coarse"}, {"cnn_channels", "0"}, {"patch_step", "1.5"}};
  EXPECT_NO_THROW(make_model("dere-grl", config));
  config.options = {{"heads", "4"}};
  EXPECT_THROW(make_model("dere-grl", config), ConfigError);
  config.options = {{"node_dim", "2.5"}};
  EXPECT_THROW(make_model("dere-grl", config), ConfigError);
  const auto& spec = find_model("dere-grl");
  EXPECT_TRUE(spec.inputs_for(spec.resolve_options({})).landmarks);
}

TEST(DeReGRL, SaveAndLoadGiveIdenticalOutputs) {
  torch::manual_seed(5);
  ModelConfig config;
  config.options = {{"node_dim", "24"}, {"partition", "coarse"}};
  auto model = make_model("dere-grl", config);
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
  const auto path = (std::filesystem::temp_directory_path() / "mer_test_dere_grl.pt").string();
  nlohmann::json meta = {{"model", "dere-grl"},
                         {"model_options", config.options},
                         {"model_spec_version", find_model("dere-grl").version},
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

TEST(DeReGRL, OwnGeneratorMakesTrainingModeDropoutReproducible) {
  const auto x = random_flow(4);
  const auto lm = jittered_landmarks(4);
  auto build = [](uint64_t generator_seed) {
    torch::manual_seed(7);
    auto net = std::make_shared<DeReGRLImpl>();
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
}

}  // namespace mer::models
