#pragma once
// FR, Feature Refinement (Zhou, Mao et al., 2021): expression-shared features from an
// Inception module on optical flow, expression-specific features from an expression proposal
// module with attention and a proposal loss, and a classifier over the fusion of the
// expression-specific features.
//
// Known from the paper: the three parts above, and that the proposal loss supervises each
// expression's branch. Everything else is inferred (../shared/docs/methods.md) and is an
// option here, with these defaults:
//   - Shared features (Dual-Inception style): one Inception block per flow channel
//     (`streams`: u and v as in Dual-Inception, plus strain by default, since the prepared
//     maps carry it). Each block has four branches of `branch_channels` kernels (2x2, 3x3,
//     5x5, max-pool->1x1) at stride 2, each with batch norm and ReLU (InceptionImpl says
//     why stride 2). The streams are concatenated and merged by a 1x1 conv to
//     `shared_channels` (BN, ReLU): the expression-shared map F, [B, C, S/2, S/2]. (A 3x3
//     merge cost 7x the rest of the network on the CPU for no gain we could measure.)
//   - Expression proposal module: one branch per class k. Its attention factors are a
//     spatial map a_k = sigmoid(1x1 conv(F) + P_k) [B, 1, h, w], where P_k is a learned
//     position bias (a 1x1 conv alone is blind to *where* on the face a motion is, which
//     is what separates brow from lip-corner actions), and channel weights
//     g_k = sigmoid(FC(ReLU(FC(GAP(F))))) [B, C] (`attention`: both, spatial, channel or
//     none, for the ablation). The expression-specific feature is
//     f_k = ReLU(Linear(flatten(avgpool(F * a_k * g_k)))) [B, feature_dim], the average pool
//     (`feature_pool`, 2: 14x14 -> 7x7) keeping a coarse layout as STSTNet's 5x5 map does
//     (a global average pool lost it, far below the other settings on MEGC2019;
//     docs/benchmarks.md, FR), and a proposal score
//     s_k = Linear(f_k) says "is this expression k".
//   - Proposal loss = sum over k of the binary cross-entropy of s_k against the one-vs-rest
//     label (y == k), averaged over the batch, times `proposal_weight` (0 = ablation).
//   - Classification: logits = Linear(dropout(concat(f_1 .. f_K))).
//   - Input: the raw 0..255 maps scaled by 1/255 (the prepared maps are min-max normalised
//     per sample, so their scale carries no information).
//
// Explanations (Output::explain): "attention" [B, K, h, w] (each expression branch's spatial
// attention, ones when spatial attention is off) and "proposal" [B, K] (sigmoid of s_k).
#include "mer/models/model.h"

namespace mer::models {

struct FROptions {
  TORCH_ARG(int64_t, num_classes) = 3;
  TORCH_ARG(int64_t, input_size) = 28;       // square input side (even)
  TORCH_ARG(std::string, streams) = "uvs";   // which input channels get an Inception stream: uv | uvs
  TORCH_ARG(int64_t, branch_channels) = 6;   // kernels per Inception branch
  TORCH_ARG(int64_t, shared_channels) = 32;  // channels of the shared map F
  TORCH_ARG(std::string, attention) = "both";  // both | spatial | channel | none
  TORCH_ARG(int64_t, feature_dim) = 32;      // size of each expression-specific feature
  TORCH_ARG(double, proposal_weight) = 1.0;  // lambda of the proposal loss; 0 disables it
  TORCH_ARG(double, dropout) = 0.5;          // before the fused classifier
  TORCH_ARG(int64_t, feature_pool) = 2;      // average-pool size before each branch's embedding

 public:
  void validate() const;  // throws ConfigError
  bool spatial_attention() const { return attention() == "both" || attention() == "spatial"; }
  bool channel_attention() const { return attention() == "both" || attention() == "channel"; }
};

// Proposal loss of FR: sum over classes k of mean-over-batch binary cross-entropy between the
// proposal logits scores[:, k] and the one-vs-rest target (labels == k).
// The flow channels FR's streams read, in the order u, v (, strain), whatever the channel
// layout of the maps: [streams] int64 for index_select.
torch::Tensor fr_stream_channels(const FROptions& options);

// scores [B, K] float, labels [B] int64 in 0..K-1 -> scalar.
torch::Tensor fr_proposal_loss(const torch::Tensor& scores, const torch::Tensor& labels);

// The Inception stage over all streams at once: each flow channel used gets its own four
// branches of `channels` kernels, with receptive fields 2x2, 3x3 and 5x5 and a 3x3 max-pool
// followed by a 1x1 conv. The streams are kept separate by grouped convolutions (groups =
// streams), which computes exactly the per-stream blocks with a third of the operator calls.
// Every branch works at stride 2 (28 -> 14) instead of convolving at full size and pooling:
// LibTorch's CPU max-pool costs ~25x an elementwise pass here, and stride 2 also does a
// quarter of the arithmetic (the 2x2 branch replaces Inception's 1x1 + pooling). Each
// branch ends in batch norm and ReLU.
// [B, streams, S, S] -> [B, 4 * streams * channels, S/2, S/2], branch-major.
class InceptionImpl : public torch::nn::Module {
 public:
  InceptionImpl(int64_t streams, int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d b2{nullptr}, b3{nullptr}, b5{nullptr}, bp{nullptr};
  torch::nn::BatchNorm2d n2{nullptr}, n3{nullptr}, n5{nullptr}, np{nullptr};
};
TORCH_MODULE(Inception);

// One expression branch of the proposal module. Its spatial attention map is computed by the
// model for all branches at once (one 1x1 conv with K outputs: the same weights as K
// separate convs, one operator call) and handed in.
class ExpressionBranchImpl : public torch::nn::Module {
 public:
  // cells: spatial positions of the pooled map fed to the embedding.
  ExpressionBranchImpl(int64_t channels, int64_t cells, int64_t feature_dim, bool channel);
  struct Result {
    torch::Tensor feature;  // [B, feature_dim]
    torch::Tensor score;    // [B] proposal logit
  };
  // shared [B, C, h, w]; attention [B, 1, h, w] in (0, 1), or undefined for none; pool: the
  // average-pool size applied before the embedding.
  Result forward(const torch::Tensor& shared, const torch::Tensor& attention, int64_t pool);

  torch::nn::Linear channel_reduce{nullptr}, channel_expand{nullptr};
  torch::nn::Linear embed{nullptr}, proposal{nullptr};
};
TORCH_MODULE(ExpressionBranch);

class FRImpl : public ModelImpl {
 public:
  explicit FRImpl(const FROptions& options = {});

  Output forward(const Batch& batch) override;
  int64_t num_classes() const override { return options_.num_classes(); }
  const FROptions& options() const { return options_; }

  Inception inception{nullptr};
  torch::nn::Conv2d merge{nullptr};
  torch::nn::BatchNorm2d merge_bn{nullptr};
  torch::nn::Conv2d spatial_attention{nullptr};  // C -> K logits of the branches' spatial maps
  torch::Tensor position_bias;                   // [1, K, h, w] learned, added to those logits
  torch::nn::ModuleList branches{nullptr};  // ExpressionBranch per class
  torch::nn::Linear classifier{nullptr};

 private:
  FROptions options_;
};

using FR = std::shared_ptr<FRImpl>;

}  // namespace mer::models
