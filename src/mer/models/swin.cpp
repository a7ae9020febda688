#include "mer/models/swin.h"

#include "mer/core/error.h"
#include "mer/models/model.h"

namespace mer::models {

namespace F = torch::nn::functional;

torch::Tensor window_partition(const torch::Tensor& x, int64_t window) {
  MER_CHECK(x.dim() == 4 && window >= 1 && x.size(1) % window == 0 && x.size(2) % window == 0,
            "window_partition: x [B, H, W, C] with H and W multiples of the window");
  const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  return x.reshape({b, h / window, window, w / window, window, c})
      .permute({0, 1, 3, 2, 4, 5})
      .reshape({-1, window * window, c});
}

torch::Tensor window_reverse(const torch::Tensor& windows, int64_t window, int64_t height,
                             int64_t width) {
  MER_CHECK(windows.dim() == 3 && windows.size(1) == window * window && height % window == 0 &&
                width % window == 0,
            "window_reverse: windows [B*nW, ws*ws, C] of an H x W grid, H and W multiples of ws");
  const int64_t per_image = (height / window) * (width / window);
  MER_CHECK(windows.size(0) % per_image == 0, "window_reverse: window count is not B * nW");
  const int64_t b = windows.size(0) / per_image, c = windows.size(2);
  return windows.reshape({b, height / window, width / window, window, window, c})
      .permute({0, 1, 3, 2, 4, 5})
      .reshape({b, height, width, c});
}

torch::Tensor shifted_window_mask(int64_t height, int64_t width, int64_t window, int64_t shift) {
  MER_CHECK(shift >= 0 && shift < window, "shifted_window_mask: shift must be in 0..window-1");
  auto regions = torch::zeros({1, height, width, 1});
  if (shift > 0) {
    const std::vector<std::pair<int64_t, int64_t>> hs = {
        {0, height - window}, {height - window, height - shift}, {height - shift, height}};
    const std::vector<std::pair<int64_t, int64_t>> ws = {
        {0, width - window}, {width - window, width - shift}, {width - shift, width}};
    float id = 0;
    for (const auto& [h0, h1] : hs) {
      for (const auto& [w0, w1] : ws) {
        regions.slice(1, h0, h1).slice(2, w0, w1).fill_(id);
        id += 1;
      }
    }
  }
  const auto ids = window_partition(regions, window).squeeze(-1);  // [nW, N]
  const auto differ = ids.unsqueeze(1) != ids.unsqueeze(2);        // [nW, N, N]
  return torch::zeros(differ.sizes()).masked_fill(differ, -100.0);
}

torch::Tensor relative_position_index(int64_t window) {
  const auto r = torch::arange(window, torch::kInt64);
  const auto grid = torch::meshgrid({r, r}, "ij");
  const auto coords = torch::stack({grid[0].flatten(), grid[1].flatten()});  // [2, N]
  auto rel = coords.unsqueeze(2) - coords.unsqueeze(1);                         // [2, N, N]
  rel = rel + (window - 1);
  return rel[0] * (2 * window - 1) + rel[1];
}

WindowAttentionImpl::WindowAttentionImpl(int64_t dim, int64_t window_, int64_t heads_)
    : heads(heads_), window(window_) {
  MER_CHECK(heads >= 1 && dim % heads == 0, "WindowAttention: dim must be a multiple of heads");
  scale = 1.0 / std::sqrt(static_cast<double>(dim / heads));
  relative_position_bias_table = register_parameter(
      "relative_position_bias_table",
      torch::randn({(2 * window - 1) * (2 * window - 1), heads}).mul_(0.02).clamp_(-0.04, 0.04));
  relative_index = register_buffer("relative_position_index", relative_position_index(window));
  qkv = register_module("qkv", torch::nn::Linear(dim, 3 * dim));
  proj = register_module("proj", torch::nn::Linear(dim, dim));
}

torch::Tensor WindowAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const int64_t bw = x.size(0), n = x.size(1), c = x.size(2);
  MER_CHECK(n == window * window, "WindowAttention: expected ws*ws tokens per window");
  const auto qkv_ = qkv(x).reshape({bw, n, 3, heads, c / heads}).permute({2, 0, 3, 1, 4});
  const auto q = qkv_[0] * scale, k = qkv_[1], v = qkv_[2];
  auto attn = torch::matmul(q, k.transpose(-2, -1));  // [bw, heads, n, n]
  const auto bias = relative_position_bias_table.index_select(0, relative_index.flatten())
                        .reshape({n, n, heads})
                        .permute({2, 0, 1});
  attn = attn + bias.unsqueeze(0);
  if (mask.defined()) {
    const int64_t nw = mask.size(0);
    MER_CHECK(bw % nw == 0, "WindowAttention: window count is not a multiple of the mask's");
    attn = attn.reshape({bw / nw, nw, heads, n, n}) + mask.unsqueeze(1).unsqueeze(0);
    attn = attn.reshape({bw, heads, n, n});
  }
  attn = torch::softmax(attn, -1);
  last_attention_ = attn.detach();
  return proj(torch::matmul(attn, v).transpose(1, 2).reshape({bw, n, c}));
}

SwinBlockImpl::SwinBlockImpl(int64_t dim, int64_t heads, int64_t window_, int64_t shift_)
    : window(window_), shift(shift_) {
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  attn = register_module("attn", WindowAttention(dim, window, heads));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  fc1 = register_module("fc1", torch::nn::Linear(dim, 4 * dim));
  fc2 = register_module("fc2", torch::nn::Linear(4 * dim, dim));
}

torch::Tensor SwinBlockImpl::forward(const torch::Tensor& x) {
  const int64_t h = x.size(1), w = x.size(2);
  MER_CHECK(h == w && (h <= window || h % window == 0),
            "SwinBlock: square grid that is a multiple of the window or no larger than it");
  // A grid no larger than the window is one window; shifting it would change nothing.
  const int64_t ws = std::min(window, h);
  const int64_t s = h <= window ? 0 : shift;
  MER_CHECK(ws == window || s == 0, "SwinBlock: the grid is smaller than the window");
  auto y = layer_norm_fp32(norm1, x);
  if (s > 0) y = torch::roll(y, {-s, -s}, {1, 2});
  torch::Tensor mask;
  if (s > 0) mask = shifted_window_mask(h, w, ws, s).to(x.device());
  // The attention module's table is sized for `window`; a one-window grid uses it too
  // because ws == window whenever the grid equals the window (the validated case).
  MER_CHECK(ws == window, "SwinBlock: grid " + std::to_string(h) + " is smaller than window " +
                              std::to_string(window));
  y = window_reverse(attn(window_partition(y, ws), mask), ws, h, w);
  if (s > 0) y = torch::roll(y, {s, s}, {1, 2});
  auto out = x + y;
  return out + fc2(F::gelu(fc1(layer_norm_fp32(norm2, out))));
}

PatchMergingImpl::PatchMergingImpl(int64_t dim) {
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({4 * dim})));
  reduction = register_module("reduction",
                              torch::nn::Linear(torch::nn::LinearOptions(4 * dim, 2 * dim).bias(false)));
}

torch::Tensor PatchMergingImpl::forward(const torch::Tensor& x) {
  MER_CHECK(x.dim() == 4 && x.size(1) % 2 == 0 && x.size(2) % 2 == 0,
            "PatchMerging: x [B, H, W, C] with H and W even");
  using torch::indexing::Slice;
  const auto x0 = x.index({Slice(), Slice(0, torch::indexing::None, 2), Slice(0, torch::indexing::None, 2)});
  const auto x1 = x.index({Slice(), Slice(1, torch::indexing::None, 2), Slice(0, torch::indexing::None, 2)});
  const auto x2 = x.index({Slice(), Slice(0, torch::indexing::None, 2), Slice(1, torch::indexing::None, 2)});
  const auto x3 = x.index({Slice(), Slice(1, torch::indexing::None, 2), Slice(1, torch::indexing::None, 2)});
  return reduction(layer_norm_fp32(norm, torch::cat({x0, x1, x2, x3}, -1)));
}

void SwinOptions::validate(int64_t input_size) const {
  if (in_channels() < 1 || patch() < 1 || embed() < 1 || window() < 1) {
    throw ConfigError("swin: in_channels, patch, embed and window must be >= 1");
  }
  if (depths().empty() || depths().size() != heads().size()) {
    throw ConfigError("swin: depths and heads must list the same number (>= 1) of stages");
  }
  int64_t side = input_size / patch(), dim = embed();
  if (input_size % patch() != 0) throw ConfigError("swin: input_size must be a multiple of patch");
  for (size_t i = 0; i < depths().size(); ++i) {
    if (depths()[i] < 1 || heads()[i] < 1 || dim % heads()[i] != 0) {
      throw ConfigError("swin: stage " + std::to_string(i + 1) + ": depth >= 1 and its channels (" +
                        std::to_string(dim) + ") a multiple of its heads");
    }
    if (side < window() || side % window() != 0) {
      throw ConfigError("swin: stage " + std::to_string(i + 1) + " has a " + std::to_string(side) +
                        "x" + std::to_string(side) + " token grid, which is not a multiple of "
                        "window " + std::to_string(window()) + " (input_size / patch / 2^stage)");
    }
    if (i + 1 < depths().size()) {
      if (side % 2 != 0) throw ConfigError("swin: token grid must be even to merge patches");
      side /= 2;
      dim *= 2;
    }
  }
}

int64_t SwinOptions::out_channels() const {
  return embed() << (static_cast<int64_t>(depths().size()) - 1);
}

int64_t SwinOptions::out_side(int64_t input_size) const {
  return input_size / patch() >> (static_cast<int64_t>(depths().size()) - 1);
}

SwinImpl::SwinImpl(const SwinOptions& options, int64_t input_size) : options_(options) {
  options_.validate(input_size);
  patch_embed = register_module(
      "patch_embed", torch::nn::Conv2d(torch::nn::Conv2dOptions(options_.in_channels(), options_.embed(),
                                                                options_.patch())
                                           .stride(options_.patch())));
  patch_norm = register_module("patch_norm",
                               torch::nn::LayerNorm(torch::nn::LayerNormOptions({options_.embed()})));
  layers = register_module("layers", torch::nn::ModuleList());
  merges = register_module("merges", torch::nn::ModuleList());
  int64_t dim = options_.embed();
  const auto& depths = options_.depths();
  for (size_t stage = 0; stage < depths.size(); ++stage) {
    for (int64_t b = 0; b < depths[stage]; ++b) {
      const int64_t shift = b % 2 == 1 ? options_.window() / 2 : 0;
      layers->push_back(SwinBlock(dim, options_.heads()[stage], options_.window(), shift));
      stage_of_block_.push_back(static_cast<int64_t>(stage));
    }
    if (stage + 1 < depths.size()) {
      merges->push_back(PatchMerging(dim));
      dim *= 2;
    }
  }
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
}

torch::Tensor SwinImpl::forward(const torch::Tensor& x) {
  MER_CHECK(x.dim() == 4 && x.size(1) == options_.in_channels(),
            "Swin expects [B, " + std::to_string(options_.in_channels()) + ", S, S]");
  auto t = layer_norm_fp32(patch_norm, patch_embed(x).permute({0, 2, 3, 1}));  // [B, h, w, C]
  int64_t stage = 0;
  for (size_t i = 0; i < layers->size(); ++i) {
    if (stage_of_block_[i] != stage) {
      t = merges[stage]->as<PatchMergingImpl>()->forward(t);
      stage = stage_of_block_[i];
    }
    t = layers[i]->as<SwinBlockImpl>()->forward(t);
  }
  return layer_norm_fp32(norm, t).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace mer::models
