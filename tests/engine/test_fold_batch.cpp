// Fold stacking (`mer loso --fold-batch N`): the stacked optimiser and model do for each fold
// what its own optimiser and model would, folds trained as one computation end as the same
// models as fold by fold, and a fold's test subject still never reaches its training.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine_fixtures.h"
#include "mer/core/error.h"
#include "mer/engine/evaluate.h"
#include "mer/engine/fold_batch_trainer.h"
#include "mer/engine/loso.h"
#include "mer/data/synthetic.h"
#include "mer/engine/stacked_optimizer.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::engine {
namespace {

// Subjects of unequal size, so that folds have different numbers of steps per epoch and
// last batches of different sizes (padding and skipped optimiser steps are exercised).
const data::Dataset& uneven_dataset() {
  static const data::Dataset dataset = testing_fixtures::tiny_dataset(
      {{"casme2", "s1", 5}, {"casme2", "s2", 9}, {"samm", "s3", 7}, {"smic", "s4", 11}});
  return dataset;
}

TrainOptions quick_train(Protocol protocol) {
  TrainOptions o;
  o.epochs = 4;
  o.batch_size = 8;
  o.lr = 1e-3;
  o.backend = "torch";
  o.protocol = protocol;
  o.validation_fraction = 0.34;
  o.class_weights = "balanced";
  o.model_options["dropout"] = "0";
  return o;
}

std::vector<Fold> folds_of(const data::Dataset& dataset, Protocol protocol) {
  FoldOptions fold_options;
  if (protocol == Protocol::kInnerVal) fold_options.validation_fraction = 0.34;
  return make_loso_folds(dataset, fold_options);
}

void expect_near(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b,
                 double tolerance, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size()) << what;
    for (size_t k = 0; k < a[i].size(); ++k) EXPECT_NEAR(a[i][k], b[i][k], tolerance) << what;
  }
}

TEST(StackedOptimizer, EachFoldStepsAsItsOwnTorchOptimizer) {
  for (const std::string kind : {"adam", "adamw", "sgd"}) {
    TrainOptions o;
    o.optimizer = kind;
    o.lr = 0.01;
    o.weight_decay = 0.05;
    o.momentum = 0.8;
    const int64_t folds = 3;
    auto stacked = torch::randn({folds, 4, 5}).requires_grad_(true);
    std::vector<torch::Tensor> own;
    std::vector<std::unique_ptr<torch::optim::Optimizer>> optimisers;
    for (int64_t f = 0; f < folds; ++f) {
      own.push_back(stacked[f].detach().clone().requires_grad_(true));
      if (kind == "adam") {
        optimisers.push_back(std::make_unique<torch::optim::Adam>(
            std::vector<torch::Tensor>{own[f]}, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay)));
      } else if (kind == "adamw") {
        optimisers.push_back(std::make_unique<torch::optim::AdamW>(
            std::vector<torch::Tensor>{own[f]}, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay)));
      } else {
        optimisers.push_back(std::make_unique<torch::optim::SGD>(
            std::vector<torch::Tensor>{own[f]},
            torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay)));
      }
    }
    StackedOptimizer optimiser({stacked}, folds, o);
    for (int step = 0; step < 6; ++step) {
      const auto grad = torch::randn({folds, 4, 5});
      // Fold 1 sits out steps 0 and 3 (no sample in those batches), fold 2 step 4.
      const std::vector<bool> active = {true, step != 0 && step != 3, step != 4};
      stacked.mutable_grad() = grad.clone();
      optimiser.step(active);
      for (int64_t f = 0; f < folds; ++f) {
        if (!active[f]) continue;
        own[f].mutable_grad() = grad[f].clone();
        optimisers[f]->step();
      }
      for (int64_t f = 0; f < folds; ++f) {
        EXPECT_TRUE(torch::allclose(stacked[f], own[f], 1e-5, 1e-6))
            << kind << " fold " << f << " step " << step;
      }
    }
  }
}

class FoldBatchParity : public ::testing::TestWithParam<Protocol> {};

// Without dropout, stacked folds start from the same weights, see the same batches and take
// the same optimiser steps as fold by fold: the same models, up to float rounding.
TEST_P(FoldBatchParity, TrainsTheSameModelsAsFoldByFold) {
  const Protocol protocol = GetParam();
  const auto& dataset = uneven_dataset();
  const auto options = quick_train(protocol);
  const auto folds = folds_of(dataset, protocol);
  std::vector<models::ModelPtr> stacked_models;
  const auto stacked = FoldBatchTrainer(dataset, options).run(folds, stacked_models);
  ASSERT_EQ(stacked.size(), folds.size());
  for (size_t f = 0; f < folds.size(); ++f) {
    models::ModelPtr model;
    const auto own = FoldTrainer(dataset, options).run(folds[f], model);
    const std::string what = folds[f].key;
    EXPECT_EQ(stacked[f].samples, own.samples) << what;
    EXPECT_EQ(stacked[f].epochs_run, own.epochs_run) << what;
    EXPECT_EQ(stacked[f].epoch_used, own.epoch_used) << what;
    expect_near(stacked[f].probabilities, own.probabilities, 1e-3, what);
    expect_near(stacked[f].last_epoch_probabilities, own.last_epoch_probabilities, 1e-3, what);
    ASSERT_EQ(stacked[f].train_loss.size(), own.train_loss.size());
    for (size_t e = 0; e < own.train_loss.size(); ++e) {
      EXPECT_NEAR(stacked[f].train_loss[e], own.train_loss[e], 1e-3 * (1 + own.train_loss[e]));
      EXPECT_NEAR(stacked[f].train_accuracy[e], own.train_accuracy[e], 1e-9);
    }
    const auto a = stacked_models[f]->named_parameters(), b = model->named_parameters();
    for (const auto& item : b) {
      EXPECT_TRUE(torch::allclose(a[item.key()], item.value(), 1e-3, 1e-4)) << what << " " << item.key();
    }
    const auto ba = stacked_models[f]->named_buffers(), bb = model->named_buffers();
    for (const auto& item : bb) {
      EXPECT_TRUE(torch::allclose(ba[item.key()].to(torch::kFloat64), item.value().to(torch::kFloat64),
                                  1e-3, 1e-3))
          << what << " " << item.key();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Protocols, FoldBatchParity,
                         ::testing::Values(Protocol::kHonest, Protocol::kInnerVal, Protocol::kOracle));

// Every model, through its own batched form or the generic stack (models/replica_stack.h).
class EveryModelFoldBatch : public ::testing::TestWithParam<std::string> {
 protected:
  const models::ModelSpec& spec() const { return models::find_model(GetParam()); }
  // The model at its smoke-check size, a few epochs; dropout off for a batched form (it
  // draws one dropout stream per group), on for the generic stack (each fold its own).
  TrainOptions train() const {
    auto options = quick_train(Protocol::kHonest);
    options.model = spec().name;
    options.epochs = 3;
    options.model_options = spec().smoke_options;
    if (spec().name == "cva-fpf") {  // its smallest working size (the leaderboard's CPU configuration)
      options.model_options = {{"input_size", "32"}, {"window", "2"}, {"width", "0.125"},
                               {"embed", "16"}, {"heads", "1,2,4"}, {"depths", "2,2,2"}};
    }
    if (spec().fold_stack) {
      for (const auto& o : spec().options) {
        if (o.name.find("drop") != std::string::npos) options.model_options[o.name] = "0";
      }
    }
    return options;
  }
};

// Synthetic subjects of unequal size with everything a model may read.
const data::Dataset& full_dataset() {
  static const data::Dataset dataset = [] {
    auto d = data::make_synthetic(
        data::SyntheticOptions().subjects(4).samples_per_subject(6).face_size(64).seed(3));
    d.onsets = d.faces.flip({2}).contiguous();
    d.aus = (torch::rand({d.size(), 21}, at::detail::createCPUGenerator(7)) > 0.7).to(torch::kFloat32);
    return d;
  }();
  return dataset;
}

// 4 folds of unequal size trained stacked end as the models fold by fold trains. Plain SGD:
// with momentum or Adam, the last-bit differences between the stacked loss and optimiser and
// torch's grow, in some models (CVA+FPF), into visible ones within a few epochs (the stacked
// optimisers are checked against torch::optim above, and the next test shows that a fold's
// training does not depend on the other folds of its group at all).
void expect_stacked_equals_fold_by_fold(const data::Dataset& dataset, const TrainOptions& options,
                                        const std::string& model) {
  const auto folds = folds_of(dataset, Protocol::kHonest);
  ASSERT_EQ(folds.size(), 4u);
  std::vector<models::ModelPtr> stacked_models;
  const auto stacked = FoldBatchTrainer(dataset, options).run(folds, stacked_models);
  for (size_t f = 0; f < folds.size(); ++f) {
    models::ModelPtr fold_model;
    const auto own = FoldTrainer(dataset, options).run(folds[f], fold_model);
    const std::string what = model + " " + folds[f].key;
    expect_near(stacked[f].probabilities, own.probabilities, 1e-3, what);
    ASSERT_EQ(stacked[f].train_loss.size(), own.train_loss.size()) << what;
    for (size_t e = 0; e < own.train_loss.size(); ++e) {
      EXPECT_NEAR(stacked[f].train_loss[e], own.train_loss[e], 1e-3 * (1 + own.train_loss[e]))
          << what << " epoch " << e + 1;
    }
    const auto a = stacked_models[f]->named_parameters();
    for (const auto& item : fold_model->named_parameters()) {
      EXPECT_TRUE(torch::allclose(a[item.key()], item.value(), 1e-3, 1e-4)) << what << " " << item.key();
    }
  }
}

TEST_P(EveryModelFoldBatch, TrainsTheSameModelsAsFoldByFold) {
  auto options = train();
  options.optimizer = "sgd";
  options.lr = 0.01;
  options.momentum = 0.0;
  expect_stacked_equals_fold_by_fold(full_dataset(), options, spec().name);
}

// With --augment flip each fold mirrors the same samples (flows, landmarks, crops) stacked
// as alone. Two epochs, one for CVA+FPF: the synthetic faces are nearly symmetric, so mirrored
// samples bring near-ties that rounding breaks one way or the other and CVA+FPF's later epochs
// amplify. Checked to fail for every model when the stacked folds mirror other samples
// (RRRN at this size needs the second epoch to tell).
TEST_P(EveryModelFoldBatch, MirrorsTheSameSamplesAsFoldByFold) {
  auto options = train();
  options.augment = "flip";
  options.epochs = spec().name == "cva-fpf" ? 1 : 2;
  options.optimizer = "sgd";
  options.lr = 0.01;
  options.momentum = 0.0;
  expect_stacked_equals_fold_by_fold(full_dataset(), options, spec().name);
}

// A fold trained in a group of 4 (Adam, class weights, padding, its dropout) is the same
// fold trained in a group of its own: nothing of the other folds, their data or their steps
// reaches it. Bit-identical through the generic stack; to float rounding through a batched
// form, whose batched kernels sum in an order that depends on the group's size.
TEST_P(EveryModelFoldBatch, AFoldTrainsAsInAGroupOfItsOwn) {
  const auto& dataset = full_dataset();
  const auto options = train();
  const auto folds = folds_of(dataset, Protocol::kHonest);
  std::vector<models::ModelPtr> group, alone;
  FoldBatchTrainer(dataset, options).run(folds, group);
  FoldBatchTrainer(dataset, options).run({folds[1]}, alone);
  const bool exact = !spec().fold_stack;
  auto same = [&](const torch::Tensor& a, const torch::Tensor& b) {
    return exact ? torch::equal(a, b)
                 : torch::allclose(a.to(torch::kFloat64), b.to(torch::kFloat64), 1e-4, 1e-5);
  };
  const auto a = group[1]->named_parameters();
  for (const auto& item : alone[0]->named_parameters()) {
    EXPECT_TRUE(same(a[item.key()], item.value())) << spec().name << " " << item.key();
  }
  const auto b = group[1]->named_buffers();
  for (const auto& item : alone[0]->named_buffers()) {
    EXPECT_TRUE(same(b[item.key()], item.value())) << spec().name << " " << item.key();
  }
}

INSTANTIATE_TEST_SUITE_P(Models, EveryModelFoldBatch, ::testing::ValuesIn([] {
                           std::vector<std::string> names;
                           for (const auto* spec : models::model_registry()) names.push_back(spec->name);
                           return names;
                         }()));

// The honest-protocol invariance test with stacking (dropout on), for batched forms (STSTNet,
// FR) and the generic stack (RRRN): fold 1's test subject is training data of the other
// folds in its group, yet replacing its data and labels leaves fold 1's trained model
// bit-identical.
TEST(FoldBatch, TestSubjectDataDoesNotChangeItsFoldsModel) {
  for (const std::string model : {"ststnet", "fr", "rrrn"}) {
    for (Protocol protocol : {Protocol::kHonest, Protocol::kInnerVal}) {
      auto options = quick_train(protocol);
      options.model = model;
      options.epochs = model == "ststnet" ? options.epochs : 2;
      options.model_options = models::find_model(model).smoke_options;  // dropout on
      const auto& clean = uneven_dataset();
      const auto folds = folds_of(clean, protocol);
      data::Dataset tampered = clean;
      tampered.flows = clean.flows.clone();
      for (auto i : folds[1].test) {
        tampered.flows[i].copy_(255.0f - clean.flows[i]);
        tampered.samples[i].label = (tampered.samples[i].label + 1) % 3;
      }
      std::vector<models::ModelPtr> a, b;
      FoldBatchTrainer(clean, options).run(folds, a);
      FoldBatchTrainer(tampered, options).run(folds, b);
      const auto pa = a[1]->named_parameters(), pb = b[1]->named_parameters();
      for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << model << " " << item.key();
      const auto ba = a[1]->named_buffers(), bb = b[1]->named_buffers();
      for (const auto& item : ba) EXPECT_TRUE(torch::equal(item.value(), bb[item.key()])) << model << " " << item.key();
      // The check can fail: fold 0 trains on the replaced subject and changes.
      bool changed = false;
      const auto p0 = a[0]->named_parameters(), q0 = b[0]->named_parameters();
      for (const auto& item : p0) changed = changed || !torch::equal(item.value(), q0[item.key()]);
      EXPECT_TRUE(changed) << model;
    }
  }
}

// Through the LOSO engine: every fold written as fold by fold, the setting recorded, a rerun
// resumes, and `mer evaluate` re-predicts the recorded predictions with the plain modules.
TEST(FoldBatch, LosoRunWritesEveryFoldResumesAndReEvaluates) {
  const auto dir = fs::temp_directory_path() / ("mer_test_fold_batch_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  LosoOptions o;
  o.train = quick_train(Protocol::kOracle);
  o.train.model_options.clear();
  o.train.fold_batch = 3;  // groups of 3 and 1
  o.quiet = true;
  const auto& dataset = uneven_dataset();
  const auto first = run_loso(dataset, o, dir.string());
  ASSERT_TRUE(first.failures.empty());
  ASSERT_EQ(first.outcomes.size(), 4u);
  for (const auto& outcome : first.outcomes) {
    EXPECT_TRUE(fs::is_regular_file(dir / "folds" / fold_folder_name(outcome.key) / "model.pt"));
    EXPECT_EQ(outcome.probabilities.size(), outcome.samples.size());
  }
  std::ifstream run_json(dir / "run.json");
  EXPECT_EQ(nlohmann::json::parse(run_json)["settings"]["fold_batch"], 3);
  const auto again = run_loso(dataset, o, dir.string());
  EXPECT_EQ(again.resumed, 4);
  EXPECT_EQ(evaluate_run(dataset, dir.string()).mismatches, 0);
  // Fold by fold is another run.
  auto other = o;
  other.train.fold_batch = 1;
  EXPECT_THROW(run_loso(dataset, other, dir.string()), ConfigError);
  fs::remove_all(dir);
}

TEST(FoldBatch, OptionsResolveAndTheFusedBackendIsRefused) {
  TrainOptions o;
  o.model = "rrrn";  // the generic stack: only when asked for
  o.fold_batch = 4;
  EXPECT_NO_THROW(o.validate());
  EXPECT_TRUE(stacks_folds(o));
  o.fold_batch = 0;
  o.device = "cuda";
  EXPECT_FALSE(stacks_folds(o));
  o = {};
  o.fold_batch = 4;
  o.backend = "fused";
  EXPECT_THROW(o.validate(), ConfigError);
  o = {};
  o.fold_batch = -1;
  EXPECT_THROW(o.validate(), ConfigError);
  o = {};
  o.fold_batch = 4;
  EXPECT_NO_THROW(o.validate());
  EXPECT_TRUE(stacks_folds(o));
  EXPECT_EQ(resolve_backend(o), "torch");
  o.fold_batch = 0;  // auto: fold by fold on the CPU
  EXPECT_FALSE(stacks_folds(o));
}

}  // namespace
}  // namespace mer::engine
