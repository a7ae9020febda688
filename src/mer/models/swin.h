#pragma once
// Swin transformer parts (Liu et al. 2021) for the facial position focalizer of CVA + FPF
// (cva_fpf.h): window partition and its inverse, the shifted-window attention mask, window
// attention with a relative position bias, the Swin block, patch merging and a three-stage
// Swin backbone that turns a face image into a [C, h, w] map.
//
// Tensors are channels-last inside the transformer ([B, H, W, C] float32), as in the
// reference implementation, so that a PyTorch port's weights line up by name.
#include <torch/torch.h>

#include <vector>

namespace mer::models {

// x [B, H, W, C] -> windows [B * (H/ws) * (W/ws), ws * ws, C], windows in row-major order of
// the window grid and tokens row-major inside each window. H and W must be multiples of ws.
torch::Tensor window_partition(const torch::Tensor& x, int64_t window);

// The inverse of window_partition: windows [B * nW, ws * ws, C] -> [B, H, W, C].
torch::Tensor window_reverse(const torch::Tensor& windows, int64_t window, int64_t height,
                             int64_t width);

// Attention mask of shifted-window attention on an H x W token grid rolled by -shift in both
// axes: [nW, ws*ws, ws*ws] float32, 0 where two tokens of a window come from the same region
// of the unrolled grid and -100 where they do not (so softmax ignores them). With shift 0
// all zeros. Regions per axis: [0, size-ws), [size-ws, size-shift), [size-shift, size).
torch::Tensor shifted_window_mask(int64_t height, int64_t width, int64_t window, int64_t shift);

// Index into the relative position bias table for each pair of tokens of a window:
// [ws*ws, ws*ws] int64 in 0 .. (2ws-1)^2 - 1, the same for (i, j) and (i', j') at the same
// relative offset.
torch::Tensor relative_position_index(int64_t window);

// Multi-head self-attention inside windows with a learned relative position bias.
// forward: windows [nW*B, N = ws*ws, C], mask [nW, N, N] or undefined -> [nW*B, N, C].
class WindowAttentionImpl : public torch::nn::Module {
 public:
  WindowAttentionImpl(int64_t dim, int64_t window, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask = {});
  // The attention weights of the last forward, [nW*B, heads, N, N] (for tests and figures).
  const torch::Tensor& last_attention() const { return last_attention_; }

  int64_t heads, window;
  double scale;
  torch::Tensor relative_position_bias_table;  // [(2ws-1)^2, heads]
  torch::Tensor relative_index;                // buffer [N, N]
  torch::nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  torch::Tensor last_attention_;
};
TORCH_MODULE(WindowAttention);

// One Swin block: x + W-MSA(LN(x)) (shifted when shift > 0), then x + MLP(LN(x)) with a
// GELU MLP of ratio 4. forward: x [B, H, W, C] -> [B, H, W, C]. The window shrinks to the
// grid (and the shift is dropped) when the grid is no larger than the window, as in Swin.
class SwinBlockImpl : public torch::nn::Module {
 public:
  SwinBlockImpl(int64_t dim, int64_t heads, int64_t window, int64_t shift);
  torch::Tensor forward(const torch::Tensor& x);

  int64_t window, shift;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  WindowAttention attn{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SwinBlock);

// Patch merging: each 2x2 group of tokens concatenated (4C), LayerNorm, Linear to 2C.
// x [B, H, W, C] (H, W even) -> [B, H/2, W/2, 2C].
class PatchMergingImpl : public torch::nn::Module {
 public:
  explicit PatchMergingImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear reduction{nullptr};
};
TORCH_MODULE(PatchMerging);

struct SwinOptions {
  TORCH_ARG(int64_t, in_channels) = 1;
  TORCH_ARG(int64_t, patch) = 4;
  TORCH_ARG(int64_t, embed) = 128;
  TORCH_ARG(std::vector<int64_t>, depths) = std::vector<int64_t>{2, 2, 6};
  TORCH_ARG(std::vector<int64_t>, heads) = std::vector<int64_t>{4, 8, 16};
  TORCH_ARG(int64_t, window) = 7;

 public:
  // Throws ConfigError on nonsense, and when a stage's grid of an input of side
  // `input_size` is not a multiple of the window (or no larger than it).
  void validate(int64_t input_size) const;
  // Channels of the output map: embed * 2^(stages-1).
  int64_t out_channels() const;
  // Side of the output map for an input of side s: s / patch / 2^(stages-1).
  int64_t out_side(int64_t input_size) const;
};

// Patch embedding (conv patch x patch, stride patch, LayerNorm), the stages of Swin blocks
// (even blocks plain windows, odd blocks shifted by window/2) with patch merging between
// them, and a final LayerNorm. forward: [B, in_channels, S, S] -> [B, out_channels, h, h].
class SwinImpl : public torch::nn::Module {
 public:
  SwinImpl(const SwinOptions& options, int64_t input_size);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d patch_embed{nullptr};
  torch::nn::LayerNorm patch_norm{nullptr};
  torch::nn::ModuleList layers{nullptr};   // SwinBlocks of every stage, in order
  torch::nn::ModuleList merges{nullptr};   // PatchMerging between stages
  torch::nn::LayerNorm norm{nullptr};

 private:
  SwinOptions options_;
  std::vector<int64_t> stage_of_block_;
};
TORCH_MODULE(Swin);

}  // namespace mer::models
