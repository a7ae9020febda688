#include "mer/models/rrrn.h"

#include <cmath>

#include "mer/core/error.h"
#include "mer/models/registry.h"
#include "mer/models/dere_grl.h"
#include "mer/models/landmark_groups.h"

namespace mer::models {

namespace F = torch::nn::functional;

namespace {

// RoI-align: each grid cell is the mean of kSub x kSub bilinear samples.
constexpr int64_t kSub = 2;

}  // namespace

void RRRNOptions::validate() const {
  auto fail = [](const std::string& what) { throw ConfigError("rrrn: " + what); };
  if (num_classes() < 2) fail("num_classes must be >= 2");
  if (input_size() < 8) fail("input_size must be >= 8");
  if (centering() != "median" && centering() != "none") fail("centering must be median or none");
  if (!(margin() >= 0.0) || margin() > 0.5) fail("margin must be in [0, 0.5]");
  if (!(min_box() > 0.0) || min_box() > 1.0) fail("min_box must be in (0, 1]");
  if (channels() < 1) fail("channels must be >= 1");
  if (grid() < 1 || grid() > 7) fail("grid must be in 1..7");
  if (region_dim() < 1) fail("region_dim must be >= 1");
  if (gcn_layers() < 1 || gcn_layers() > 6) fail("gcn_layers must be in 1..6");
  if (!(dropout() >= 0.0) || dropout() >= 1.0) fail("dropout must be in [0, 1)");
  if (!(region_drop() >= 0.0) || region_drop() >= 1.0) fail("region_drop must be in [0, 1)");
  if (!(group_drop() >= 0.0) || group_drop() >= 1.0) fail("group_drop must be in [0, 1)");
  if (visibility() != "none" && visibility() != "appearance") {
    fail("visibility must be none or appearance");
  }
  if (!(visibility_weight() >= 0.0)) fail("visibility_weight must be >= 0");
}

const std::vector<RRRNRegion>& rrrn_regions() {
  static const std::vector<RRRNRegion> regions = {
      {"face", landmark_range(0, 67)},
      {"brow_eye_left", concat_landmarks(landmark_range(17, 21), landmark_range(36, 41)), true},
      {"brow_eye_right", concat_landmarks(landmark_range(22, 26), landmark_range(42, 47)), true},
      {"glabella", {21, 22, 27, 39, 42}, true},
      {"nose", landmark_range(27, 35)},
      {"cheek_left", {1, 2, 3, 31, 40, 41, 48}},
      {"cheek_right", {13, 14, 15, 35, 46, 47, 54}},
      {"mouth", landmark_range(48, 67)},
      {"chin", {6, 7, 8, 9, 10, 57}},
  };
  return regions;
}

torch::Tensor rrrn_region_boxes(const torch::Tensor& landmarks, int64_t side, double margin,
                                double min_box) {
  MER_CHECK(landmarks.dim() == 3 && landmarks.size(1) == kLandmarks && landmarks.size(2) == 2,
            "rrrn_region_boxes expects landmarks [B, 68, 2]");
  const auto& regions = rrrn_regions();
  const int64_t r = static_cast<int64_t>(regions.size());
  auto member = torch::zeros({r, kLandmarks}, torch::kBool);
  for (int64_t i = 0; i < r; ++i) {
    for (int64_t j : regions[static_cast<size_t>(i)].landmarks) member[i][j] = true;
  }
  member = member.to(landmarks.device()).view({1, r, kLandmarks, 1});
  const auto points = landmarks.detach().to(torch::kFloat32).unsqueeze(1);  // [B, 1, 68, 2]
  const double inf = std::numeric_limits<double>::infinity();
  const auto lo = points.masked_fill(~member, inf).amin(2);   // [B, R, 2]
  const auto hi = points.masked_fill(~member, -inf).amax(2);  // [B, R, 2]
  const double s = static_cast<double>(side);
  const auto centre = (lo + hi) / 2.0;
  const auto half = ((hi - lo) / 2.0 + margin * s).clamp_min(min_box * s / 2.0);
  // The map spans [-0.5, side - 0.5] in pixel-centre coordinates.
  auto x0y0 = (centre - half).clamp(-0.5, s - 0.5);
  auto x1y1 = (centre + half).clamp(-0.5, s - 0.5);
  auto boxes = torch::cat({x0y0, x1y1}, 2);  // [B, R, 4]
  // The whole face is the whole map.
  boxes.select(1, 0).copy_(torch::tensor({-0.5, -0.5, s - 0.5, s - 0.5}, boxes.options())
                               .expand({boxes.size(0), 4}));
  return boxes;
}

RRRNImpl::RRRNImpl(const RRRNOptions& options) : options_(options) {
  options_.validate();
  const int64_t r = static_cast<int64_t>(rrrn_regions().size());
  const int64_t c = options_.channels(), d = options_.region_dim(), g = options_.grid();
  conv1 = register_module(
      "conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, c, 3).padding(1).bias(false)));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, 2 * c, 3)
                                                         .stride(2)
                                                         .padding(1)
                                                         .bias(false)));
  region_embed = register_module(
      "region_embed", torch::nn::Linear(torch::nn::LinearOptions(2 * c * g * g, d).bias(false)));
  self_attention = register_module("self_attention", torch::nn::Linear(d, 1));
  if (options_.relation_attention()) {
    relation_attention = register_module("relation_attention", torch::nn::Linear(2 * d, 1));
  }
  if (options_.visibility() == "appearance") {
    appearance1 = register_module(
        "appearance1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3).stride(2).padding(1)));
    appearance2 = register_module(
        "appearance2", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 3).stride(2).padding(1)));
    appearance_embed = register_module("appearance_embed", torch::nn::Linear(16 * g * g, 16));
    visibility_head = register_module("visibility_head", torch::nn::Linear(16, 1));
  }
  region_embedding = register_parameter("region_embedding", torch::randn({r, d}) * 0.1);
  relation_logits = register_parameter("relation_logits", torch::zeros({options_.gcn_layers(), r, r}));
  gcn = register_module("gcn", torch::nn::ModuleList());
  for (int64_t l = 0; l < options_.gcn_layers(); ++l) gcn->push_back(torch::nn::Linear(d, d));
  classifier = register_module("classifier", torch::nn::Linear(2 * d, options_.num_classes()));

  template_landmarks_ =
      register_buffer("template_landmarks", dere_template_landmarks(options_.input_size()));
  const int64_t s = g * kSub;
  auto offsets = torch::empty({s * s, 2}, torch::kFloat32);
  for (int64_t i = 0; i < s; ++i) {
    for (int64_t j = 0; j < s; ++j) {
      offsets[i * s + j][0] = static_cast<float>((j + 0.5) / s);
      offsets[i * s + j][1] = static_cast<float>((i + 0.5) / s);
    }
  }
  roi_offsets_ = register_buffer("roi_offsets", offsets);
}

nlohmann::json RRRNImpl::explain_info() const {
  nlohmann::json regions = nlohmann::json::array();
  std::vector<std::string> names;
  for (const auto& region : rrrn_regions()) {
    regions.push_back({{"name", region.name}, {"landmarks", region.landmarks}});
    names.push_back(region.name);
  }
  return {{"regions", regions},
          {"labels", {{"region_weights", names}, {"region_boxes", names}, {"region_visibility", names}}},
          {"box_space", "flow-map pixels (x0, y0, x1, y1), pixel centres at integers; "
                        "region 0 (face) is the whole map"},
          {"landmark_space", "flow-map pixels, pixel centres at integers"}};
}

Output RRRNImpl::forward(const Batch& batch) {
  const int64_t side = options_.input_size();
  MER_CHECK(batch.flow.dim() == 4 && batch.flow.size(1) == 3 && batch.flow.size(2) == side &&
                batch.flow.size(3) == side,
            "rrrn expects flow of shape [B, 3, " + std::to_string(side) + ", " +
                std::to_string(side) + "]");
  const int64_t b = batch.flow.size(0);
  const int64_t r = static_cast<int64_t>(rrrn_regions().size());
  auto x = batch.flow / 255.0;
  if (options_.centering() == "median") {
    x = x - std::get<0>(x.flatten(2).median(2)).view({b, 3, 1, 1});
  }

  torch::Tensor points;  // [B, 68, 2] flow-map pixels
  if (batch.landmarks.defined()) {
    MER_CHECK(batch.landmarks.dim() == 3 && batch.landmarks.size(0) == b &&
                  batch.landmarks.size(1) == kLandmarks && batch.landmarks.size(2) == 2,
              "rrrn expects landmarks of shape [B, 68, 2]");
    points = batch.landmarks.to(x.scalar_type());
  } else {
    warn_template_landmarks_once("rrrn", "models/rrrn.h");
    points = template_landmarks_.unsqueeze(0).expand({b, kLandmarks, 2});
  }
  const auto boxes = rrrn_region_boxes(points, side, options_.margin(), options_.min_box())
                         .to(x.scalar_type());  // [B, R, 4]

  const bool use_appearance = options_.visibility() == "appearance";
  torch::Tensor appearance;  // [B, 1, 4S, 4S] standardised grey crop (visibility=appearance)
  if (use_appearance) {
    MER_CHECK(batch.face.defined() && batch.face.dim() == 4 && batch.face.size(0) == b &&
                  batch.face.size(1) == 1,
              "rrrn visibility=appearance needs the face crops [B, 1, C, C] (prepared data "
              "with face/ images; or --model-opt visibility=none)");
    const int64_t a = 4 * side;
    appearance = F::adaptive_avg_pool2d(batch.face.to(x.scalar_type()),
                                        F::AdaptiveAvgPool2dFuncOptions({a, a}));
  }
  torch::Tensor painted;  // [B, 1, 4S, 4S] 1 where training-time occlusion painted the crop

  const bool occlude_regions = options_.region_drop() > 0.0;
  const bool occlude_half = options_.group_drop() > 0.0;
  if (is_training() && (occlude_regions || occlude_half)) {
    // Bernoulli draws from the model's generator: dropout of ones is 0 where dropped.
    const auto drawn = [&](int64_t n, double p) {
      return (dropout(torch::ones({b, n}, x.options()), p) == 0).to(x.scalar_type());
    };
    auto dropped = occlude_regions ? drawn(r - 1, options_.region_drop())
                                   : torch::zeros({b, r - 1}, x.options());  // [B, R-1]
    if (occlude_half) {
      std::vector<float> upper_flags;  // the non-face regions, 1 = upper half
      for (int64_t i = 1; i < r; ++i) upper_flags.push_back(rrrn_regions()[static_cast<size_t>(i)].upper_face);
      const auto upper = torch::tensor(upper_flags).to(x.options()).unsqueeze(0);  // [1, R-1]
      const auto lower_half = drawn(1, 0.5);                                    // [B, 1]
      const auto half = lower_half * (1.0 - upper) + (1.0 - lower_half) * upper;
      dropped = torch::maximum(dropped, drawn(1, options_.group_drop()) * half);
    }
    const auto coords = torch::arange(side, x.options());
    const auto sub = boxes.slice(1, 1, r);  // [B, R-1, 4]
    const auto inside_x = (coords.view({1, 1, 1, side}) >= sub.select(2, 0).unsqueeze(-1).unsqueeze(-1)) &
                          (coords.view({1, 1, 1, side}) <= sub.select(2, 2).unsqueeze(-1).unsqueeze(-1));
    const auto inside_y = (coords.view({1, 1, side, 1}) >= sub.select(2, 1).unsqueeze(-1).unsqueeze(-1)) &
                          (coords.view({1, 1, side, 1}) <= sub.select(2, 3).unsqueeze(-1).unsqueeze(-1));
    const auto hidden = ((inside_x & inside_y).to(x.scalar_type()) *
                         dropped.view({b, r - 1, 1, 1}))
                            .amax(1, /*keepdim=*/true);  // [B, 1, H, W]
    x = x * (1.0 - hidden);
    if (use_appearance) {
      // The same boxes (and more) on the crop's grid (4 crop pixels per flow pixel), painted with a flat
      // grey of random level and noise of random strength: what a mask, sunglasses or a
      // block look like to the appearance branch.
      const int64_t a = appearance.size(-1);
      const auto fine = (torch::arange(a, x.options()) + 0.5) * (static_cast<double>(side) / a) - 0.5;
      const auto in_x = (fine.view({1, 1, 1, a}) >= sub.select(2, 0).unsqueeze(-1).unsqueeze(-1)) &
                        (fine.view({1, 1, 1, a}) <= sub.select(2, 2).unsqueeze(-1).unsqueeze(-1));
      const auto in_y = (fine.view({1, 1, a, 1}) >= sub.select(2, 1).unsqueeze(-1).unsqueeze(-1)) &
                        (fine.view({1, 1, a, 1}) <= sub.select(2, 3).unsqueeze(-1).unsqueeze(-1));
      painted = ((in_x & in_y).to(x.scalar_type()) * dropped.view({b, r - 1, 1, 1}))
                    .amax(1, /*keepdim=*/true);  // [B, 1, A, A]
      // Real occluders are not flat: a mask has folds and shading, glasses have frames and
      // reflections. So the paint is a random level, a random linear shading across the crop
      // (up to +-48 grey levels) and smooth noise (random strength up to 24, on a grid 8x
      // coarser than the crop), plus fine noise up to 4.
      const auto rand4 = [&](int64_t n) { return uniform_like(torch::empty({b, n, 1, 1}, x.options())); };
      const auto level = rand4(1) * 255.0;
      const auto slope = (rand4(2) - 0.5) * 96.0;
      const auto ramp = torch::arange(a, x.options()) / static_cast<double>(a) - 0.5;
      const auto shading = slope.select(1, 0).unsqueeze(1) * ramp.view({1, 1, 1, a}) +
                           slope.select(1, 1).unsqueeze(1) * ramp.view({1, 1, a, 1});
      const int64_t coarse = std::max<int64_t>(a / 8, 2);
      const auto smooth =
          F::interpolate((uniform_like(torch::empty({b, 1, coarse, coarse}, x.options())) - 0.5) * 2.0,
                         F::InterpolateFuncOptions()
                             .size(std::vector<int64_t>{a, a})
                             .mode(torch::kBilinear)
                             .align_corners(false)) *
          (rand4(1) * 24.0);
      const auto fine_noise = (uniform_like(appearance) - 0.5) * 2.0 * (rand4(1) * 4.0);
      const auto paint = (level + shading + smooth + fine_noise).clamp(0.0, 255.0);
      appearance = appearance * (1.0 - painted) + paint * painted;
    }
  }

  // Backbone.
  const auto map = torch::relu(conv2(torch::relu(conv1(x))));  // [B, 2C, S/2, S/2]
  const int64_t g = options_.grid(), s = g * kSub;
  // Sample points of every box, pixel-centre coordinates -> grid_sample's normalised ones
  // (align_corners = false, so the sampling does not depend on the map's resolution).
  const auto origin = boxes.slice(2, 0, 2).unsqueeze(2);                          // [B, R, 1, 2]
  const auto extent = (boxes.slice(2, 2, 4) - boxes.slice(2, 0, 2)).unsqueeze(2);  // [B, R, 1, 2]
  const auto at = origin + extent * roi_offsets_.view({1, 1, s * s, 2});          // [B, R, s*s, 2]
  const auto grid = ((at * 2.0 + 1.0) / static_cast<double>(side) - 1.0).view({b, r * s, s, 2});
  // Bilinear samples of a map [B, K, *, *] at every box's points: [B, K, R*s, s].
  const auto sample_boxes = [&](const torch::Tensor& m) {
    return F::grid_sample(m, grid,
                          F::GridSampleFuncOptions()
                              .mode(torch::kBilinear)
                              .padding_mode(torch::kZeros)
                              .align_corners(false));
  };
  // RoI-align: the g x g cell means of every box, flattened per region: [B, R, K*g*g].
  const auto roi_align = [&](const torch::Tensor& m) {
    const auto cells = F::avg_pool2d(sample_boxes(m), F::AvgPool2dFuncOptions(kSub).stride(kSub));
    const int64_t k = cells.size(1);
    return cells.view({b, k, r, g, g}).permute({0, 2, 1, 3, 4}).reshape({b, r, k * g * g});
  };
  auto f = torch::relu(region_embed(roi_align(map)));  // [B, R, D]

  torch::Tensor visibility, aux_loss;  // [B, R]; scalar in training with painted crops
  if (use_appearance) {
    // A fixed scaling, not a per-sample standardisation: an occluder changes the crop's mean
    // and spread, which would shift every region's appearance, not only the hidden ones'.
    const auto z = appearance / 127.5 - 1.0;
    const auto amap = torch::relu(appearance2(torch::relu(appearance1(z))));  // [B, 16, S, S]
    const auto logit =
        visibility_head(torch::relu(appearance_embed(roi_align(amap)))).squeeze(2);  // [B, R]
    // The whole face is always "visible": only the landmark regions are weighed by it.
    visibility = torch::cat({torch::ones({b, 1}, x.options()), torch::sigmoid(logit.slice(1, 1, r))}, 1);
    // What an occluder hides is not evidence: its region's flow feature is scaled by v (the
    // spurious motion a real occluder's flow carries fades with it) and so is its weight.
    f = f * visibility.unsqueeze(2);
    if (painted.defined() && options_.visibility_weight() > 0.0) {
      // Each region's unpainted share: the painted mask at the region's RoI sample points.
      const auto covered = sample_boxes(painted).view({b, r, s * s}).mean(2);  // [B, R]
      const auto target = (1.0 - covered).slice(1, 1, r).detach();
      aux_loss = options_.visibility_weight() *
                 F::binary_cross_entropy_with_logits(logit.slice(1, 1, r), target);
    }
  }

  // RI module.
  const auto face = f.select(1, 0);  // [B, D]
  auto weight = torch::sigmoid(self_attention(f)).squeeze(2);  // [B, R]
  if (relation_attention) {
    const auto paired = torch::cat({f, face.unsqueeze(1).expand_as(f)}, 2);
    weight = weight * torch::sigmoid(relation_attention(paired)).squeeze(2);
  }
  if (visibility.defined()) weight = weight * visibility;
  weight = weight / weight.sum(1, /*keepdim=*/true);

  // RR module: progressive graph layers, messages scaled by the sender's weight.
  auto h = f + region_embedding.unsqueeze(0);
  const auto log_weight = weight.clamp_min(1e-12).log().unsqueeze(1);  // [B, 1, R]
  for (int64_t l = 0; l < options_.gcn_layers(); ++l) {
    const auto adjacency = torch::softmax(relation_logits[l].unsqueeze(0) + log_weight, 2);
    h = h + torch::relu(gcn[l]->as<torch::nn::LinearImpl>()->forward(torch::matmul(adjacency, h)));
  }
  const auto pooled = (weight.unsqueeze(2) * h).sum(1);
  const auto readout = torch::cat({pooled, h.select(1, 0)}, 1);

  Output out;
  out.logits = classifier(dropout(readout, options_.dropout()));
  if (aux_loss.defined()) out.aux_loss = aux_loss;
  out.explain["region_weights"] = weight.detach();
  if (visibility.defined()) out.explain["region_visibility"] = visibility.detach();
  out.explain["region_boxes"] = boxes.detach();
  out.explain["landmarks"] = points.detach();
  return out;
}

}  // namespace mer::models

MER_MODEL_SPEC(rrrn) {
  using namespace mer::models;
  const RRRNOptions d;
  ModelSpec spec;
  spec.name = "rrrn";
  spec.summary =
      "RRRN, Region-inspired Relation Reasoning Network (Mao, Zhou et al.): features of 9 "
      "facial regions (face + landmark boxes), a weight per region (RI attention), graph "
      "reasoning over the regions (RR); explains each region's weight";
  spec.version = 1;
  spec.options = {
      choice_option("centering", d.centering(), {"median", "none"},
                    "subtract the map's median motion (head shift)"),
      float_option("margin", d.margin(), 0.0, 0.5, "region box margin, fraction of the side"),
      float_option("min_box", d.min_box(), 0.0, 1.0, "smallest box side, fraction of the side"),
      int_option("channels", d.channels(), 1, 512, "backbone width (second conv: 2x)"),
      int_option("grid", d.grid(), 1, 7, "RoI-align cells per box side"),
      int_option("region_dim", d.region_dim(), 1, 4096, "region feature size"),
      bool_option("relation_attention", d.relation_attention(), "RI beta from [region; face]"),
      int_option("gcn_layers", d.gcn_layers(), 1, 6, "RR graph layers"),
      float_option("dropout", d.dropout(), 0.0, 0.99, "dropout before the classifier"),
      float_option("region_drop", d.region_drop(), 0.0, 1.0,
                   "training-time occlusion probability of each region"),
      float_option("group_drop", d.group_drop(), 0.0, 1.0,
                   "training-time occlusion probability of the upper or lower half of the face"),
      choice_option("visibility", "auto", {"auto", "appearance", "none"},
                    "appearance: region weights also from the face crop, trained on painted-over "
                    "regions; none: flow only; auto: appearance when the data has face crops"),
      float_option("visibility_weight", d.visibility_weight(), 0.0, 100.0,
                   "weight of the auxiliary visibility loss"),
  };
  spec.training = TrainingDefaults{25, 30, 1e-3, 64, "adam", 1e-4};
  spec.inputs = [](const OptionValues& o) {
    ModelInputs in;
    in.landmarks = true;
    in.apex_crop = o.text("visibility") == "appearance";
    return in;
  };
  spec.explanations = {
      {"region_weights", ExplanationKind::kRegionWeights,
       "weight of each region in the classification (sums to 1)", "weight"},
      {"region_visibility", ExplanationKind::kRegionWeights,
       "visibility of each region seen in the face crop (0 hidden .. 1 visible)", "visibility"},
      {"region_boxes", ExplanationKind::kRegionBoxes, "the regions' boxes on the flow map", "flow-map px"},
      {"landmarks", ExplanationKind::kLandmarks, "the 68 landmarks the regions were placed by", "flow-map px"},
  };
  spec.fit_to_data = [](std::map<std::string, std::string>& options, const DataTraits& data) {
    auto it = options.find("visibility");
    if (it == options.end() || it->second == "auto") {
      options["visibility"] = data.faces ? "appearance" : "none";
      return std::string(data.faces
                             ? "rrrn: visibility=appearance (region weights also from the face crops)"
                             : "rrrn: visibility=none (the data has no face crops)");
    }
    if (it->second == "appearance" && !data.faces) {
      throw mer::ConfigError("rrrn visibility=appearance: the data has no face crops");
    }
    return std::string();
  };
  // Version 0 (no version recorded): runs without a visibility key were flow only.
  spec.migrate = [](std::map<std::string, std::string>& options, int recorded_version) {
    if (recorded_version < 1 && !options.count("visibility")) options["visibility"] = "none";
  };
  spec.make = [](int64_t num_classes, int64_t input_size, const OptionValues& o) -> ModelPtr {
    if (o.text("visibility") == "auto") {
      throw mer::ConfigError("rrrn visibility=auto is chosen from the data: fit the options to "
                             "the data first (models::resolve_model_options)");
    }
    RRRNOptions options;
    options.num_classes(num_classes)
        .input_size(input_size)
        .centering(o.text("centering"))
        .margin(o.number("margin"))
        .min_box(o.number("min_box"))
        .channels(o.integer("channels"))
        .grid(o.integer("grid"))
        .region_dim(o.integer("region_dim"))
        .relation_attention(o.flag("relation_attention"))
        .gcn_layers(o.integer("gcn_layers"))
        .dropout(o.number("dropout"))
        .region_drop(o.number("region_drop"))
        .group_drop(o.number("group_drop"))
        .visibility(o.text("visibility"))
        .visibility_weight(o.number("visibility_weight"));
    return std::make_shared<RRRNImpl>(options);
  };
  return spec;
}
