#include "mer/models/htnet.h"

#include <cmath>

#include "mer/core/error.h"
#include "mer/models/dere_grl.h"
#include "mer/models/htnet_stack.h"
#include "mer/models/landmark_groups.h"
#include "mer/models/registry.h"

namespace mer::models {

namespace F = torch::nn::functional;

namespace {

constexpr int64_t kAreas = 4;

}  // namespace

int64_t htnet_block_side(const HTNetOptions& o) {
  return o.input_size() / o.patch() / (int64_t{1} << (o.hierarchies() - 1));
}

void HTNetOptions::validate() const {
  auto fail = [](const std::string& what) { throw ConfigError("htnet: " + what); };
  if (num_classes() < 2) fail("num_classes must be >= 2");
  if (input_size() < 4 || input_size() % 2 != 0) fail("input_size must be even and >= 4");
  if (patch() < 1) fail("patch must be >= 1");
  if (dim() < 1) fail("dim must be >= 1");
  if (heads() < 1 || heads() > dim()) fail("heads must be in 1..dim");
  if (hierarchies() < 1 || hierarchies() > 6) fail("hierarchies must be in 1..6");
  if (static_cast<int64_t>(block_repeats().size()) != hierarchies()) {
    fail("block_repeats must list one count per level (" + std::to_string(hierarchies()) +
         " values for hierarchies=" + std::to_string(hierarchies()) + ")");
  }
  for (int64_t r : block_repeats()) {
    if (r < 1) fail("block_repeats must be >= 1");
  }
  if (mlp_mult() < 1) fail("mlp_mult must be >= 1");
  if (!(dropout() >= 0.0) || dropout() >= 1.0) fail("dropout must be in [0, 1)");
  const int64_t s = input_size(), levels_below = int64_t{1} << (hierarchies() - 1);
  if (s % patch() != 0 || (s / patch()) % levels_below != 0) {
    fail("the map side " + std::to_string(s) + " must be a multiple of patch (" +
         std::to_string(patch()) + ") times 2^(hierarchies-1) (" + std::to_string(levels_below) +
         ")");
  }
}

const std::vector<std::string>& htnet_area_names() {
  static const std::vector<std::string> names = {"left_eye", "right_eye", "left_lip_corner",
                                                 "right_lip_corner"};
  return names;
}

torch::Tensor htnet_area_origins(const torch::Tensor& landmarks, int64_t side) {
  MER_CHECK(landmarks.dim() == 3 && landmarks.size(1) == kLandmarks && landmarks.size(2) == 2,
            "htnet_area_origins expects landmarks [B, 68, 2]");
  const auto points = landmarks.detach().to(torch::kFloat32);
  const auto centres = torch::stack({points.slice(1, 36, 42).mean(1), points.slice(1, 42, 48).mean(1),
                                     points.select(1, 48), points.select(1, 54)},
                                    1);  // [B, 4, 2] (x, y)
  const int64_t area = side / 2;
  const auto origin_xy = (centres.round() - static_cast<double>(area / 2)).clamp(0.0, static_cast<double>(side - area));
  return origin_xy.flip({2}).to(torch::kInt64);  // (y0, x0)
}

HTNetLayerImpl::HTNetLayerImpl(int64_t dim, int64_t heads, int64_t mlp_mult)
    : heads_(heads), head_dim_(dim / heads) {
  const int64_t inner = heads_ * head_dim_;
  attn_norm = register_module("attn_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  to_qkv = register_module("to_qkv", torch::nn::Linear(torch::nn::LinearOptions(dim, 3 * inner).bias(false)));
  to_out = register_module("to_out", torch::nn::Linear(inner, dim));
  mlp_norm = register_module("mlp_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  mlp_in = register_module("mlp_in", torch::nn::Linear(dim, dim * mlp_mult));
  mlp_out = register_module("mlp_out", torch::nn::Linear(dim * mlp_mult, dim));
}

torch::Tensor HTNetLayerImpl::forward(const torch::Tensor& x, const HTNetDropout& drop) {
  const int64_t n = x.size(0), t = x.size(1);
  const auto qkv = to_qkv(layer_norm_fp32(attn_norm, x)).view({n, t, 3, heads_, head_dim_}).permute({2, 0, 3, 1, 4});
  const auto q = qkv[0], k = qkv[1], v = qkv[2];  // [N, heads, T, head width]
  const auto attention = torch::softmax(
      torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_dim_))), -1);
  const auto mixed = torch::matmul(drop(attention), v).transpose(1, 2).reshape({n, t, heads_ * head_dim_});
  auto y = x + drop(to_out(mixed));
  return y + drop(mlp_out(drop(F::gelu(mlp_in(layer_norm_fp32(mlp_norm, y))))));
}

HTNetLevelImpl::HTNetLevelImpl(int64_t dim, int64_t heads, int64_t depth, int64_t mlp_mult,
                               int64_t block, int64_t next_dim)
    : block_(block) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < depth; ++i) layers->push_back(HTNetLayer(dim, heads, mlp_mult));
  if (next_dim > 0) {
    // The last level has no position scalars: see the header.
    pos_emb = register_parameter("pos_emb", torch::randn({block * block}));
    aggregate = register_module(
        "aggregate", torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, next_dim, 3).padding(1)));
    aggregate_norm = register_module("aggregate_norm",
                                     torch::nn::LayerNorm(torch::nn::LayerNormOptions({next_dim})));
  }
}

torch::Tensor HTNetLevelImpl::forward(const torch::Tensor& x, const HTNetDropout& drop) {
  const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3), t = block_;
  const int64_t rows = h / t, cols = w / t;
  // Tokens of each block together: [B * blocks, t * t, C].
  auto tokens = x.view({b, rows, t, cols, t, c}).permute({0, 1, 3, 2, 4, 5}).reshape({b * rows * cols, t * t, c});
  if (pos_emb.defined()) tokens = tokens + pos_emb.view({1, t * t, 1});
  for (const auto& layer : *layers) tokens = layer->as<HTNetLayerImpl>()->forward(tokens, drop);
  auto y = tokens.view({b, rows, cols, t, t, c}).permute({0, 1, 3, 2, 4, 5}).reshape({b, h, w, c});
  if (!aggregate) return y;
  y = aggregate(y.permute({0, 3, 1, 2}));                       // [B, C', H, W]
  y = layer_norm_fp32(aggregate_norm, y.permute({0, 2, 3, 1})).permute({0, 3, 1, 2});
  y = F::max_pool2d(y, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
  return y.permute({0, 2, 3, 1}).contiguous();                   // [B, H/2, W/2, C']
}

HTNetImpl::HTNetImpl(const HTNetOptions& options) : options_(options) {
  options_.validate();
  const int64_t p = options_.patch(), levels_count = options_.hierarchies();
  patch_embed = register_module("patch_embed", torch::nn::Linear(3 * p * p, options_.dim()));
  levels = register_module("levels", torch::nn::ModuleList());
  for (int64_t i = 0; i < levels_count; ++i) {
    const int64_t dim = options_.dim() << i, heads = options_.heads() << i;
    const int64_t next_dim = i + 1 < levels_count ? dim * 2 : 0;
    levels->push_back(HTNetLevel(dim, heads, options_.block_repeats()[static_cast<size_t>(i)],
                                 options_.mlp_mult(), htnet_block_side(options_), next_dim));
  }
  const int64_t last_dim = options_.dim() << (levels_count - 1);
  head_norm = register_module("head_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({last_dim})));
  classifier = register_module("classifier", torch::nn::Linear(last_dim, options_.num_classes()));
  template_landmarks_ =
      register_buffer("template_landmarks", dere_template_landmarks(options_.input_size()));
}

nlohmann::json HTNetImpl::explain_info() const {
  const auto& names = htnet_area_names();
  return {{"areas",
           {{{"name", names[0]}, {"landmarks", landmark_range(36, 41)}},
            {{"name", names[1]}, {"landmarks", landmark_range(42, 47)}},
            {{"name", names[2]}, {"landmarks", std::vector<int64_t>{48}}},
            {{"name", names[3]}, {"landmarks", std::vector<int64_t>{54}}}}},
          {"labels", {{"area_importance", names}, {"area_boxes", names}}},
          {"box_space", "flow-map pixels (x0, y0, x1, y1), pixel centres at integers"},
          {"landmark_space", "flow-map pixels, pixel centres at integers"}};
}

torch::Tensor HTNetImpl::mosaic(const torch::Tensor& flow, const torch::Tensor& origins) const {
  const int64_t b = flow.size(0), c = flow.size(1), s = flow.size(2), a = s / 2;
  const auto steps = torch::arange(a, origins.options());
  const auto rows = origins.select(2, 0).unsqueeze(2) + steps;  // [B, 4, A]
  const auto cols = origins.select(2, 1).unsqueeze(2) + steps;
  const auto index = (rows.unsqueeze(3) * s + cols.unsqueeze(2)).view({b, 1, kAreas * a * a});
  const auto tiles = flow.reshape({b, c, s * s}).gather(2, index.expand({b, c, kAreas * a * a}));
  // [B, C, 2 (row of areas), 2 (column), A, A] -> rows of areas above each other.
  return tiles.view({b, c, 2, 2, a, a}).permute({0, 1, 2, 4, 3, 5}).reshape({b, c, 2 * a, 2 * a});
}

torch::Tensor HTNetImpl::classify(const torch::Tensor& mosaic) {
  const int64_t b = mosaic.size(0), p = options_.patch(), g = mosaic.size(2) / p;
  // Patches flattened with the channel fastest, then the column, then the row.
  auto x = patch_embed(mosaic.reshape({b, 3, g, p, g, p}).permute({0, 2, 4, 3, 5, 1}).reshape({b, g, g, 3 * p * p}));
  const HTNetDropout drop = [this](const torch::Tensor& t) { return dropout(t, options_.dropout()); };
  for (const auto& level : *levels) x = level->as<HTNetLevelImpl>()->forward(x, drop);
  return classifier(layer_norm_fp32(head_norm, x).mean({1, 2}));
}

Output HTNetImpl::forward(const Batch& batch) {
  const int64_t side = options_.input_size();
  MER_CHECK(batch.flow.dim() == 4 && batch.flow.size(1) == 3 && batch.flow.size(2) == side &&
                batch.flow.size(3) == side,
            "htnet expects flow of shape [B, 3, " + std::to_string(side) + ", " +
                std::to_string(side) + "]");
  const int64_t b = batch.flow.size(0);
  const auto flow = batch.flow.to(torch::kFloat32);
  torch::Tensor points;  // [B, 68, 2] flow-map pixels
  if (batch.landmarks.defined()) {
    MER_CHECK(batch.landmarks.dim() == 3 && batch.landmarks.size(0) == b &&
                  batch.landmarks.size(1) == kLandmarks && batch.landmarks.size(2) == 2,
              "htnet expects landmarks of shape [B, 68, 2]");
    points = batch.landmarks.to(flow.device(), torch::kFloat32);
  } else {
    warn_template_landmarks_once("htnet", "models/htnet.h");
    points = template_landmarks_.unsqueeze(0).expand({b, kLandmarks, 2});
  }
  const auto origins = htnet_area_origins(points, side);
  const auto tiled = mosaic(flow, origins);

  Output out;
  out.logits = classify(tiled);
  if (is_training()) return out;

  torch::NoGradGuard no_grad;
  const auto probabilities = torch::softmax(out.logits.detach(), 1);
  const auto predicted = probabilities.argmax(1, /*keepdim=*/true);
  const auto reference = probabilities.gather(1, predicted);  // [B, 1]
  // "No motion" in a min-max normalised map: each channel's median over the whole map.
  const auto still = std::get<0>(flow.reshape({b, 3, side * side}).median(2)).view({b, 3, 1, 1});
  const int64_t a = side / 2;
  std::vector<torch::Tensor> drops;
  for (int64_t k = 0; k < kAreas; ++k) {
    auto occluded = tiled.clone();
    occluded.slice(2, (k / 2) * a, (k / 2 + 1) * a).slice(3, (k % 2) * a, (k % 2 + 1) * a).copy_(
        still.expand({b, 3, a, a}));
    const auto p = torch::softmax(classify(occluded), 1).gather(1, predicted);
    drops.push_back((reference - p).clamp_min(0.0));
  }
  const auto corner = origins.flip({2}).to(torch::kFloat32) - 0.5;  // (x0, y0)
  out.explain["area_importance"] = torch::cat(drops, 1);
  out.explain["area_boxes"] = torch::cat({corner, corner + static_cast<double>(a)}, 2);
  out.explain["landmarks"] = points.detach().clone();
  return out;
}

}  // namespace mer::models

MER_MODEL_SPEC(htnet) {
  using namespace mer::models;
  const HTNetOptions d;
  ModelSpec spec;
  spec.name = "htnet";
  spec.summary =
      "HTNet (Wang et al. 2024): eye and lip-corner areas of the flow map tiled together, "
      "transformer layers inside local blocks, aggregation layers merging the areas level by "
      "level; explains how much each area carries the decision";
  spec.options = {
      int_option("patch", d.patch(), 1, 64, "patch side in map pixels"),
      int_option("dim", d.dim(), 1, 4096, "width of the bottom level (doubles per level)"),
      int_option("heads", d.heads(), 1, 64, "attention heads of the bottom level (doubles per level)"),
      int_option("hierarchies", d.hierarchies(), 1, 6, "levels of the hierarchy"),
      int_list_option("block_repeats", d.block_repeats(), 1, 64,
                      "transformer layers per level, bottom first (one value per level)"),
      int_option("mlp_mult", d.mlp_mult(), 1, 16, "MLP hidden width / level width"),
      float_option("dropout", d.dropout(), 0.0, 0.99, "dropout on attention weights and MLP outputs"),
  };
  // The public training script's settings (Adam, lr 5e-5, batch 256, 800 epochs). The
  // script reports each test subject's best epoch; mer trains the fixed 800 (honest LOSO).
  // The synthetic set is small and easy: fewer epochs reach its plateau.
  spec.training = TrainingDefaults{800, 40, 5e-5, 256, "adam", 0.0};
  // The published size has about 140 million parameters: smoke checks use the same hierarchy
  // at a width that trains in seconds.
  spec.smoke_options = {{"dim", "8"}, {"heads", "1"}, {"block_repeats", "1,1,1"}};
  spec.inputs = [](const OptionValues&) {
    ModelInputs in;
    in.landmarks = true;
    return in;
  };
  spec.explanations = {
      {"area_importance", ExplanationKind::kRegionWeights,
       "fall of the predicted class's probability when the area's motion is removed (0..1)",
       "probability drop"},
      {"area_boxes", ExplanationKind::kRegionBoxes, "the four areas on the flow map", "flow-map px"},
      {"landmarks", ExplanationKind::kLandmarks, "the 68 landmarks the areas were placed by", "flow-map px"},
  };
  auto options_of = [](int64_t num_classes, int64_t input_size, const OptionValues& o) {
    return HTNetOptions()
        .num_classes(num_classes)
        .input_size(input_size)
        .patch(o.integer("patch"))
        .dim(o.integer("dim"))
        .heads(o.integer("heads"))
        .hierarchies(o.integer("hierarchies"))
        .block_repeats(o.int_list("block_repeats"))
        .mlp_mult(o.integer("mlp_mult"))
        .dropout(o.number("dropout"));
  };
  spec.make = [options_of](int64_t num_classes, int64_t input_size, const OptionValues& o) -> ModelPtr {
    return std::make_shared<HTNetImpl>(options_of(num_classes, input_size, o));
  };
  spec.fold_stack = [options_of](int64_t num_classes, int64_t input_size, const OptionValues& o,
                                 int64_t folds) -> std::shared_ptr<FoldStack> {
    return std::make_shared<HTNetStack>(options_of(num_classes, input_size, o), folds);
  };
  return spec;
}
