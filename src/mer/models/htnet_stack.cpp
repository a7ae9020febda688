#include "mer/models/htnet_stack.h"

#include <cmath>

#include "mer/core/error.h"
#include "mer/models/landmark_groups.h"

namespace mer::models {

namespace F = torch::nn::functional;

HTNetStack::HTNetStack(const HTNetOptions& options, int64_t folds)
    : HTNetStack(std::make_shared<HTNetImpl>(options), folds) {}

HTNetStack::HTNetStack(std::shared_ptr<HTNetImpl> like, int64_t folds)
    : MirroredFoldStack(*like, folds), like_(std::move(like)), options_(like_->options()) {}

torch::Tensor HTNetStack::norm(const std::string& name, const torch::Tensor& x) {
  // In float32 outside autocast, as layer_norm_fp32 runs the model's own.
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const int64_t n = x.size(0), c = x.size(-1);
  std::vector<int64_t> shape(x.dim(), 1);
  shape.front() = n;
  shape.back() = c;
  const auto y = F::layer_norm(x.to(torch::kFloat32), F::LayerNormFuncOptions({c}));
  return y * tensor(name + ".weight").view(shape) + tensor(name + ".bias").view(shape);
}

torch::Tensor HTNetStack::layer(const std::string& name, const torch::Tensor& x, int64_t heads) {
  const int64_t n = x.size(0), m = x.size(1), t = x.size(2), c = x.size(3);
  const int64_t head_dim = c / heads, inner = heads * head_dim;
  const double p = options_.dropout();
  const auto qkv = linear(name + ".to_qkv", norm(name + ".attn_norm", x))
                       .view({n, m, t, 3, heads, head_dim})
                       .permute({3, 0, 1, 4, 2, 5});  // [3, N, M, heads, T, head width]
  const auto q = qkv[0], k = qkv[1], v = qkv[2];
  const auto attention = torch::softmax(
      torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_dim))), -1);
  const auto mixed = torch::matmul(dropout(attention, p), v).transpose(2, 3).reshape({n, m, t, inner});
  auto y = x + dropout(linear(name + ".to_out", mixed), p);
  const auto hidden = F::gelu(linear(name + ".mlp_in", norm(name + ".mlp_norm", y)));
  return y + dropout(linear(name + ".mlp_out", dropout(hidden, p)), p);
}

torch::Tensor HTNetStack::level(int64_t index, const torch::Tensor& x) {
  const std::string name = "levels." + std::to_string(index);
  const int64_t n = x.size(0), b = x.size(1), h = x.size(2), w = x.size(3), c = x.size(4);
  const int64_t t = htnet_block_side(options_);
  const int64_t rows = h / t, cols = w / t;
  // Tokens of each block together: [N, B * blocks, t * t, C].
  auto tokens = x.reshape({n, b, rows, t, cols, t, c})
                    .permute({0, 1, 2, 4, 3, 5, 6})
                    .reshape({n, b * rows * cols, t * t, c});
  if (has(name + ".pos_emb")) tokens = tokens + tensor(name + ".pos_emb").view({n, 1, t * t, 1});
  const int64_t heads = options_.heads() << index;
  const int64_t depth = options_.block_repeats()[static_cast<size_t>(index)];
  for (int64_t i = 0; i < depth; ++i) tokens = layer(name + ".layers." + std::to_string(i), tokens, heads);
  auto y = tokens.reshape({n, b, rows, cols, t, t, c}).permute({0, 1, 2, 4, 3, 5, 6}).reshape({n, b, h, w, c});
  if (!has(name + ".aggregate.weight")) return y;
  // Each fold's 3x3 aggregation as one grouped convolution: [B, N * C, H, W].
  auto maps = stacked::conv2d(y.permute({1, 0, 4, 2, 3}).reshape({b, n * c, h, w}),
                              tensor(name + ".aggregate.weight"), tensor(name + ".aggregate.bias"), 1);
  const int64_t next = maps.size(1) / n;
  y = norm(name + ".aggregate_norm", maps.reshape({b, n, next, h, w}).permute({1, 0, 3, 4, 2}));
  auto pooled = F::max_pool2d(y.permute({0, 1, 4, 2, 3}).reshape({n * b, next, h, w}),
                              F::MaxPool2dFuncOptions(3).stride(2).padding(1));
  return pooled.reshape({n, b, next, pooled.size(2), pooled.size(3)}).permute({0, 1, 3, 4, 2}).contiguous();
}

StackedOutput HTNetStack::forward(const Batch& batch, const FoldRows& rows) {
  const int64_t n = folds(), side = options_.input_size();
  MER_CHECK(batch.flow.dim() == 4 && batch.flow.size(0) == n * rows.width && batch.flow.size(1) == 3 &&
                batch.flow.size(2) == side && batch.flow.size(3) == side,
            "htnet stack expects flow of shape [N * W, 3, " + std::to_string(side) + ", " +
                std::to_string(side) + "]");
  const int64_t total = batch.flow.size(0), width = rows.width;
  const auto flow = batch.flow.to(torch::kFloat32);
  const auto points =
      batch.landmarks.defined()
          ? batch.landmarks.to(flow.device(), torch::kFloat32)
          : tensor("template_landmarks")[0].unsqueeze(0).expand({total, kLandmarks, 2});
  const auto tiled = like_->mosaic(flow, htnet_area_origins(points, side));  // [N * W, 3, S, S]
  const int64_t p = options_.patch(), g = side / p;
  // Patches flattened with the channel fastest, then the column, then the row (as the model).
  auto x = tiled.reshape({total, 3, g, p, g, p}).permute({0, 2, 4, 3, 5, 1}).reshape({n, width, g, g, 3 * p * p});
  x = linear("patch_embed", x);  // [N, W, G, G, dim]
  for (int64_t i = 0; i < options_.hierarchies(); ++i) x = level(i, x);
  StackedOutput out;
  out.logits = linear("classifier", norm("head_norm", x).mean({2, 3}));  // [N, W, K]
  return out;
}

}  // namespace mer::models
