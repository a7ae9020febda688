#pragma once
// RRRN, Region-inspired Relation Reasoning Network (Mao, Zhou, Zheng, Shao, Huang): for
// micro-expressions partly hidden by masks, glasses or other occluders, a backbone extracts
// features of several facial regions, the Region-Inspired (RI) module gives each region a
// weight (how visible and useful it is), the Relation Reasoning (RR) module runs progressive
// graph convolutions over the region nodes, and a classifier reads the result.
//
// Known from the paper: the three parts above and their roles. Everything else is inferred
// (../shared/docs/methods.md, "RRRN") and is an option here, with these defaults:
//   - Input: the (u, v, strain) map scaled by 1/255 minus each channel's per-sample spatial
//     median (`centering`, as DeRe-GRL): the prepared maps are min-max normalised per sample,
//     so "no motion" lands at an unknown grey level, which the median finds. An occluded
//     region moves rigidly with the head, its flow is ~"no motion", so after centring it is
//     ~0, and the bias-free backbone below turns it into a ~0 region feature.
//   - Regions (R = 9, rrrn_regions()): 0 the whole face (the full map), then boxes around
//     68-point landmark groups: brow_eye_left (17-21, 36-41), brow_eye_right (22-26, 42-47),
//     glabella (21, 22, 27, 39, 42), nose (27-35), cheek_left (1-3, 31, 40, 41, 48),
//     cheek_right (13-15, 35, 46, 47, 54), mouth (48-67), chin (6-10, 57); "left"/"right"
//     are the image's. A box is the min/max of its group's landmarks, widened by `margin`
//     (fraction of the map side) on every side and to at least `min_box` of the side, clipped
//     to the map. Without landmarks (Batch::landmarks undefined) the boxes come from the
//     fixed template face of dere_template_landmarks() (eyes at 37%, mouth at 76% of the
//     height), the same for every sample; the model says so once on stderr.
//   - Backbone: two bias-free 3x3 convs (3 -> `channels` at full size, -> 2 x `channels` at
//     stride 2; ReLU; no batch norm, so zero motion stays exactly zero); each region's
//     feature is RoI-align of that map (a `grid` x `grid` grid of cells, each the mean of
//     2 x 2 bilinear samples, grid_sample with zeros outside), flattened, mapped by one
//     bias-free linear layer shared by the regions + ReLU to f_r (`region_dim`).
//   - RI module (RAN-like): self-attention alpha_r = sigmoid(w_a . f_r + b_a); relation
//     attention beta_r = sigmoid(w_b . [f_r ; f_face] + b_b) (`relation_attention`); the
//     region weights are w_r = alpha_r beta_r / sum_j alpha_j beta_j, a distribution over the
//     R regions. An occluded region has f_r ~ 0, so its alpha and beta fall to their biases,
//     which training with `region_drop` (below) pushes down.
//   - RR module: node h_r = f_r + e_r (a learned region embedding); `gcn_layers` progressive
//     residual graph layers h <- h + ReLU(W_l (A_l h)), each with its own adjacency
//     A_l = row-softmax(L_l + log w), i.e. A_l[i, j] proportional to exp(L_l[i, j]) w_j: the
//     learned relation logits L_l [R, R] (zero at start: uniform) scaled by how much each
//     sender region is trusted, so occluded regions barely send messages.
//   - Readout: [sum_r w_r h_r ; h_face], dropout, linear classifier.
//   - Training-time occlusion (`region_drop`): each non-face region of each training sample is
//     independently zeroed in the centred input (its box set to "no motion") with this
//     probability, drawn from the model's generator (ModelImpl::dropout), so that the RI
//     module learns that a motionless, featureless region carries no evidence. 0 = off.
//   - Visibility from appearance (`visibility` = "appearance"): flow alone cannot tell an
//     occluder, whose real flow is not "no motion" (TV-L1 fills a textureless overlay with the
//     motion around it, and its edges move against the face), from a face region. The apex
//     face crop can. For the non-face regions, v_r = sigmoid(visibility logit) scales the
//     region feature (f_r <- v_r f_r, before the RI and RR modules: the spurious motion an
//     occluder's flow carries fades with it) and the weight (w_r ~ alpha_r beta_r v_r).
//     v_r comes from a small appearance branch (the grey crop area-resized to
//     4 x `input_size`, scaled to -1..1, two bias-carrying 3x3 stride-2 convs with 8
//     and 16 channels, RoI-align of the same boxes, a linear layer to 16 + ReLU, a linear
//     layer to the logit). Training: every region the training-time occlusion (region_drop,
//     group_drop) hides in the flow is also painted over in the crop (per sample a random
//     grey level, a random linear shading
//     and smooth noise of random strength: real occluders are not flat), and an auxiliary
//     loss, `visibility_weight` times the binary cross-entropy of v_r against each region's
//     unpainted share (at its RoI samples), teaches the branch what an occluder looks like.
//     "none" (what `mer` picks where the data has no face crops, fit_to_data) keeps
//     w_r ~ alpha_r beta_r.
//   - Training-time half-face occlusion (`group_drop`): with this probability per training
//     sample, a whole half of the face is zeroed at once, the upper regions (brow_eye_left,
//     brow_eye_right, glabella) or the lower ones (nose, cheeks, mouth, chin), each half
//     equally likely. Real occluders hide such groups (glasses the upper, a mask the lower
//     half), which independent region_drop almost never produces (0.2^5 for the five lower
//     regions). Off by default: measured in docs/benchmarks.md (RRRN, occlusion).
//
// Explanations (Output::explain), per sample: "region_weights" [R] (w, sums to 1),
// "region_visibility" [R] (v, 1 for the face; only with visibility=appearance),
// "region_boxes" [R, 4] (x0, y0, x1, y1 in flow-map pixels, pixel centres at integers) and
// "landmarks" [68, 2] (the points used). explain_info() names the regions and their
// landmarks, so that `mer explain` can draw each region's box shaded by its weight.
#include <string>
#include <vector>

#include "mer/models/model.h"

namespace mer::models {

struct RRRNOptions {
  TORCH_ARG(int64_t, num_classes) = 3;
  TORCH_ARG(int64_t, input_size) = 28;           // square input side, >= 8
  TORCH_ARG(std::string, centering) = "median";  // median | none
  TORCH_ARG(double, margin) = 0.04;              // box margin, fraction of the side
  TORCH_ARG(double, min_box) = 0.18;             // smallest box side, fraction of the side
  TORCH_ARG(int64_t, channels) = 16;             // backbone width (second conv: 2x)
  TORCH_ARG(int64_t, grid) = 3;                  // RoI-align cells per box side, 1..7
  TORCH_ARG(int64_t, region_dim) = 64;           // region feature size
  TORCH_ARG(bool, relation_attention) = true;    // RI: beta from [f_r ; f_face]
  TORCH_ARG(int64_t, gcn_layers) = 2;            // RR: 1..6
  TORCH_ARG(double, dropout) = 0.5;              // before the classifier
  TORCH_ARG(double, region_drop) = 0.2;          // training-time occlusion per region
  TORCH_ARG(double, group_drop) = 0.0;           // training-time occlusion of a face half
  TORCH_ARG(std::string, visibility) = "none";   // none | appearance (needs Batch::face)
  TORCH_ARG(double, visibility_weight) = 1.0;    // auxiliary visibility loss weight

 public:
  void validate() const;  // throws ConfigError
};

// One region: its name and the landmark indices (0..67) whose box it is; the whole face
// (index 0) lists every landmark but always uses the full map.
struct RRRNRegion {
  std::string name;
  std::vector<int64_t> landmarks;
  bool upper_face = false;  // the half `group_drop` hides with the brows and eyes
};

// The R = 9 regions, whole face first.
const std::vector<RRRNRegion>& rrrn_regions();

// The region boxes of `landmarks` [B, 68, 2] (flow-map pixels) on a map of side `side`:
// [B, R, 4] (x0, y0, x1, y1), as described above. Differentiable in nothing; plain float.
torch::Tensor rrrn_region_boxes(const torch::Tensor& landmarks, int64_t side, double margin,
                                double min_box);

class RRRNImpl : public ModelImpl {
 public:
  explicit RRRNImpl(const RRRNOptions& options = {});

  Output forward(const Batch& batch) override;
  int64_t num_classes() const override { return options_.num_classes(); }
  nlohmann::json explain_info() const override;
  const RRRNOptions& options() const { return options_; }

  // Backbone.
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear region_embed{nullptr};  // shared RoI feature -> f_r, no bias
  // RI module.
  torch::nn::Linear self_attention{nullptr};      // f_r -> alpha logit
  torch::nn::Linear relation_attention{nullptr};  // [f_r ; f_face] -> beta logit (optional)
  // Appearance branch (visibility=appearance only).
  torch::nn::Conv2d appearance1{nullptr}, appearance2{nullptr};
  torch::nn::Linear appearance_embed{nullptr}, visibility_head{nullptr};
  // RR module.
  torch::Tensor region_embedding;  // [R, region_dim]
  torch::Tensor relation_logits;   // [gcn_layers, R, R]
  torch::nn::ModuleList gcn{nullptr};  // gcn_layers x Linear(region_dim, region_dim)
  torch::nn::Linear classifier{nullptr};

 private:
  RRRNOptions options_;
  // Buffers: the template landmarks [68, 2] (pixels of the input) for data without
  // landmarks, and the RoI sampling offsets [S*S, 2] in units of the box (0..1).
  torch::Tensor template_landmarks_, roi_offsets_;
};

using RRRN = std::shared_ptr<RRRNImpl>;

}  // namespace mer::models
