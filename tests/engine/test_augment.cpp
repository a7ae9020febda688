// Training-time augmentation (`mer loso --augment flip`): the landmark relabelling is the
// left-right mirror of the iBUG layout, a mirrored sample is the mirror image of every input
// a model reads (and mirroring twice gives the sample back), only the drawn samples change,
// and a run records its augmentation and is reproduced by `mer evaluate`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "engine_fixtures.h"
#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/engine/augment.h"
#include "mer/engine/batch_source.h"
#include "mer/engine/evaluate.h"
#include "mer/engine/loso.h"

namespace fs = std::filesystem;

namespace mer::engine {
namespace {

TEST(Augment, LandmarkOrderPairsLeftAndRightAndKeepsTheMidline) {
  const auto& order = mirrored_landmark_order();
  std::set<int64_t> fixed;
  for (int64_t i = 0; i < 68; ++i) {
    ASSERT_GE(order[i], 0);
    ASSERT_LT(order[i], 68);
    EXPECT_EQ(order[order[i]], i) << i;  // an involution, hence a permutation
    if (order[i] == i) fixed.insert(i);
  }
  // Chin, nose bridge and tip, and the lips' middle points lie on the midline.
  EXPECT_EQ(fixed, (std::set<int64_t>{8, 27, 28, 29, 30, 33, 51, 57, 62, 66}));
  EXPECT_EQ(order[36], 45);  // outer eye corners
  EXPECT_EQ(order[39], 42);  // inner eye corners
  EXPECT_EQ(order[48], 54);  // mouth corners
}

// The synthetic template face is symmetric: its mirrored landmarks are its landmarks.
TEST(Augment, MirroredTemplateFaceIsTheTemplateFace) {
  const int64_t side = 28;
  models::Batch batch;
  batch.flow = torch::zeros({1, 3, side, side});
  batch.landmarks = data::template_landmarks(side).unsqueeze(0);
  const auto original = batch.landmarks.clone();
  mirror_samples(batch, torch::ones({1}, torch::kBool));
  EXPECT_TRUE(torch::allclose(batch.landmarks, original, 0.0, 1e-3))
      << (batch.landmarks - original).abs().max().item<float>();
}

TEST(Augment, MirrorsTheDrawnSamplesOnlyAndTwiceGivesThemBack) {
  auto dataset = data::make_synthetic(
      data::SyntheticOptions().subjects(2).samples_per_subject(4).face_size(32).seed(5));
  dataset.onsets = dataset.faces.flip({1}).contiguous();
  const BatchSource source(dataset, torch::kCPU);
  const auto original = source.gather(torch::arange(4, torch::kInt64), true);
  auto batch = original;
  const std::vector<bool> flipped = {true, false, false, true};
  const auto flip = torch::tensor({1, 0, 0, 1}).to(torch::kBool);
  mirror_samples(batch, flip);
  const int64_t side = original.flow.size(3);
  for (int64_t i = 0; i < 4; ++i) {
    const auto f = original.flow[i], m = batch.flow[i];
    if (!flipped[i]) {
      EXPECT_TRUE(torch::equal(m, f)) << i;
      EXPECT_TRUE(torch::equal(batch.landmarks[i], original.landmarks[i])) << i;
      EXPECT_TRUE(torch::equal(batch.face[i], original.face[i])) << i;
      continue;
    }
    // v and strain flipped left-right; u flipped and negated within its 0..255 range.
    EXPECT_TRUE(torch::equal(m[data::kFlowV], f[data::kFlowV].flip({1}))) << i;
    EXPECT_TRUE(torch::equal(m[data::kFlowStrain], f[data::kFlowStrain].flip({1}))) << i;
    EXPECT_TRUE(torch::equal(m[data::kFlowU], 255.0f - f[data::kFlowU].flip({1}))) << i;
    EXPECT_TRUE(torch::equal(batch.face[i], original.face[i].flip({2}))) << i;
    EXPECT_TRUE(torch::equal(batch.onset[i], original.onset[i].flip({2}))) << i;
    // Landmark 36 (image-left outer eye corner) is the mirror of the original 45.
    EXPECT_FLOAT_EQ(batch.landmarks[i][36][0].item<float>(),
                    static_cast<float>(side - 1) - original.landmarks[i][45][0].item<float>());
    EXPECT_FLOAT_EQ(batch.landmarks[i][36][1].item<float>(), original.landmarks[i][45][1].item<float>());
  }
  EXPECT_TRUE(torch::equal(batch.aus.defined() ? batch.aus : torch::zeros({1}),
                           original.aus.defined() ? original.aus : torch::zeros({1})));
  mirror_samples(batch, flip);
  EXPECT_TRUE(torch::equal(batch.flow, original.flow));
  EXPECT_TRUE(torch::allclose(batch.landmarks, original.landmarks, 0.0, 1e-5));
  EXPECT_TRUE(torch::equal(batch.face, original.face));
  EXPECT_TRUE(torch::equal(batch.onset, original.onset));
}

TEST(Augment, DrawsAreReproducibleAndAboutHalf) {
  SplitMix64 a(augment_seed(1, 3)), b(augment_seed(1, 3)), c(augment_seed(1, 4));
  const auto x = draw_flips(a, 2000), y = draw_flips(b, 2000), z = draw_flips(c, 2000);
  EXPECT_TRUE(torch::equal(x, y));
  EXPECT_FALSE(torch::equal(x, z));  // another fold, another stream
  const double share = x.to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(share, 0.5, 0.05);
}

TEST(Augment, OptionsAreChecked) {
  EXPECT_NO_THROW(check_augment("none"));
  EXPECT_NO_THROW(check_augment("flip"));
  EXPECT_THROW(check_augment("rotate"), ConfigError);
  TrainOptions o;
  o.augment = "flip";
  EXPECT_EQ(resolve_backend(o), "torch");  // STSTNet's fused kernel does not mirror
  o.backend = "fused";
  EXPECT_THROW(o.validate(), ConfigError);
}

// Fold by fold and stacked: a run with --augment flip finishes, trains other models than
// without (samples were mirrored), records its augmentation, its recorded predictions are what
// its checkpoints predict, and a rerun without augmentation into the same folder is another run.
TEST(Augment, LosoRunRecordsItsAugmentation) {
  const auto dataset = testing_fixtures::tiny_dataset(
      {{"casme2", "s1", 5}, {"casme2", "s2", 6}, {"samm", "s3", 7}});
  for (int64_t fold_batch : {1, 3}) {
    const auto dir = fs::temp_directory_path() /
                     ("mer_test_augment_" + std::to_string(::getpid()) + "_" + std::to_string(fold_batch));
    fs::remove_all(dir);
    LosoOptions o;
    o.train.epochs = 2;
    o.train.batch_size = 4;
    o.train.lr = 1e-3;
    o.train.fold_batch = fold_batch;
    o.train.backend = "torch";
    o.quiet = true;
    const auto plain = run_loso(dataset, o, (dir / "plain").string());
    o.train.augment = "flip";
    const auto result = run_loso(dataset, o, (dir / "flip").string());
    ASSERT_TRUE(result.failures.empty());
    ASSERT_EQ(result.outcomes.size(), 3u);
    EXPECT_NE(result.outcomes[0].train_loss, plain.outcomes[0].train_loss);
    std::ifstream run_json(dir / "flip" / "run.json");
    EXPECT_EQ(nlohmann::json::parse(run_json)["settings"]["augment"], "flip");
    std::ifstream summary(dir / "flip" / "summary.json");
    EXPECT_EQ(nlohmann::json::parse(summary)["training"]["augment"], "flip");
    EXPECT_EQ(evaluate_run(dataset, (dir / "flip").string()).mismatches, 0);
    auto again = o;
    again.train.augment = "none";
    EXPECT_THROW(run_loso(dataset, again, (dir / "flip").string()), ConfigError);
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace mer::engine
