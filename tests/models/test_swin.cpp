#include <gtest/gtest.h>

#include "mer/core/error.h"
#include "mer/models/swin.h"

namespace mer::models {

TEST(Swin, WindowPartitionAndReverseRoundTrip) {
  const auto x = torch::rand({2, 8, 12, 3});
  const auto windows = window_partition(x, 4);
  EXPECT_EQ(windows.sizes(), (std::vector<int64_t>{2 * 2 * 3, 16, 3}));
  // Window 1 of image 0 is rows 0..3, columns 4..7, tokens row-major.
  EXPECT_TRUE(torch::equal(windows[1], x[0].slice(0, 0, 4).slice(1, 4, 8).reshape({16, 3})));
  // Window 0 of image 1 follows the 6 windows of image 0.
  EXPECT_TRUE(torch::equal(windows[6], x[1].slice(0, 0, 4).slice(1, 0, 4).reshape({16, 3})));
  EXPECT_TRUE(torch::equal(window_reverse(windows, 4, 8, 12), x));
  EXPECT_THROW(window_partition(x, 5), Error);
}

TEST(Swin, ShiftedWindowMaskOnAHandCase) {
  // 4x4 grid, window 2, shift 1: regions per axis [0, 2), [2, 3), [3, 4); region id 3r + c.
  const auto mask = shifted_window_mask(4, 4, 2, 1);
  ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{4, 4, 4}));
  // Window (0, 0): all four tokens in region 0 -> nothing masked.
  EXPECT_EQ(mask[0].abs().sum().item<float>(), 0.0f);
  // Window (0, 1): tokens (0,2) (0,3) (1,2) (1,3) in regions 1 2 1 2.
  const auto w1 = torch::tensor({{0.f, -100.f, 0.f, -100.f},
                                 {-100.f, 0.f, -100.f, 0.f},
                                 {0.f, -100.f, 0.f, -100.f},
                                 {-100.f, 0.f, -100.f, 0.f}});
  EXPECT_TRUE(torch::equal(mask[1], w1));
  // Window (1, 0): tokens (2,0) (2,1) (3,0) (3,1) in regions 3 3 6 6.
  const auto w2 = torch::tensor({{0.f, 0.f, -100.f, -100.f},
                                 {0.f, 0.f, -100.f, -100.f},
                                 {-100.f, -100.f, 0.f, 0.f},
                                 {-100.f, -100.f, 0.f, 0.f}});
  EXPECT_TRUE(torch::equal(mask[2], w2));
  // Window (1, 1): four different regions 4 5 7 8 -> only the diagonal is kept.
  EXPECT_TRUE(torch::equal(mask[3], (1 - torch::eye(4)) * -100.0));
  // No shift: nothing masked.
  EXPECT_EQ(shifted_window_mask(4, 4, 2, 0).abs().sum().item<float>(), 0.0f);
}

TEST(Swin, RelativePositionIndexDependsOnlyOnTheOffset) {
  const auto index = relative_position_index(2);
  ASSERT_EQ(index.sizes(), (std::vector<int64_t>{4, 4}));
  // Zero offset: the middle of the (2ws-1)^2 = 9 table.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(index[i][i].item<int64_t>(), 4);
  // Token 0 -> 1 and token 2 -> 3: the same offset (0, -1).
  EXPECT_EQ(index[0][1].item<int64_t>(), index[2][3].item<int64_t>());
  EXPECT_NE(index[0][1].item<int64_t>(), index[1][0].item<int64_t>());
  EXPECT_GE(index.min().item<int64_t>(), 0);
  EXPECT_LT(index.max().item<int64_t>(), 9);
}

TEST(Swin, WindowAttentionShapesAndMasking) {
  torch::manual_seed(0);
  WindowAttention attn(8, 2, 2);
  const auto x = torch::randn({8, 4, 8});  // 2 images x 4 windows of 2x2 tokens
  EXPECT_EQ(attn->forward(x).sizes(), x.sizes());
  EXPECT_EQ(attn->last_attention().sizes(), (std::vector<int64_t>{8, 2, 4, 4}));
  EXPECT_TRUE(torch::allclose(attn->last_attention().sum(-1), torch::ones({8, 2, 4})));
  const auto mask = shifted_window_mask(4, 4, 2, 1);
  EXPECT_EQ(attn->forward(x, mask).sizes(), x.sizes());
  // Masked pairs get (almost) no weight: image 1, window 3 keeps only the diagonal.
  const auto w = attn->last_attention()[4 + 3];
  EXPECT_TRUE(torch::allclose(w, torch::eye(4).expand({2, 4, 4}), 1e-5, 1e-5));
  EXPECT_EQ(attn->relative_position_bias_table.sizes(), (std::vector<int64_t>{9, 2}));
}

TEST(Swin, BlockMergingAndBackboneShapes) {
  torch::manual_seed(0);
  SwinBlock plain(8, 2, 2, 0), shifted(8, 2, 2, 1);
  const auto x = torch::randn({2, 4, 4, 8});
  EXPECT_EQ(plain->forward(x).sizes(), x.sizes());
  EXPECT_EQ(shifted->forward(x).sizes(), x.sizes());
  PatchMerging merge(8);
  EXPECT_EQ(merge->forward(x).sizes(), (std::vector<int64_t>{2, 2, 2, 16}));

  const auto options = SwinOptions().embed(8).depths({2, 2, 2}).heads({1, 2, 4}).window(2);
  EXPECT_EQ(options.out_channels(), 32);
  EXPECT_EQ(options.out_side(32), 2);
  Swin swin(options, 32);
  const auto out = swin->forward(torch::rand({2, 1, 32, 32}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 32, 2, 2}));
  // Published layout at 224: 56 -> 28 -> 14 tokens, 512 channels at 14x14.
  const SwinOptions published;
  EXPECT_NO_THROW(published.validate(224));
  EXPECT_EQ(published.out_channels(), 512);
  EXPECT_EQ(published.out_side(224), 14);
  EXPECT_NO_THROW(published.validate(112));
  EXPECT_THROW(published.validate(96), ConfigError);   // 24 tokens: not a multiple of 7
  EXPECT_THROW(SwinOptions().heads({4, 8}).validate(224), ConfigError);
  EXPECT_THROW(SwinOptions().embed(10).heads({4, 8, 16}).validate(224), ConfigError);
}

}  // namespace mer::models
