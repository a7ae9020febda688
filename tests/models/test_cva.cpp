#include <gtest/gtest.h>

#include "mer/core/error.h"
#include "mer/models/cva.h"

namespace mer::models {

TEST(CVA, FirstBlockHasNoPreviousAttention) {
  torch::manual_seed(0);
  CVABlock block(CVABlockOptions(4, 8));
  block->eval();
  const auto x = torch::randn({2, 4, 6, 5});
  const auto r = block->forward(x);
  EXPECT_EQ(r.out.sizes(), (std::vector<int64_t>{2, 8, 6, 5}));
  EXPECT_EQ(r.attention.sizes(), (std::vector<int64_t>{2, 8, 6, 1}));  // one weight per row
  EXPECT_GT(r.attention.min().item<float>(), 0.0f);
  EXPECT_LT(r.attention.max().item<float>(), 1.0f);
  EXPECT_FALSE(block->previous_proj);
  EXPECT_THROW(block->forward(x, torch::rand({2, 8, 6, 1})), Error);
}

TEST(CVA, ContinuityUsesThePreviousBlocksAttention) {
  torch::manual_seed(0);
  CVABlock first(CVABlockOptions(4, 8));
  CVABlock second(CVABlockOptions(8, 16).stride(2).previous_channels(8));
  first->eval();
  second->eval();
  const auto x = torch::randn({2, 4, 8, 8});
  const auto a = first->forward(x);
  const auto b = second->forward(a.out, a.attention);
  EXPECT_EQ(b.out.sizes(), (std::vector<int64_t>{2, 16, 4, 4}));
  EXPECT_EQ(b.attention.sizes(), (std::vector<int64_t>{2, 16, 4, 1}));
  // The same features with another previous map give another output.
  const auto other = second->forward(a.out, torch::rand({2, 8, 8, 1}));
  EXPECT_FALSE(torch::allclose(b.out, other.out));
  EXPECT_FALSE(torch::allclose(b.attention, other.attention));
  // Gradients flow back into the previous block's attention.
  auto previous = a.attention.detach().clone().requires_grad_(true);
  second->forward(a.out.detach(), previous).out.sum().backward();
  ASSERT_TRUE(previous.grad().defined());
  EXPECT_GT(previous.grad().abs().sum().item<float>(), 0.0f);
  // A later block needs the previous map; a map of the wrong height is refused.
  EXPECT_THROW(second->forward(a.out), Error);
  EXPECT_THROW(second->forward(a.out, torch::rand({2, 8, 3, 1})), Error);
}

TEST(CVA, HSwishValues) {
  const auto x = torch::tensor({-4.0f, -3.0f, 0.0f, 1.0f, 3.0f, 5.0f});
  const auto expected = torch::tensor({0.0f, 0.0f, 0.0f, 1.0f * 4.0f / 6.0f, 3.0f, 5.0f});
  EXPECT_TRUE(torch::allclose(h_swish(x), expected));
}

}  // namespace mer::models
