#pragma once
// HTNet, Hierarchical Transformer Network (Wang, Zhang, Luo, Sankaranarayana, "HTNet for
// micro-expression recognition", Neurocomputing 2024, arXiv 2307.14637): four facial areas
// around the eyes and the lip corners are cut from the (u, v, strain) map and tiled into one
// image; transformer layers attend locally inside blocks of that image, and aggregation
// layers merge neighbouring blocks level by level (the areas of each eye with each other and
// with the lip corners), up to one feature of the whole image that a linear layer classifies.
//
// As the paper and its public code describe it (written here from that description):
//   - Areas: centres from 5 facial points of the onset frame, (x, y) in flow-map pixels: the
//     image-left eye (mean of landmarks 36-41), the image-right eye (42-47), the image-left
//     and image-right lip corners (48, 54). Each area is a square of side A = S/2 (14 x 14
//     on the published 28 x 28 map) whose first row and column are the centre's, rounded to
//     a pixel, minus A/2 (rounded down), clamped so that the area lies inside the map (on
//     28 x 28: centres clamped to 7..21, as published); area pixels are exact copies.
//     The public code indexes rows by x and columns by y; here the area is centred on the
//     point (row y, column x).
//   - Mosaic: [[left eye, right eye], [left lip corner, right lip corner]], S x S again.
//   - Patch embedding: non-overlapping `patch` x `patch` patches (7), each flattened
//     (channels fastest within a pixel, pixels row-major) and mapped linearly to `dim` (256).
//   - Hierarchy (`hierarchies` = 3 levels, bottom first): level i works at width
//     dim * 2^i with heads * 2^i heads (3, 6, 12) on a token grid of side G / 2^i (G = S /
//     patch). Its tokens are split into (2^(L-1-i))^2 square blocks of a constant
//     t x t tokens (t = G / 2^(L-1)); `block_repeats[i]` pre-norm transformer layers
//     (2, 2, 10) attend only inside each block: x + MHSA(LN(x)), x + MLP(LN(x)) with a GELU
//     MLP of ratio `mlp_mult` (4) and head width dim * 2^i / (heads * 2^i) rounded down (85).
//     A learned scalar per token position of a block is added before the layers.
//     Between levels, an aggregation layer: 3x3 conv (padding 1) to the next width, layer norm
//     over channels, 3x3 max-pool with stride 2 (padding 1): the grid halves, and the
//     blocks of the next level see the merged neighbours.
//   - Head: layer norm over channels, mean over the final grid, linear to the classes.
//   - Input: the stored flow map (0..255 per channel, the clip's min..max) as it is, like
//     STSTNet, whose input the public code reuses.
// On the published 28 x 28 map with patch 7 the grid is 4 x 4, t = 1: every block is one
// token, so each attention is over a single token (softmax weight 1) and the areas interact
// only through the aggregation convolutions. mer keeps that configuration as its default (it
// is what was measured) and gives attention inside whole areas where a map is larger or the
// patch smaller (t > 1).
// Where mer departs from the public code: the position scalars of the last level are left
// out (a constant added to every channel of a token is removed by every later layer norm, so
// they never change the output and would get no gradient); areas are centred on (x, y) as
// said above. Without landmarks (Batch::landmarks undefined) the areas are placed on the
// fixed template face of dere_template_landmarks(), the same for every sample (the public
// code's fallback is likewise a fixed set of points); the model says so once on stderr.
//
// Explanations (Output::explain), per sample, in eval mode only (training skips them):
//   "area_importance" [4]: how much the predicted class's probability falls when that area's
//     motion is removed (its pixels set to the map's per-channel median, the "no motion"
//     level of a min-max normalised map), clamped at 0; four extra forward passes. With the
//     published configuration the attention weights are all 1 (see above), so this
//     occlusion measure, not attention, is what says which area the decision rests on.
//   "area_boxes" [4, 4]: (x0, y0, x1, y1) of each area in flow-map pixels (pixel centres at
//     integers); "landmarks" [68, 2]: the points used.
// explain_info() names the areas, so that `mer explain` draws each box shaded by its value.
#include <functional>
#include <string>
#include <vector>

#include "mer/models/model.h"

namespace mer::models {

struct HTNetOptions {
  TORCH_ARG(int64_t, num_classes) = 3;
  TORCH_ARG(int64_t, input_size) = 28;  // square map side S; the published 28
  TORCH_ARG(int64_t, patch) = 7;        // patch side in map pixels
  TORCH_ARG(int64_t, dim) = 256;        // width of the bottom level (doubles per level)
  TORCH_ARG(int64_t, heads) = 3;        // heads of the bottom level (doubles per level)
  TORCH_ARG(int64_t, hierarchies) = 3;  // levels
  // Transformer layers per level, bottom first; the public training script's (2, 2, 10).
  TORCH_ARG(std::vector<int64_t>, block_repeats) = std::vector<int64_t>{2, 2, 10};
  TORCH_ARG(int64_t, mlp_mult) = 4;   // MLP hidden width / level width
  TORCH_ARG(double, dropout) = 0.0;   // attention weights and MLP outputs

 public:
  // Throws ConfigError on nonsense and when the map side does not fit the hierarchy: S even,
  // a multiple of `patch`, and S / patch a multiple of 2^(hierarchies - 1).
  void validate() const;
};

// Side of the token blocks (the same on every level): G / 2^(L-1).
int64_t htnet_block_side(const HTNetOptions& options);

// The four areas, in mosaic order (top-left, top-right, bottom-left, bottom-right).
const std::vector<std::string>& htnet_area_names();

// The area boxes of `landmarks` [B, 68, 2] (flow-map pixels) on a map of side `side`: the
// top-left pixel (row, column) of each area [B, 4, 2] int64 (y0, x0), as described above.
torch::Tensor htnet_area_origins(const torch::Tensor& landmarks, int64_t side);

// Dropout as the owning model applies it (ModelImpl::dropout, with the model's generator).
using HTNetDropout = std::function<torch::Tensor(const torch::Tensor&)>;

// One pre-norm transformer layer over tokens [N, T, C]: multi-head self-attention among the
// T tokens of each of the N blocks, then the MLP; both residual.
class HTNetLayerImpl : public torch::nn::Module {
 public:
  HTNetLayerImpl(int64_t dim, int64_t heads, int64_t mlp_mult);
  torch::Tensor forward(const torch::Tensor& x, const HTNetDropout& drop);  // [N, T, C] -> same

  torch::nn::LayerNorm attn_norm{nullptr}, mlp_norm{nullptr};
  torch::nn::Linear to_qkv{nullptr};  // C -> 3 x heads x head width, no bias
  torch::nn::Linear to_out{nullptr}, mlp_in{nullptr}, mlp_out{nullptr};

 private:
  int64_t heads_, head_dim_;
};
TORCH_MODULE(HTNetLayer);

// One level of the hierarchy: position scalars, its transformer layers inside blocks of
// `block` x `block` tokens, then (all levels but the last) the aggregation to `next_dim`.
// forward: tokens [B, H, W, C] (H, W multiples of block) -> [B, H/2, W/2, next_dim] (or the
// same shape on the last level).
class HTNetLevelImpl : public torch::nn::Module {
 public:
  HTNetLevelImpl(int64_t dim, int64_t heads, int64_t depth, int64_t mlp_mult, int64_t block,
                 int64_t next_dim);  // next_dim 0: the last level
  torch::Tensor forward(const torch::Tensor& x, const HTNetDropout& drop);

  torch::Tensor pos_emb;             // [block * block]; undefined on the last level
  torch::nn::ModuleList layers{nullptr};
  torch::nn::Conv2d aggregate{nullptr};  // 3x3, padding 1; absent on the last level
  torch::nn::LayerNorm aggregate_norm{nullptr};

 private:
  int64_t block_;
};
TORCH_MODULE(HTNetLevel);

class HTNetImpl : public ModelImpl {
 public:
  explicit HTNetImpl(const HTNetOptions& options = {});

  Output forward(const Batch& batch) override;
  int64_t num_classes() const override { return options_.num_classes(); }
  nlohmann::json explain_info() const override;
  const HTNetOptions& options() const { return options_; }

  // The tiled areas [B, 3, S, S] of `flow` at `origins` (htnet_area_origins).
  torch::Tensor mosaic(const torch::Tensor& flow, const torch::Tensor& origins) const;
  // Logits of mosaics [B, 3, S, S].
  torch::Tensor classify(const torch::Tensor& mosaic);

  torch::nn::Linear patch_embed{nullptr};
  torch::nn::ModuleList levels{nullptr};  // HTNetLevel, bottom first
  torch::nn::LayerNorm head_norm{nullptr};
  torch::nn::Linear classifier{nullptr};

 private:
  HTNetOptions options_;
  torch::Tensor template_landmarks_;  // buffer [68, 2] for data without landmarks
};

using HTNet = std::shared_ptr<HTNetImpl>;

}  // namespace mer::models
