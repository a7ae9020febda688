#include "mer/models/dere_grl_stack.h"

#include <cmath>

#include "mer/core/error.h"
#include "mer/models/landmark_groups.h"

namespace mer::models {

DeReGRLStack::DeReGRLStack(const DeReGRLOptions& options, int64_t folds)
    : DeReGRLStack(std::make_shared<DeReGRLImpl>(options), folds) {}

DeReGRLStack::DeReGRLStack(std::shared_ptr<DeReGRLImpl> like, int64_t folds)
    : MirroredFoldStack(*like, folds), options_(like->options()) {}

StackedOutput DeReGRLStack::forward(const Batch& batch, const FoldRows& rows) {
  const int64_t n = folds(), width = rows.width, side = options_.input_size();
  MER_CHECK(batch.flow.dim() == 4 && batch.flow.size(0) == n * width && batch.flow.size(1) == 3 &&
                batch.flow.size(2) == side && batch.flow.size(3) == side,
            "dere-grl stack expects flow of shape [N * W, 3, " + std::to_string(side) + ", " +
                std::to_string(side) + "]");
  const int64_t total = n * width;
  auto x = batch.flow / 255.0;
  if (options_.centering() == "median") {
    x = x - std::get<0>(x.flatten(2).median(2)).view({total, 3, 1, 1});
  }
  const auto points = batch.landmarks.defined()
                          ? batch.landmarks.to(x.scalar_type())
                          : tensor("template_landmarks")[0].unsqueeze(0).expand({total, kLandmarks, 2});
  // Per sample, as DeReGRLImpl::forward: patches of the flow around every landmark.
  const auto centre = (points * 2.0 + 1.0) / static_cast<double>(side) - 1.0;  // [N * W, 68, 2]
  const auto patch_grid = centre.unsqueeze(2) + tensor("patch_offsets")[0].view({1, 1, -1, 2});
  auto features = dere_sample(x, patch_grid).permute({0, 2, 1, 3}).reshape({total, kLandmarks, -1});
  if (options_.cnn_channels() > 0) {
    auto maps = stacked::folds_to_channels(x, n);  // [W, N * 3, S, S]
    maps = torch::relu(stacked::conv2d(maps, tensor("cnn1.weight"), {}, 1));
    maps = torch::relu(stacked::conv2d(maps, tensor("cnn2.weight"), {}, 1));
    const auto embedded = stacked::channels_to_folds(maps, n).reshape({total, -1, side, side});
    const auto at_nodes = dere_sample(embedded, centre.unsqueeze(2)).squeeze(3).transpose(1, 2);
    features = torch::cat({features, at_nodes}, 2);
  }
  auto h = torch::relu(linear("node_encoder", features.reshape({n, width, kLandmarks, -1})));  // [N, W, 68, D]

  const int64_t k = options_.neighbours();
  const auto weights = torch::softmax(tensor("adjacency"), 2).view({n, 1, kLandmarks, k, 1});
  const auto neighbours = tensor("neighbour_index")[0];
  for (int64_t l = 0; l < options_.gcn_layers(); ++l) {
    const auto gathered = h.index_select(2, neighbours).view({n, width, kLandmarks, k, -1});
    h = h + torch::relu(linear("gcn." + std::to_string(l), (gathered * weights).sum(3)));
  }

  // ADM, each fold with its own map matrix.
  const auto mask = tensor("partition_mask")[0];  // [C, 68]
  const int64_t c = mask.size(0);
  const auto pool = torch::softmax(tensor("map_matrix").masked_fill(mask == 0, -1e9), 2) * mask;  // [N, C, 68]
  torch::Tensor pooled;  // [N, W, C, D]
  if (options_.adm_pool() == "max") {
    const auto scaled = pool * mask.sum(1, /*keepdim=*/true);
    pooled = (scaled.view({n, 1, c, kLandmarks, 1}) * h.unsqueeze(2)).amax(3);
  } else {
    pooled = torch::matmul(pool.unsqueeze(1), h);
  }
  const auto actions = linear("action", pooled);  // [N, W, C, A]
  const auto strength = actions.norm(2, -1);      // [N, W, C]

  // RRM.
  const auto z = actions + tensor("component_embedding").unsqueeze(1);
  const auto scores = torch::matmul(linear("query", z), linear("key", z).transpose(-1, -2)) /
                          std::sqrt(static_cast<double>(options_.relation_dim())) +
                      tensor("relation_prior").unsqueeze(1);
  const auto relation = torch::softmax(scores, -1);  // [N, W, C, C]
  const auto g = torch::relu(linear("relation_graph", torch::matmul(relation, z)) + linear("relation_self", z));

  StackedOutput out;
  out.logits = linear("classifier", dropout(g.flatten(2), options_.dropout()));  // [N, W, K]
  if (batch.labels.defined() && options_.action_sparsity() > 0.0) {
    // The mean over each fold's real rows, as the model's over its batch.
    const auto count = rows.mask.sum(1).clamp_min(1.0);
    out.aux_loss = options_.action_sparsity() * (strength.sum(2) * rows.mask).sum(1) / count;
  }
  return out;
}

}  // namespace mer::models
