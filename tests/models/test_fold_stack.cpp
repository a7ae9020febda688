// Fold stacks (models/fold_stack.h): for every model, its stacked form (batched or generic)
// computes each fold's own model on that fold's rows: logits, auxiliary loss and batch-norm
// statistics, with padding in the batch; the generic stack puts each fold's gradient in its
// slice and leaves a fold without rows untouched.
#include <gtest/gtest.h>

#include "mer/data/synthetic.h"
#include "mer/models/registry.h"
#include "mer/models/replica_stack.h"

namespace mer::models {
namespace {

constexpr int64_t kClasses = 3, kSide = 28;

// The model at a size that runs in a moment, without dropout (a batched form draws one
// dropout stream for all its folds).
OptionValues quiet_options(const ModelSpec& spec) {
  auto given = spec.smoke_options;
  if (spec.name == "cva-fpf") {
    given = {{"input", "flow"}, {"fpf", "magnitude"}, {"au", "predicted"}, {"input_size", "32"},
             {"window", "2"}, {"width", "0.125"}, {"embed", "16"}, {"heads", "1,2,4"}, {"depths", "2,2,2"}};
  }
  if (spec.name == "dere-grl") given["action_sparsity"] = "0.1";  // its auxiliary loss too
  for (const auto& o : spec.options) {
    if (o.name.find("drop") != std::string::npos) given[o.name] = "0";
  }
  DataTraits traits;
  traits.faces = traits.onsets = traits.aus = true;
  return spec.resolve_options(resolve_model_options(spec.name, given, traits));
}

// A fold-major batch of `folds` x `width` rows with every input a model may read.
Batch full_batch(int64_t folds, int64_t width) {
  const auto data = data::make_synthetic(
      data::SyntheticOptions().subjects(4).samples_per_subject(6).face_size(64).seed(9));
  const auto idx = torch::arange(folds * width) % data.size();
  Batch batch;
  batch.flow = data.flows.index_select(0, idx);
  batch.labels = (idx % kClasses).to(torch::kInt64);
  batch.landmarks = data.landmarks.index_select(0, idx);
  batch.face = data.faces.index_select(0, idx).unsqueeze(1).to(torch::kFloat32);
  batch.onset = batch.face.flip({3});
  batch.aus = (torch::rand({folds * width, 21}, at::detail::createCPUGenerator(4)) > 0.7).to(torch::kFloat32);
  return batch;
}

Batch rows(const Batch& batch, int64_t from, int64_t count) {
  auto part = [&](const torch::Tensor& t) { return t.defined() ? t.narrow(0, from, count) : t; };
  return {part(batch.flow), part(batch.labels), part(batch.landmarks), part(batch.onset),
          part(batch.face), part(batch.aus)};
}

class EveryModelStack : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryModelStack, ComputesEachFoldsOwnModel) {
  const auto& spec = find_model(GetParam());
  const auto options = quiet_options(spec);
  const int64_t folds = 3, width = 5;
  auto stack = make_fold_stack(spec, kClasses, kSide, options, folds);
  std::vector<ModelPtr> own;
  for (int64_t f = 0; f < folds; ++f) {
    torch::manual_seed(30 + f);
    own.push_back(spec.make(kClasses, kSide, options));
    stack->load_fold(f, *own[f]);
  }
  const std::vector<int64_t> counts = {5, 2, 4};  // the rest of each fold's rows is padding
  const auto fold_rows = FoldRows::make(counts, width, torch::kCPU);
  const auto batch = full_batch(folds, width);
  for (bool training : {true, false}) {
    stack->train(training);
    torch::NoGradGuard no_grad;
    auto eval_batch = batch;
    if (!training) eval_batch.labels = torch::Tensor();
    const auto out = stack->forward(eval_batch, fold_rows);
    ASSERT_EQ(out.logits.sizes(), (std::vector<int64_t>{folds, width, kClasses}));
    for (int64_t f = 0; f < folds; ++f) {
      own[f]->train(training);
      auto mine = rows(eval_batch, f * width, counts[f]);
      const auto expected = own[f]->forward(mine);
      const std::string what = spec.name + " fold " + std::to_string(f) + (training ? " training" : " eval");
      EXPECT_TRUE(torch::allclose(out.logits[f].narrow(0, 0, counts[f]), expected.logits, 1e-4, 1e-4)) << what;
      ASSERT_EQ(out.aux_loss.defined(), expected.aux_loss.defined()) << what;
      if (expected.aux_loss.defined()) {
        EXPECT_NEAR(out.aux_loss[f].item<double>(), expected.aux_loss.item<double>(), 1e-4) << what;
      }
    }
  }
  // Batch-norm statistics moved as each fold's own (real rows only); parameters come back.
  for (int64_t f = 0; f < folds; ++f) {
    auto copy = spec.make(kClasses, kSide, options);
    stack->store_fold(f, *copy);
    const auto a = copy->named_buffers();
    for (const auto& item : own[f]->named_buffers()) {
      EXPECT_TRUE(torch::allclose(a[item.key()].to(torch::kFloat64), item.value().to(torch::kFloat64), 1e-4, 1e-5))
          << spec.name << " fold " << f << " " << item.key();
    }
    const auto p = copy->named_parameters();
    for (const auto& item : own[f]->named_parameters()) {
      EXPECT_TRUE(torch::equal(p[item.key()], item.value())) << spec.name << " " << item.key();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, EveryModelStack, ::testing::ValuesIn([] {
                           std::vector<std::string> names;
                           for (const auto* spec : model_registry()) names.push_back(spec->name);
                           return names;
                         }()));

TEST(ReplicaStack, GradientsLandInEachFoldsSliceAndAFoldWithoutRowsIsLeftAlone) {
  const auto& spec = find_model("cva-fpf");  // batch norm and an auxiliary AU loss
  ASSERT_FALSE(spec.fold_stack) << "pick a model without a batched form";
  const auto options = quiet_options(spec);
  const int64_t folds = 3, width = 5;
  auto stack = make_fold_stack(spec, kClasses, kSide, options, folds);
  ASSERT_TRUE(std::dynamic_pointer_cast<ReplicaStack>(stack));
  std::vector<ModelPtr> own;
  for (int64_t f = 0; f < folds; ++f) {
    torch::manual_seed(20 + f);
    own.push_back(spec.make(kClasses, kSide, options));
    stack->load_fold(f, *own[f]);
  }
  const std::vector<int64_t> counts = {5, 2, 0};  // fold 2 has nothing in this step
  const auto batch = full_batch(folds, width);
  stack->train();
  const auto out = stack->forward(batch, FoldRows::make(counts, width, torch::kCPU));
  (out.logits.sum() + out.aux_loss.sum()).backward();
  const auto stacked_parameters = stack->named_parameters();
  for (int64_t f = 0; f < 2; ++f) {
    own[f]->train();
    const auto expected = own[f]->forward(rows(batch, f * width, counts[f]));
    (expected.logits.sum() + expected.aux_loss).backward();
    for (const auto& p : own[f]->named_parameters()) {
      auto name = p.key();
      std::replace(name.begin(), name.end(), '.', '/');
      const auto& grad = stacked_parameters[name].grad();
      ASSERT_TRUE(grad.defined()) << name;
      // Parameters the outputs do not depend on get none.
      const auto mine = p.value().grad().defined() ? p.value().grad() : torch::zeros_like(p.value());
      EXPECT_TRUE(torch::allclose(grad[f], mine, 1e-4, 1e-6)) << f << " " << name;
    }
  }
  for (const auto& item : stacked_parameters) {
    EXPECT_EQ(item.value().grad()[2].abs().sum().item<double>(), 0.0) << "fold 2 had no rows: " << item.key();
  }
  auto copy = spec.make(kClasses, kSide, options);
  stack->store_fold(2, *copy);
  const auto a = copy->named_buffers();
  for (const auto& item : own[2]->named_buffers()) {
    EXPECT_TRUE(torch::equal(a[item.key()], item.value())) << "fold 2's statistics stay: " << item.key();
  }
}

}  // namespace
}  // namespace mer::models
