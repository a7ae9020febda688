#include "mer/models/dere_grl.h"

#include <cmath>

#include "mer/core/error.h"
#include "mer/models/dere_grl_stack.h"
#include "mer/models/registry.h"
#include "mer/models/landmark_groups.h"

namespace mer::models {

namespace F = torch::nn::functional;

namespace {

constexpr int64_t kNodes = 68;
// Floor of the adjacency logits at the start: far-apart landmarks begin with a weight of
// e^-10 relative to a node's own, small enough not to mix distant components, large enough
// for training to grow a useful long-range link.
constexpr double kAdjacencyFloor = -10.0;

// The synthetic generator's template face (data/synthetic.cpp, scale 1, centred, no jitter)
// in normalised image coordinates (x, y in [0, 1], pixel centre of a map of side S at
// (j + 0.5) / S); test_dere_grl checks that it matches data::template_landmarks.
constexpr float kTemplate[kNodes][2] = {
    {0.1010f, 0.3700f}, {0.1087f, 0.4793f}, {0.1314f, 0.5843f}, {0.1682f, 0.6811f},
    {0.2179f, 0.7660f}, {0.2783f, 0.8356f}, {0.3473f, 0.8874f}, {0.4222f, 0.9192f},
    {0.5000f, 0.9300f}, {0.5778f, 0.9192f}, {0.6527f, 0.8874f}, {0.7217f, 0.8356f},
    {0.7821f, 0.7660f}, {0.8318f, 0.6811f}, {0.8686f, 0.5843f}, {0.8913f, 0.4793f},
    {0.8990f, 0.3700f}, {0.2300f, 0.2650f}, {0.2800f, 0.2540f}, {0.3300f, 0.2480f},
    {0.3800f, 0.2490f}, {0.4300f, 0.2550f}, {0.5700f, 0.2550f}, {0.6200f, 0.2490f},
    {0.6700f, 0.2480f}, {0.7200f, 0.2540f}, {0.7700f, 0.2650f}, {0.5000f, 0.3800f},
    {0.5000f, 0.4533f}, {0.5000f, 0.5267f}, {0.5000f, 0.6000f}, {0.4250f, 0.6100f},
    {0.4625f, 0.6185f}, {0.5000f, 0.6220f}, {0.5375f, 0.6185f}, {0.5750f, 0.6100f},
    {0.2550f, 0.3700f}, {0.3050f, 0.3417f}, {0.3550f, 0.3417f}, {0.4050f, 0.3700f},
    {0.3550f, 0.3983f}, {0.3050f, 0.3983f}, {0.5950f, 0.3700f}, {0.6450f, 0.3417f},
    {0.6950f, 0.3417f}, {0.7450f, 0.3700f}, {0.6950f, 0.3983f}, {0.6450f, 0.3983f},
    {0.3600f, 0.7600f}, {0.4067f, 0.7525f}, {0.4533f, 0.7470f}, {0.5000f, 0.7450f},
    {0.5467f, 0.7470f}, {0.5933f, 0.7525f}, {0.6400f, 0.7600f}, {0.5933f, 0.7900f},
    {0.5467f, 0.8120f}, {0.5000f, 0.8200f}, {0.4533f, 0.8120f}, {0.4067f, 0.7900f},
    {0.3720f, 0.7600f}, {0.4300f, 0.7649f}, {0.5000f, 0.7670f}, {0.5700f, 0.7649f},
    {0.6280f, 0.7600f}, {0.5700f, 0.7763f}, {0.5000f, 0.7830f}, {0.4300f, 0.7763f},
};

}  // namespace

void DeReGRLOptions::validate() const {
  auto fail = [](const std::string& what) { throw ConfigError("dere-grl: " + what); };
  if (num_classes() < 2) fail("num_classes must be >= 2");
  if (input_size() < 8) fail("input_size must be >= 8");
  if (partition() != "fine" && partition() != "coarse") fail("partition must be fine or coarse");
  if (centering() != "median" && centering() != "none") fail("centering must be median or none");
  if (patch() < 1 || patch() > 9 || patch() % 2 == 0) fail("patch must be odd, 1..9");
  if (!(patch_step() > 0.0) || patch_step() > input_size()) {
    fail("patch_step must be in (0, input_size]");
  }
  if (cnn_channels() < 0) fail("cnn_channels must be >= 0");
  if (adm_pool() != "mean" && adm_pool() != "max") fail("adm_pool must be mean or max");
  if (node_dim() < 1 || action_dim() < 1 || relation_dim() < 1) {
    fail("node_dim, action_dim and relation_dim must be >= 1");
  }
  if (gcn_layers() < 1 || gcn_layers() > 8) fail("gcn_layers must be in 1..8");
  if (neighbours() < 1 || neighbours() > kNodes) fail("neighbours must be in 1..68");
  if (!(adjacency_sigma() > 0.0) || adjacency_sigma() > 1.0) {
    fail("adjacency_sigma must be in (0, 1]");
  }
  if (dropout() < 0.0 || dropout() >= 1.0) fail("dropout must be in [0, 1)");
  if (!(action_sparsity() >= 0.0)) fail("action_sparsity must be >= 0");
}

std::vector<FaceComponent> face_components(const std::string& partition) {
  if (partition == "fine") {
    return {{"jaw", "jaw", landmark_range(0, 16)},
            {"brow_left", "brows", landmark_range(17, 21)},
            {"brow_right", "brows", landmark_range(22, 26)},
            {"nose", "nose", landmark_range(27, 35)},
            {"eye_left", "eyes", landmark_range(36, 41)},
            {"eye_right", "eyes", landmark_range(42, 47)},
            {"upper_lip", "mouth",
             concat_landmarks(landmark_range(48, 54), landmark_range(60, 64))},
            {"lower_lip", "mouth",
             concat_landmarks(landmark_range(55, 59), landmark_range(65, 67))}};
  }
  if (partition == "coarse") {
    return {{"jaw", "jaw", landmark_range(0, 16)},
            {"brows", "brows", landmark_range(17, 26)},
            {"nose", "nose", landmark_range(27, 35)},
            {"eyes", "eyes", landmark_range(36, 47)},
            {"mouth", "mouth", landmark_range(48, 67)}};
  }
  throw ConfigError("dere-grl: partition must be fine or coarse, got '" + partition + "'");
}

torch::Tensor dere_template_landmarks(int64_t side) {
  auto out = torch::empty({kNodes, 2}, torch::kFloat32);
  float* p = out.data_ptr<float>();
  for (int64_t i = 0; i < kNodes; ++i) {
    for (int c = 0; c < 2; ++c) {
      p[2 * i + c] = kTemplate[i][c] * static_cast<float>(side) - 0.5f;
    }
  }
  return out;
}

torch::Tensor dere_sample(const torch::Tensor& map, const torch::Tensor& grid) {
  return F::grid_sample(map, grid,
                        F::GridSampleFuncOptions()
                            .mode(torch::kBilinear)
                            .padding_mode(torch::kZeros)
                            .align_corners(false));
}

DeReGRLImpl::DeReGRLImpl(const DeReGRLOptions& options) : options_(options) {
  options_.validate();
  components_ = face_components(options_.partition());
  const int64_t c = static_cast<int64_t>(components_.size());
  const int64_t side = options_.input_size();
  const int64_t d = options_.node_dim(), a = options_.action_dim(), r = options_.relation_dim();

  if (options_.cnn_channels() > 0) {
    const int64_t k = options_.cnn_channels();
    cnn1 = register_module(
        "cnn1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, k, 3).padding(1).bias(false)));
    cnn2 = register_module(
        "cnn2", torch::nn::Conv2d(torch::nn::Conv2dOptions(k, k, 3).padding(1).bias(false)));
  }
  const int64_t raw = 3 * options_.patch() * options_.patch();
  node_encoder = register_module(
      "node_encoder",
      torch::nn::Linear(torch::nn::LinearOptions(raw + options_.cnn_channels(), d).bias(false)));

  // The learnable adjacency: each node's `neighbours` nearest template nodes (itself first),
  // with logits from their proximity in the template (normalised units, so the same for any
  // input size).
  {
    const auto t = dere_template_landmarks(1) + 0.5;  // normalised coordinates
    const auto d2 = (t.unsqueeze(1) - t.unsqueeze(0)).pow(2).sum(-1);
    // Ties (none in the template) broken by index: a stable sort keeps the order fixed.
    const auto order = std::get<1>(d2.sort(/*stable=*/true, /*dim=*/1, /*descending=*/false));
    const auto nearest = order.slice(1, 0, options_.neighbours()).contiguous();
    const double sigma = options_.adjacency_sigma();
    const auto logits = (-d2.gather(1, nearest) / (2.0 * sigma * sigma)).clamp_min(kAdjacencyFloor);
    neighbour_index_ = register_buffer("neighbour_index", nearest.flatten());
    adjacency = register_parameter("adjacency", logits.contiguous());
  }
  gcn = register_module("gcn", torch::nn::ModuleList());
  for (int64_t l = 0; l < options_.gcn_layers(); ++l) {
    gcn->push_back(torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(false)));
  }

  auto mask = torch::zeros({c, kNodes}, torch::kFloat32);
  for (int64_t i = 0; i < c; ++i) {
    for (int64_t node : components_[static_cast<size_t>(i)].landmarks) mask[i][node] = 1.0f;
  }
  partition_mask_ = register_buffer("partition_mask", mask);
  map_matrix = register_parameter("map_matrix", torch::zeros({c, kNodes}));  // uniform pooling
  action = register_module("action",
                           torch::nn::Linear(torch::nn::LinearOptions(d, a).bias(false)));

  component_embedding = register_parameter("component_embedding", torch::randn({c, a}) * 0.1);
  query = register_module("query", torch::nn::Linear(torch::nn::LinearOptions(a, r).bias(false)));
  key = register_module("key", torch::nn::Linear(torch::nn::LinearOptions(a, r).bias(false)));
  relation_prior = register_parameter("relation_prior", torch::zeros({c, c}));
  relation_graph = register_module("relation_graph", torch::nn::Linear(a, a));
  relation_self = register_module("relation_self",
                                  torch::nn::Linear(torch::nn::LinearOptions(a, a).bias(false)));
  classifier = register_module("classifier", torch::nn::Linear(c * a, options_.num_classes()));

  template_landmarks_ = register_buffer("template_landmarks", dere_template_landmarks(side));
  // Offsets of the sampling patch, in pixels, then in grid_sample's normalised units
  // (align_corners = false: one pixel is 2 / side).
  const int64_t p = options_.patch();
  auto offsets = torch::empty({p * p, 2}, torch::kFloat32);
  for (int64_t i = 0; i < p; ++i) {
    for (int64_t j = 0; j < p; ++j) {
      offsets[i * p + j][0] = static_cast<float>((j - p / 2) * options_.patch_step());
      offsets[i * p + j][1] = static_cast<float>((i - p / 2) * options_.patch_step());
    }
  }
  patch_offsets_ = register_buffer("patch_offsets", offsets * (2.0 / static_cast<double>(side)));
}

nlohmann::json DeReGRLImpl::explain_info() const {
  nlohmann::json components = nlohmann::json::array();
  std::vector<std::string> names;
  for (const auto& comp : components_) {
    components.push_back({{"name", comp.name}, {"group", comp.group}, {"landmarks", comp.landmarks}});
    names.push_back(comp.name);
  }
  return {{"components", components},
          {"labels", {{"component_action", names}, {"relation_matrix", names}}},
          {"landmark_space", "flow-map pixels, pixel centres at integers"}};
}

Output DeReGRLImpl::forward(const Batch& batch) {
  const int64_t side = options_.input_size();
  MER_CHECK(batch.flow.dim() == 4 && batch.flow.size(1) == 3 && batch.flow.size(2) == side &&
                batch.flow.size(3) == side,
            "dere-grl expects flow of shape [B, 3, " + std::to_string(side) + ", " +
                std::to_string(side) + "]");
  const int64_t b = batch.flow.size(0);
  auto x = batch.flow / 255.0;
  if (options_.centering() == "median") {
    x = x - std::get<0>(x.flatten(2).median(2)).view({b, 3, 1, 1});
  }

  torch::Tensor points;  // [B, 68, 2] flow-map pixels
  if (batch.landmarks.defined()) {
    MER_CHECK(batch.landmarks.dim() == 3 && batch.landmarks.size(0) == b &&
                  batch.landmarks.size(1) == kNodes && batch.landmarks.size(2) == 2,
              "dere-grl expects landmarks of shape [B, 68, 2]");
    points = batch.landmarks.to(x.scalar_type());
  } else {
    warn_template_landmarks_once("dere-grl", "models/dere_grl.h");
    points = template_landmarks_.unsqueeze(0).expand({b, kNodes, 2});
  }
  // Pixel centres -> grid_sample's normalised coordinates (align_corners = false).
  const auto centre = (points * 2.0 + 1.0) / static_cast<double>(side) - 1.0;  // [B, 68, 2]
  const auto patch_grid = centre.unsqueeze(2) + patch_offsets_.view({1, 1, -1, 2});
  // [B, 3, 68, P*P] -> [B, 68, 3*P*P]
  auto features = dere_sample(x, patch_grid).permute({0, 2, 1, 3}).reshape({b, kNodes, -1});
  if (cnn1) {
    const auto embedded = torch::relu(cnn2(torch::relu(cnn1(x))));
    const auto at_nodes = dere_sample(embedded, centre.unsqueeze(2)).squeeze(3).transpose(1, 2);
    features = torch::cat({features, at_nodes}, 2);
  }
  auto h = torch::relu(node_encoder(features));  // [B, 68, D]

  // A h over each node's neighbourhood: a gather and a weighted sum, far cheaper than a dense
  // 68 x 68 product (LibTorch's matrix products are the bottleneck of this small model on
  // the CPU).
  const int64_t k = options_.neighbours();
  const auto weights = torch::softmax(adjacency, 1).view({1, kNodes, k, 1});
  for (const auto& layer : *gcn) {
    const auto gathered = h.index_select(1, neighbour_index_).view({b, kNodes, k, -1});
    h = h + torch::relu(layer->as<torch::nn::LinearImpl>()->forward((gathered * weights).sum(2)));
  }

  // ADM: masked softmax of the map matrix over each component's nodes.
  const auto logits = map_matrix.masked_fill(partition_mask_ == 0, -1e9);
  const auto pool = torch::softmax(logits, 1) * partition_mask_;  // exact zeros outside
  torch::Tensor pooled;  // [B, C, node_dim]
  if (options_.adm_pool() == "max") {
    // The map's weights times the component's size (1 for every node at the start), then
    // the largest value over the component's nodes: h >= 0 (ReLU and residual sums of ReLUs)
    // and the other components' nodes are exact zeros, so they never win.
    const auto scaled = pool * partition_mask_.sum(1, /*keepdim=*/true);                    // [C, 68]
    pooled = (scaled.unsqueeze(0).unsqueeze(-1) * h.unsqueeze(1)).amax(2);                  // [B, C, D]
  } else {
    pooled = torch::matmul(pool, h);
  }
  const auto actions = action(pooled);  // [B, C, A]
  const auto strength = actions.norm(2, -1);                      // [B, C]

  // RRM.
  const auto z = actions + component_embedding.unsqueeze(0);
  const auto scores = torch::matmul(query(z), key(z).transpose(1, 2)) /
                          std::sqrt(static_cast<double>(options_.relation_dim())) +
                      relation_prior.unsqueeze(0);
  const auto relation = torch::softmax(scores, 2);  // [B, C, C]
  const auto g = torch::relu(relation_graph(torch::matmul(relation, z)) + relation_self(z));

  Output out;
  out.logits = classifier(dropout(g.flatten(1), options_.dropout()));
  if (batch.labels.defined() && options_.action_sparsity() > 0.0) {
    out.aux_loss = options_.action_sparsity() * strength.sum(1).mean();
  }
  out.explain["component_action"] = strength.detach();
  out.explain["relation_matrix"] = relation.detach();
  out.explain["landmarks"] = points.detach();
  return out;
}

}  // namespace mer::models

MER_MODEL_SPEC(dere_grl) {
  using namespace mer::models;
  const DeReGRLOptions d;
  ModelSpec spec;
  spec.name = "dere-grl";
  spec.summary =
      "DeRe-GRL (Wei et al. 2023): graph over the 68 landmarks carrying local motion, "
      "per-component action features (ADM), learned relations among them (RRM); explains "
      "each component's action strength and the relation matrix";
  spec.version = 1;
  spec.options = {
      choice_option("partition", d.partition(), {"fine", "coarse"},
                    "facial components: fine = 8, coarse = 5"),
      choice_option("centering", d.centering(), {"median", "none"},
                    "subtract the map's median motion (head shift) before sampling"),
      int_option("patch", d.patch(), 1, 15, "odd side of the sampling grid per landmark"),
      float_option("patch_step", d.patch_step(), 0.01, 16.0, "its step in flow-map pixels"),
      int_option("cnn_channels", d.cnn_channels(), 0, 256, "shared CNN embedding (0 = none)"),
      int_option("node_dim", d.node_dim(), 1, 1024, "node feature size"),
      int_option("gcn_layers", d.gcn_layers(), 1, 8, "graph convolution layers"),
      int_option("neighbours", d.neighbours(), 1, 68,
                 "adjacency support per node, itself included (68 = dense)"),
      float_option("adjacency_sigma", d.adjacency_sigma(), 1e-6, 10.0,
                   "proximity scale of the adjacency's start (face-side fraction)"),
      int_option("action_dim", d.action_dim(), 1, 1024, "size of each action feature"),
      int_option("relation_dim", d.relation_dim(), 1, 1024, "query/key size of the RRM"),
      float_option("dropout", d.dropout(), 0.0, 0.99, "dropout before the classifier"),
      float_option("action_sparsity", d.action_sparsity(), 0.0, 100.0,
                   "weight of a group-lasso loss on the action features"),
      choice_option("adm_pool", d.adm_pool(), {"max", "mean"},
                    "how the ADM pools a component's nodes (runs recorded without it used mean)"),
  };
  spec.training = TrainingDefaults{30, 30, 1e-3, 64, "adam", 1e-4};
  spec.inputs = [](const OptionValues&) {
    ModelInputs in;
    in.landmarks = true;
    return in;
  };
  spec.explanations = {
      {"component_action", ExplanationKind::kComponentStrengths,
       "action strength |a_c| of each facial component (>= 0, larger = moved more)", "action strength"},
      {"relation_matrix", ExplanationKind::kRelationMatrix,
       "learned relation of each component (row) to the others (columns); rows sum to 1", "relation weight"},
      {"landmarks", ExplanationKind::kLandmarks, "the 68 landmarks the graph was built on", "flow-map px"},
  };
  // Version 0 (no version recorded): adm_pool defaulted to mean.
  spec.migrate = [](std::map<std::string, std::string>& options, int recorded_version) {
    if (recorded_version < 1 && !options.count("adm_pool")) options["adm_pool"] = "mean";
  };
  auto options_of = [](int64_t num_classes, int64_t input_size, const OptionValues& o) {
    return DeReGRLOptions()
        .num_classes(num_classes)
        .input_size(input_size)
        .partition(o.text("partition"))
        .centering(o.text("centering"))
        .patch(o.integer("patch"))
        .patch_step(o.number("patch_step"))
        .cnn_channels(o.integer("cnn_channels"))
        .node_dim(o.integer("node_dim"))
        .gcn_layers(o.integer("gcn_layers"))
        .neighbours(o.integer("neighbours"))
        .adjacency_sigma(o.number("adjacency_sigma"))
        .action_dim(o.integer("action_dim"))
        .relation_dim(o.integer("relation_dim"))
        .dropout(o.number("dropout"))
        .action_sparsity(o.number("action_sparsity"))
        .adm_pool(o.text("adm_pool"));
  };
  spec.make = [options_of](int64_t num_classes, int64_t input_size, const OptionValues& o) -> ModelPtr {
    return std::make_shared<DeReGRLImpl>(options_of(num_classes, input_size, o));
  };
  spec.fold_stack = [options_of](int64_t num_classes, int64_t input_size, const OptionValues& o,
                                 int64_t folds) -> std::shared_ptr<FoldStack> {
    return std::make_shared<DeReGRLStack>(options_of(num_classes, input_size, o), folds);
  };
  return spec;
}
