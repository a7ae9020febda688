// STSTNetFusedTrainer against LibTorch autograd on the same model and the same dropout masks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "mer/core/error.h"
#include "mer/models/ststnet_fused.h"

namespace mer::models {
namespace {

namespace F = torch::nn::functional;

// Copies every parameter and buffer of src into dst (same architecture).
void copy_state(STSTNetImpl& dst, STSTNetImpl& src) {
  torch::NoGradGuard no_grad;
  auto dst_params = dst.named_parameters();
  for (const auto& p : src.named_parameters()) dst_params[p.key()].copy_(p.value());
  auto dst_buffers = dst.named_buffers();
  for (const auto& b : src.named_buffers()) dst_buffers[b.key()].copy_(b.value());
}

// The reference: STSTNet's training forward written out with explicit dropout masks
// (mask: [B, 16, P, P] or undefined for no dropout).
torch::Tensor reference_logits(STSTNetImpl& net, const torch::Tensor& x,
                               const torch::Tensor& mask) {
  net.train();
  auto stream = [&](torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn) {
    auto y = bn(torch::relu(conv(x)));
    return F::max_pool2d(y, F::MaxPool2dFuncOptions(3).stride(3).padding(1));
  };
  auto y =
      torch::cat({stream(net.c1, net.bn1), stream(net.c2, net.bn2), stream(net.c3, net.bn3)}, 1);
  if (mask.defined()) y = y * mask;
  y = F::avg_pool2d(y, F::AvgPool2dFuncOptions(2).stride(2));
  return net.fc(y.flatten(1));
}

torch::Tensor reference_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                             const torch::Tensor& class_weights) {
  auto options = F::CrossEntropyFuncOptions();
  if (class_weights.defined()) options.weight(class_weights);
  return F::cross_entropy(logits, labels, options);
}

// max |actual - expected| <= rel * max |expected| (+ abs_floor for all-zero expectations).
// `context` (optional) is float32 autograd's result, whose error is printed for comparison.
void expect_close(const torch::Tensor& actual, const torch::Tensor& expected, double rel,
                  const std::string& what, const torch::Tensor& context = {},
                  double abs_floor = 1e-12) {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const auto ex = expected.to(torch::kDouble);
  const double scale = ex.abs().max().item<double>();
  const double err = (actual.to(torch::kDouble) - ex).abs().max().item<double>();
  const double context_err =
      context.defined() ? (context.to(torch::kDouble) - ex).abs().max().item<double>() : -1.0;
  EXPECT_LE(err, rel * scale + abs_floor)
      << what << ": max error " << err << ", max |expected| " << scale
      << ", float32 autograd's max error " << context_err;
}

// Makes the conv exact in float32: weights and biases become multiples of 2^-6, and with
// integer inputs every product and partial sum is then a multiple of 2^-6 far below 2^24, so
// the fused kernel, float32 and float64 autograd all compute identical conv outputs whatever
// their summation order. That pins down every max-pool winner: two distinct conv outputs are
// >= 2^-6 apart, exact ties stay exact (and resolve first-in-window in all three), and no
// near-tie can be resolved differently. (Without this, a window whose two largest values lie
// within float rounding of each other, which occurs about once per few 100k windows, may route
// its gradient differently from the reference: a legitimate float32 difference of ~1e-4 of the
// gradient.)
void quantise_conv(STSTNetImpl& net) {
  torch::NoGradGuard no_grad;
  for (auto* conv : {&net.c1, &net.c2, &net.c3}) {
    for (auto* t : {&(*conv)->weight, &(*conv)->bias}) t->copy_((*t * 64.0f).round() / 64.0f);
  }
}

torch::Tensor integer_inputs(int64_t batch, int64_t side) {
  return torch::randint(0, 256, {batch, 3, side, side}).to(torch::kFloat);
}

torch::Tensor dropout_masks(uint64_t seed, int64_t batch, int64_t pooled, float p) {
  auto mask = torch::empty({batch, 16, pooled, pooled});
  FastRng rng(seed);
  fill_dropout_scale(rng, p, mask.data_ptr<float>(), mask.numel());
  return mask;
}

struct Case {
  int64_t side = 28;
  int64_t classes = 3;
  int64_t batch = 256;
  bool dropout = true;
  bool weighted = false;
  bool negative_gamma = false;  // some negative and one zero batch-norm weight
  bool sparse = false;          // strongly negative conv biases: mostly zero ReLU outputs
  bool blocky = false;          // piecewise-constant input: exact positive ties in windows
  bool offset = false;          // inputs 128 +- ~8: r has a large mean relative to its spread
  FusedIsa isa = FusedIsa::kAuto;
  uint64_t seed = 1;
};

std::string describe(const Case& c) {
  return "S=" + std::to_string(c.side) + " K=" + std::to_string(c.classes) +
         " B=" + std::to_string(c.batch) + (c.dropout ? " dropout" : "") +
         (c.weighted ? " weighted" : "") + (c.negative_gamma ? " negative-gamma" : "") +
         (c.sparse ? " sparse" : "") + (c.blocky ? " blocky" : "") + (c.offset ? " offset" : "") +
         " isa=" + std::to_string(static_cast<int>(c.isa));
}

bool isa_available(FusedIsa isa) {
  try {
    STSTNetImpl net;
    STSTNetFusedTrainer trainer(net, isa);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// One training step of fused vs autograd, then predict() vs the eval forward. The reference
// runs in float64: float32 autograd itself deviates from the exact gradients by up to ~1e-4 of
// a tensor's max-abs (small batches, the conv biases, whose gradient is a near-cancellation
// behind batch norm), so float64 is the meaningful yardstick for a tight tolerance.
void check_step(const Case& c) {
  SCOPED_TRACE(describe(c));
  torch::manual_seed(static_cast<int64_t>(c.seed));
  const auto options = STSTNetOptions().input_size(c.side).num_classes(c.classes);
  STSTNetImpl fused_net(options), ref_net(options), ref32_net(options);
  {
    torch::NoGradGuard no_grad;
    if (c.negative_gamma) {
      fused_net.bn1->weight.copy_(torch::tensor({-1.0f, 0.5f, 1.5f}));
      fused_net.bn2->weight.copy_(torch::tensor({0.7f, -0.3f, 0.0f, 1.0f, -2.0f}));
      fused_net.bn3->weight.uniform_(-1.0, 1.0);
      fused_net.bn1->bias.uniform_(-0.5, 0.5);
      fused_net.bn3->bias.uniform_(-0.5, 0.5);
    }
    if (c.sparse) {
      for (auto* conv : {&fused_net.c1, &fused_net.c2, &fused_net.c3})
        (*conv)->bias.copy_(-0.8f * (*conv)->weight.clamp_min(0).sum({1, 2, 3}) * 255.0f);
    }
    quantise_conv(fused_net);
    // Non-trivial running statistics, to exercise the momentum update and eval mode.
    for (auto* bn : {&fused_net.bn1, &fused_net.bn2, &fused_net.bn3}) {
      (*bn)->running_mean.uniform_(0.0, 50.0);
      (*bn)->running_var.uniform_(100.0, 900.0);
    }
  }
  copy_state(ref_net, fused_net);
  copy_state(ref32_net, fused_net);
  ref_net.to(torch::kDouble);

  torch::Tensor x;
  if (c.blocky) {
    const int64_t coarse = (c.side + 3) / 4;
    x = torch::randint(0, 4, {c.batch, 3, coarse, coarse}).to(torch::kFloat) * 60.0f;
    x = x.repeat_interleave(4, 2).repeat_interleave(4, 3);
    x = x.narrow(2, 0, c.side).narrow(3, 0, c.side).contiguous();
  } else if (c.offset) {
    x = (128.0f + 8.0f * torch::randn({c.batch, 3, c.side, c.side})).round();
  } else {
    x = integer_inputs(c.batch, c.side);
  }
  const auto labels = torch::randint(0, c.classes, {c.batch}, torch::kLong);
  const auto mask = c.dropout ? dropout_masks(c.seed + 100, c.batch, fused_net.pooled_side(), 0.5f)
                              : torch::Tensor();
  const auto weights = c.weighted ? torch::rand({c.classes}) + 0.2f : torch::Tensor();
  auto to64 = [](const torch::Tensor& t) { return t.defined() ? t.to(torch::kDouble) : t; };

  STSTNetFusedTrainer trainer(fused_net, c.isa);
  const float loss = trainer.train_step(x.data_ptr<float>(), labels.data_ptr<int64_t>(), c.batch,
                                        c.dropout ? mask.data_ptr<float>() : nullptr,
                                        c.weighted ? weights.data_ptr<float>() : nullptr);

  const auto ref_loss =
      reference_loss(reference_logits(ref_net, to64(x), to64(mask)), labels, to64(weights));
  ref_loss.backward();
  reference_loss(reference_logits(ref32_net, x, mask), labels, weights).backward();

  EXPECT_NEAR(loss, ref_loss.item<double>(), 1e-5 * std::abs(ref_loss.item<double>()) + 1e-6);
  const auto fused_params = fused_net.named_parameters();
  const auto ref32_params = ref32_net.named_parameters();
  for (const auto& p : ref_net.named_parameters()) {
    const auto& fused = fused_params[p.key()];
    expect_close(fused.grad(), p.value().grad(), 2e-5, "grad " + p.key(),
                 ref32_params[p.key()].grad());
    EXPECT_TRUE(torch::equal(fused, ref32_params[p.key()]))
        << "train_step must not change " << p.key();
  }
  const auto fused_buffers = fused_net.named_buffers();
  for (const auto& b : ref_net.named_buffers()) {
    if (b.value().scalar_type() == torch::kLong) {
      EXPECT_TRUE(torch::equal(fused_buffers[b.key()], b.value())) << b.key();
    } else {
      expect_close(fused_buffers[b.key()], b.value(), 1e-6, b.key());
    }
  }

  // Eval-mode forward with the updated running statistics.
  std::vector<float> logits(static_cast<size_t>(c.batch * c.classes));
  trainer.predict(x.data_ptr<float>(), c.batch, logits.data());
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    copy_state(ref_net, fused_net);  // the float32 running stats the fused trainer wrote
    ref_net.eval();
    expected = ref_net.forward_flow(to64(x));
  }
  expect_close(torch::from_blob(logits.data(), {c.batch, c.classes}), expected, 1e-5, "predict");
}

TEST(STSTNetFused, MatchesAutogradBatch256) { check_step({}); }

TEST(STSTNetFused, MatchesAutogradWeightedNegativeGamma) {
  Case c;
  c.weighted = true;
  c.negative_gamma = true;
  c.seed = 2;
  check_step(c);
}

TEST(STSTNetFused, MatchesAutogradSmallBatches) {
  for (int64_t batch : {1, 7}) {
    Case c;
    c.batch = batch;
    c.classes = 5;
    c.weighted = batch == 7;
    c.dropout = batch == 1;
    c.seed = 3 + batch;
    check_step(c);
  }
}

TEST(STSTNetFused, MatchesAutogradOtherInputSizes) {
  // 20: P=8; 29: P=11 (odd, clipped last window, no tail row); 8: the minimum; 24: P=9.
  for (int64_t side : {20, 29, 8, 24}) {
    Case c;
    c.side = side;
    c.classes = 4;
    c.batch = 33;
    c.weighted = side == 29;
    c.negative_gamma = side == 24;
    c.seed = 10 + side;
    check_step(c);
  }
}

TEST(STSTNetFused, MaxPoolTiesFollowTorch) {
  Case sparse;  // most windows are all zeros or tie at zero (argmin for negative gamma)
  sparse.sparse = true;
  sparse.negative_gamma = true;
  sparse.batch = 64;
  sparse.seed = 40;
  check_step(sparse);
  Case blocky;  // identical patches: exact ties between positive values
  blocky.blocky = true;
  blocky.negative_gamma = true;
  blocky.batch = 64;
  blocky.seed = 41;
  check_step(blocky);
}

TEST(STSTNetFused, InputsWithLargeOffsetStayAccurate) {
  // Batch-norm and gradient sums would cancel catastrophically here without the shift.
  Case c;
  c.offset = true;
  c.seed = 60;
  check_step(c);
}

TEST(STSTNetFused, EveryInstructionSetVariantMatches) {
  for (FusedIsa isa : {FusedIsa::kAvx512, FusedIsa::kAvx2, FusedIsa::kGeneric}) {
    if (!isa_available(isa)) {
      std::cout << "skipping unsupported ISA variant " << static_cast<int>(isa) << "\n";
      continue;
    }
    Case c;
    c.isa = isa;
    c.batch = 48;
    c.side = 29;
    c.negative_gamma = true;
    c.seed = 50;
    check_step(c);
    STSTNetImpl net;
    EXPECT_EQ(STSTNetFusedTrainer(net, isa).isa(), isa);
  }
  STSTNetImpl net;
  EXPECT_NE(STSTNetFusedTrainer(net).isa(), FusedIsa::kAuto);
}

TEST(STSTNetFused, AdamTrainingTracksAutograd) {
  torch::manual_seed(7);
  STSTNetImpl fused_net, ref_net;
  quantise_conv(fused_net);  // exact first step; later steps are plain float32 on both sides
  copy_state(ref_net, fused_net);
  torch::optim::Adam fused_opt(fused_net.parameters(), torch::optim::AdamOptions(1e-3));
  torch::optim::Adam ref_opt(ref_net.parameters(), torch::optim::AdamOptions(1e-3));
  STSTNetFusedTrainer trainer(fused_net);
  const int64_t batch = 64;
  const auto x = integer_inputs(batch, 28);
  const auto labels = torch::randint(0, 3, {batch}, torch::kLong);
  for (int step = 0; step < 8; ++step) {
    const auto mask = dropout_masks(200 + step, batch, 10, 0.5f);
    fused_opt.zero_grad();
    const float loss = trainer.train_step(x.data_ptr<float>(), labels.data_ptr<int64_t>(), batch,
                                          mask.data_ptr<float>());
    fused_opt.step();
    ref_opt.zero_grad();
    const auto ref_loss = reference_loss(reference_logits(ref_net, x, mask), labels, {});
    ref_loss.backward();
    ref_opt.step();
    EXPECT_NEAR(loss, ref_loss.item<float>(), 1e-4 * std::abs(ref_loss.item<float>()));
  }
  const auto fused_params = fused_net.named_parameters();
  for (const auto& p : ref_net.named_parameters())
    expect_close(fused_params[p.key()], p.value(), 1e-4, "parameter " + p.key());
  const auto fused_buffers = fused_net.named_buffers();
  for (const auto& b : ref_net.named_buffers())
    expect_close(fused_buffers[b.key()].to(torch::kDouble), b.value().to(torch::kDouble), 1e-5,
                 b.key());
}

TEST(STSTNetFused, RejectsBadLabels) {
  STSTNetImpl net;
  STSTNetFusedTrainer trainer(net);
  const auto x = torch::rand({2, 3, 28, 28});
  const int64_t labels[2] = {0, 3};
  EXPECT_THROW(trainer.train_step(x.data_ptr<float>(), labels, 2, nullptr), Error);
}

TEST(FastRng, DeterministicAndUniform) {
  FastRng a(42), b(42), c(43);
  for (int i = 0; i < 10; ++i) {
    const uint64_t va = a.next();
    EXPECT_EQ(va, b.next());
    EXPECT_NE(va, c.next());
  }
  double sum = 0.0;
  for (int i = 0; i < 100000; ++i) {
    const float u = a.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.01);
}

TEST(FastRng, DropoutScaleMask) {
  FastRng rng(1);
  std::vector<float> mask(100001);
  fill_dropout_scale(rng, 0.5f, mask.data(), static_cast<int64_t>(mask.size()));
  int64_t zeros = 0;
  for (float v : mask) {
    ASSERT_TRUE(v == 0.0f || v == 2.0f) << v;
    zeros += v == 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(zeros) / mask.size(), 0.5, 0.01);
  fill_dropout_scale(rng, 0.0f, mask.data(), 7);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(mask[i], 1.0f);
  fill_dropout_scale(rng, 0.2f, mask.data(), static_cast<int64_t>(mask.size()));
  zeros = 0;
  for (float v : mask) zeros += v == 0.0f;
  EXPECT_NEAR(static_cast<double>(zeros) / mask.size(), 0.2, 0.01);
  EXPECT_FLOAT_EQ(*std::max_element(mask.begin(), mask.end()), 1.25f);
  EXPECT_THROW(fill_dropout_scale(rng, 1.0f, mask.data(), 1), Error);
}

TEST(FastRng, DropoutScaleMaskIsAPrefixOfLongerMasks) {
  // The vectorised body and the scalar tail compute the same stream.
  std::vector<float> long_mask(1000), short_mask(37);
  FastRng a(9), b(9);
  fill_dropout_scale(a, 0.3f, long_mask.data(), 1000);
  fill_dropout_scale(b, 0.3f, short_mask.data(), 37);
  for (int i = 0; i < 37; ++i) EXPECT_EQ(short_mask[i], long_mask[i]) << i;
  EXPECT_EQ(a.next(), b.next());  // one draw per mask, whatever its length
}

}  // namespace
}  // namespace mer::models
