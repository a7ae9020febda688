// The generic fold stack: each fold's replica computes exactly its own model's outputs on its
// real rows, gradients land in the fold's slice of the stacked gradient, batch-norm statistics
// move as the fold's own, and a fold without rows in a step is left untouched.
#include <gtest/gtest.h>

#include "mer/models/registry.h"
#include "mer/models/replica_stack.h"

namespace mer::models {
namespace {

TEST(ReplicaStack, EachFoldComputesItsOwnModel) {
  const auto& spec = find_model("fr");  // convolutions, batch norm and a branch per class
  auto given = spec.smoke_options;
  given["dropout"] = "0";
  const auto options = spec.resolve_options(given);
  const int64_t folds = 3, width = 5, classes = 3;
  auto stack = make_fold_stack(spec, classes, 28, options, folds);
  ASSERT_TRUE(std::dynamic_pointer_cast<ReplicaStack>(stack)) << "fr has no batched form: generic stack";
  std::vector<ModelPtr> own;
  for (int64_t f = 0; f < folds; ++f) {
    torch::manual_seed(20 + f);
    own.push_back(spec.make(classes, 28, options));
    stack->load_fold(f, *own[f]);
  }
  const std::vector<int64_t> counts = {5, 2, 0};  // fold 2 has nothing in this step
  const auto rows = FoldRows::make(counts, width, torch::kCPU);
  Batch batch;
  batch.flow = torch::rand({folds * width, 3, 28, 28}) * 255;
  batch.labels = torch::randint(0, classes, {folds * width}, torch::kInt64);
  stack->train();
  const auto out = stack->forward(batch, rows);
  ASSERT_EQ(out.logits.sizes(), (std::vector<int64_t>{folds, width, classes}));
  out.logits.sum().backward();
  const auto stacked_parameters = stack->named_parameters();
  for (int64_t f = 0; f < folds; ++f) {
    if (counts[f] == 0) continue;
    own[f]->train();
    Batch mine;
    mine.flow = batch.flow.narrow(0, f * width, counts[f]);
    const auto logits = own[f]->forward(mine).logits;
    EXPECT_TRUE(torch::allclose(out.logits[f].narrow(0, 0, counts[f]), logits, 1e-5, 1e-5)) << f;
    logits.sum().backward();
    for (const auto& p : own[f]->named_parameters()) {
      auto name = p.key();
      std::replace(name.begin(), name.end(), '.', '/');
      const auto& grad = stacked_parameters[name].grad();
      ASSERT_TRUE(grad.defined()) << name;
      // Parameters the logits do not depend on (e.g. an auxiliary head) get none.
      const auto expected = p.value().grad().defined() ? p.value().grad() : torch::zeros_like(p.value());
      EXPECT_TRUE(torch::allclose(grad[f], expected, 1e-5, 1e-6)) << f << " " << name;
    }
  }
  EXPECT_EQ(stacked_parameters["classifier/weight"].grad()[2].abs().sum().item<double>(), 0.0)
      << "fold 2 had no rows: no gradient";
  // Running statistics moved as each fold's own model's did; fold 2's stayed as loaded.
  for (int64_t f = 0; f < folds; ++f) {
    auto copy = spec.make(classes, 28, options);
    stack->store_fold(f, *copy);
    const auto a = copy->named_buffers(), b = own[f]->named_buffers();
    for (const auto& item : b) {
      EXPECT_TRUE(torch::allclose(a[item.key()].to(torch::kFloat64), item.value().to(torch::kFloat64),
                                  1e-5, 1e-6))
          << f << " " << item.key();
    }
  }
  // Eval mode reaches every replica.
  stack->eval();
  torch::NoGradGuard no_grad;
  own[1]->eval();
  Batch second;
  second.flow = batch.flow.narrow(0, width, 2);
  EXPECT_TRUE(torch::allclose(stack->forward(batch, rows).logits[1].narrow(0, 0, 2),
                              own[1]->forward(second).logits, 1e-5, 1e-5));
}

}  // namespace
}  // namespace mer::models
