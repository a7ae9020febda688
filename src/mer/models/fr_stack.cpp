#include "mer/models/fr_stack.h"

#include "mer/core/error.h"

namespace mer::models {

namespace F = torch::nn::functional;

FRStack::FRStack(const FROptions& options, int64_t folds)
    : FRStack(std::make_shared<FRImpl>(options), folds) {}

FRStack::FRStack(std::shared_ptr<FRImpl> like, int64_t folds)
    : MirroredFoldStack(*like, folds),
      options_(like->options()),
      streams_(like->options().streams() == "uvs" ? 3 : 2) {}

torch::Tensor FRStack::norm(const std::string& name, const torch::Tensor& x, const FoldRows& rows) {
  return stacked::batch_norm(x, rows, tensor(name + ".weight"), tensor(name + ".bias"),
                             tensor(name + ".running_mean"), tensor(name + ".running_var"),
                             tensor(name + ".num_batches_tracked"), is_training());
}

StackedOutput FRStack::forward(const Batch& batch, const FoldRows& rows) {
  const int64_t n = folds(), side = options_.input_size();
  MER_CHECK(batch.flow.dim() == 4 && batch.flow.size(0) == n * rows.width && batch.flow.size(1) == 3 &&
                batch.flow.size(2) == side && batch.flow.size(3) == side,
            "fr stack expects flow of shape [N * W, 3, " + std::to_string(side) + ", " +
                std::to_string(side) + "]");
  const int64_t width = rows.width;
  const auto input = batch.flow.index_select(1, fr_stream_channels(options_).to(batch.flow.device())) / 255.0;
  const auto x = stacked::folds_to_channels(input, n);  // [W, N * streams, S, S]

  // Inception: each fold's four branches, concatenated per fold (branch-major, as the model).
  auto branch = [&](const std::string& conv, const std::string& bn, const torch::Tensor& in,
                    int64_t padding, int64_t stride) {
    auto y = stacked::conv2d(in, tensor("inception." + conv + ".weight"), {}, padding, stride, streams_);
    return torch::relu(norm("inception." + bn, y, rows));
  };
  const auto pooled = F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
  std::vector<torch::Tensor> parts = {branch("b2", "n2", x, 0, 2), branch("b3", "n3", x, 1, 2),
                                      branch("b5", "n5", x, 2, 2), branch("bp", "np", pooled, 0, 1)};
  const int64_t h = parts.front().size(2);
  for (auto& part : parts) part = part.reshape({width, n, -1, h, h});
  const auto inception = torch::cat(parts, 2).reshape({width, -1, h, h});
  auto shared = stacked::conv2d(inception, tensor("merge.weight"), {}, 0);
  shared = torch::relu(norm("merge_bn", shared, rows));  // [W, N * C, h, h]

  const int64_t classes = options_.num_classes(), c = options_.shared_channels();
  torch::Tensor attention;  // [W, N, K, h, h]
  if (options_.spatial_attention()) {
    auto logits = stacked::conv2d(shared, tensor("spatial_attention.weight"),
                                  tensor("spatial_attention.bias"), 0);
    logits = logits + tensor("position_bias").reshape({1, n * classes, h, h});
    attention = torch::sigmoid(logits).reshape({width, n, classes, h, h});
  }
  const auto shared_folds = shared.reshape({width, n, c, h, h});
  const int64_t pool = options_.feature_pool();
  std::vector<torch::Tensor> features, scores;
  for (int64_t k = 0; k < classes; ++k) {
    const std::string prefix = "branches." + std::to_string(k) + ".";
    auto y = attention.defined() ? shared_folds * attention.narrow(2, k, 1) : shared_folds;
    if (options_.channel_attention()) {
      auto g = shared_folds.mean({3, 4}).transpose(0, 1);  // [N, W, C]
      g = torch::sigmoid(linear(prefix + "channel_expand", torch::relu(linear(prefix + "channel_reduce", g))));
      y = y * g.transpose(0, 1).unsqueeze(-1).unsqueeze(-1);
    }
    auto flat = y.reshape({width, n * c, h, h});
    if (pool > 1) flat = F::avg_pool2d(flat, F::AvgPool2dFuncOptions(pool).stride(pool));
    flat = flat.reshape({width, n, -1}).transpose(0, 1);  // [N, W, C * cells]
    auto feature = torch::relu(linear(prefix + "embed", flat));
    features.push_back(feature);
    scores.push_back(linear(prefix + "proposal", feature).squeeze(-1));  // [N, W]
  }
  StackedOutput out;
  out.logits = linear("classifier", dropout(torch::cat(features, 2), options_.dropout()));
  if (batch.labels.defined() && options_.proposal_weight() > 0.0) {
    // fr_proposal_loss per fold: binary cross-entropy of each branch's score against "is my
    // class", the mean over the fold's real rows, summed over the branches.
    const auto score = torch::stack(scores, 2);  // [N, W, K]
    const auto labels = batch.labels.reshape({n, width});
    const auto targets =
        (labels.unsqueeze(2) == torch::arange(classes, labels.options())).to(score.scalar_type());
    const auto bce = F::binary_cross_entropy_with_logits(
        score, targets, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
    const auto count = rows.mask.sum(1).clamp_min(1.0).unsqueeze(1);  // [N, 1]
    out.aux_loss = options_.proposal_weight() * ((bce * rows.mask.unsqueeze(2)).sum(1) / count).sum(1);
  }
  return out;
}

}  // namespace mer::models
