#pragma once
// DeRe-GRL, Decomposition and Reconstruction Graph Representation Learning (Wei et al., 2023):
// the emotion of a micro-expression follows from how the actions of the facial components
// relate. A graph backbone extracts motion features at facial landmarks; the Action
// Decomposition Module (ADM) splits them by facial component and a learned map matrix turns
// each component's nodes into one *action feature*; the Relation Reconstruction Module (RRM)
// learns weights among the action features, rebuilds their relation graph and classifies.
//
// Known from the paper: the three parts above, that components are facial key parts (brows,
// eyes, nose, mouth, ...), and that the component actions and their relation weights are its
// interpretable outputs. Everything else is inferred (../shared/docs/methods.md) and is an
// option here, with these defaults:
//   - Input: the (u, v, strain) map scaled by 1/255, minus each channel's per-sample spatial
//     median (`centering`): the prepared maps are min-max normalised per sample, so "no
//     motion" lands at an unknown grey level; most of a face does not move, so the median is
//     that level and the centred map is ~0 where nothing moves.
//   - Nodes: the 68 landmarks of each sample (Batch::landmarks, flow-map pixels). Without
//     landmarks the model uses a fixed template layout (dere_template_landmarks(): the
//     synthetic generator's template face, eyes at 37% and mouth at 76% of the height) scaled
//     to the map, and says so once on stderr. On the MEGC2019 composite that fits the SAMM
//     crops (eyes at 39%, measured with `mer landmarks`) but not the CASME II and SMIC ones,
//     which are framed higher (eyes at 27-28%): their nodes would sit 2-5 flow pixels off.
//   - Node features: the centred map sampled (bilinear grid_sample, zero outside the map) on a
//     `patch` x `patch` grid of step `patch_step` flow pixels around each landmark (3 x 9 = 27
//     values), plus a small shared CNN embedding of the map (two 3x3 convs with
//     `cnn_channels` channels, ReLU) sampled at the landmark; concatenated and mapped by a
//     linear layer + ReLU to `node_dim`.
//   - Backbone: `gcn_layers` residual graph convolutions h <- h + ReLU(A h W) with one learnable
//     adjacency A shared by the layers. A is supported on each node's `neighbours` nearest
//     landmarks in the template (itself included; 68 = dense); A = row-softmax(L) over that
//     support, L initialised from landmark proximity, L_ij = max(-d_ij^2 / (2 sigma^2), -10)
//     with sigma = `adjacency_sigma` (fraction of the face side), so A starts as a Gaussian
//     neighbourhood average. (A dense 68 x 68 A costs 3x the rest of the model with the
//     reference BLAS of Debian's LibTorch and gave no gain we could see.)
//   - Zero motion, zero action: the node encoder, the CNN, the graph convolutions and the ADM
//     have no bias terms and ReLU keeps 0 at 0, so a component whose surroundings do not move
//     gets a (near) zero action feature. That is what makes the action strength below
//     readable as "how much this component acted".
//   - ADM: the component partition (`partition`): "fine" (8 components; left/right are the
//     image's) jaw 0-16, brow_left 17-21, brow_right 22-26, nose 27-35, eye_left 36-41,
//     eye_right 42-47, upper_lip 48-54 + 60-64 (with the corners), lower_lip 55-59 + 65-67; or
//     "coarse" (5) jaw, brows 17-26, nose, eyes 36-47, mouth 48-67. Every node belongs to
//     exactly one component. The learned map matrix M [C, 68] (zero outside each component,
//     softmax over the component's nodes) pools each component's node features, and one
//     linear map (shared by the components, no bias) turns the pooled feature into the
//     component's action feature a_c (`action_dim`). Sharing the map keeps the action
//     features of different components in one space, so that their sizes compare.
//     Pooling (`adm_pool`): "max" (the default) takes, for each feature, the
//     largest value over the component's nodes of the node features scaled by the map's
//     weights times the component's node count (1 for every node at the start); "mean" is
//     the map-weighted mean. With "max" a component acts as strongly as its most moving
//     point, so that a lip corner's motion is not diluted by the still rest of the lips:
//     on the synthetic set the strongest component is the part that moves most in 82.7% of
//     the samples instead of 79.2%, at the same UF1 on MEGC2019 (docs/benchmarks.md).
//   - RRM: z_c = a_c + e_c (a learned component embedding: which component acts); relation
//     weights R = softmax_j(q_i . k_j / sqrt(`relation_dim`) + P_ij) with q = W_q z, k = W_k z
//     and a learned relation prior P [C, C] (zero at start); the reconstructed graph R drives
//     one graph layer g_c = ReLU(W_g sum_j R_cj z_j + W_s z_c + b); readout = concatenation
//     of the g_c (each component keeps its place), dropout, linear classifier.
//   - Sparse actions (`action_sparsity` > 0): an auxiliary loss, the weight times the batch
//     mean of sum_c |a_c| (a group lasso over components), so that components whose motion
//     does not help to tell the classes apart (blinks, stray motion) keep small actions.
//
// Explanations (Output::explain), per sample: "component_action" [C] (|a_c|, the action
// strength of each component), "relation_matrix" [C, C] (R), and "landmarks" [68, 2] (the
// points the model used, flow-map pixels). explain_info() names the components and their
// landmarks, so that `mer explain` can shade each component's region of the face.
#include <string>
#include <vector>

#include "mer/models/model.h"

namespace mer::models {

struct DeReGRLOptions {
  TORCH_ARG(int64_t, num_classes) = 3;
  TORCH_ARG(int64_t, input_size) = 28;            // square input side, >= 8
  TORCH_ARG(std::string, partition) = "fine";     // fine (8 components) | coarse (5)
  TORCH_ARG(std::string, centering) = "median";   // median | none (input offset, see above)
  TORCH_ARG(int64_t, patch) = 3;                  // odd side of the sampling grid per landmark
  TORCH_ARG(double, patch_step) = 1.0;            // its step in flow-map pixels
  TORCH_ARG(int64_t, cnn_channels) = 8;           // shared CNN embedding; 0 = none
  TORCH_ARG(int64_t, node_dim) = 24;              // node feature size
  TORCH_ARG(int64_t, gcn_layers) = 2;             // 1..8
  TORCH_ARG(int64_t, neighbours) = 8;             // adjacency support per node (itself incl.), 1..68
  TORCH_ARG(double, adjacency_sigma) = 0.05;      // proximity scale of the adjacency's start
  TORCH_ARG(int64_t, action_dim) = 16;            // size of each action feature
  TORCH_ARG(int64_t, relation_dim) = 16;          // query/key size of the RRM
  TORCH_ARG(double, dropout) = 0.3;               // before the classifier
  TORCH_ARG(double, action_sparsity) = 0.0;       // weight of the group-lasso loss on actions
  // max | mean: ADM pooling of a component's nodes, so that a component acts as strongly as
  // its most moving point. Runs recorded before the option existed used mean; the model
  // spec's migration (version 0) gives them mean back.
  TORCH_ARG(std::string, adm_pool) = "max";

 public:
  void validate() const;  // throws ConfigError
};

// One facial component of a partition: its name and its landmark indices (0..67).
struct FaceComponent {
  std::string name;
  std::string group;  // coarse part it belongs to: jaw | brows | nose | eyes | mouth
  std::vector<int64_t> landmarks;
};

// The components of `partition` ("fine" or "coarse"; throws ConfigError otherwise). Together
// they hold every landmark 0..67 exactly once.
std::vector<FaceComponent> face_components(const std::string& partition);

// The fallback layout used without landmarks: [68, 2] float32 (x, y) in pixels of a map of
// side `side` (pixel centres at integers, as Batch::landmarks).
torch::Tensor dere_template_landmarks(int64_t side);

// Bilinear samples of `map` [B, K, H, W] at `grid` [B, ..., 2] (grid_sample's normalised
// coordinates, align_corners false, zeros outside): how DeRe-GRL reads the flow around the
// landmarks.
torch::Tensor dere_sample(const torch::Tensor& map, const torch::Tensor& grid);

class DeReGRLImpl : public ModelImpl {
 public:
  explicit DeReGRLImpl(const DeReGRLOptions& options = {});

  Output forward(const Batch& batch) override;
  int64_t num_classes() const override { return options_.num_classes(); }
  nlohmann::json explain_info() const override;
  const DeReGRLOptions& options() const { return options_; }
  const std::vector<FaceComponent>& components() const { return components_; }

  // Backbone.
  torch::nn::Conv2d cnn1{nullptr}, cnn2{nullptr};  // undefined when cnn_channels = 0
  torch::nn::Linear node_encoder{nullptr};
  torch::Tensor adjacency;  // [68, neighbours] logits L of the learnable adjacency
  torch::nn::ModuleList gcn{nullptr};  // gcn_layers x Linear(node_dim, node_dim, no bias)
  // ADM.
  torch::Tensor map_matrix;  // [C, 68] logits; only each component's own nodes are used
  torch::nn::Linear action{nullptr};
  // RRM.
  torch::Tensor component_embedding;  // [C, action_dim]
  torch::nn::Linear query{nullptr}, key{nullptr};
  torch::Tensor relation_prior;  // [C, C]
  torch::nn::Linear relation_graph{nullptr}, relation_self{nullptr};
  torch::nn::Linear classifier{nullptr};

 private:
  DeReGRLOptions options_;
  std::vector<FaceComponent> components_;
  // Buffers (move with the model): [C, 68] 1 where a node belongs to a component, the
  // template landmarks [68, 2] in pixels of the input, and the patch offsets [P*P, 2] in
  // grid_sample's normalised units.
  // neighbour_index [68 * neighbours]: each node's neighbours, row-major.
  torch::Tensor partition_mask_, template_landmarks_, patch_offsets_, neighbour_index_;
};

using DeReGRL = std::shared_ptr<DeReGRLImpl>;

}  // namespace mer::models
