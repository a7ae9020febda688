// Tests of the built-in synthetic dataset (data/synthetic.h): layout and value contracts,
// determinism, the optical strain formula, and that the task is learnable but not trivial.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/models/ststnet.h"

namespace mer::data {
namespace {

constexpr int64_t kClasses = 3;

// One dataset shared by the read-only tests (generation is cheap, but there is no need to
// repeat it).
const Dataset& default_set() {
  static const Dataset ds = make_synthetic();
  return ds;
}

TEST(Synthetic, ShapesAndNames) {
  const SyntheticOptions options;
  const Dataset& ds = default_set();
  const int64_t n = ds.size();
  ASSERT_GT(n, 0);
  EXPECT_TRUE(ds.root.empty());
  EXPECT_NO_THROW(ds.validate());
  EXPECT_EQ(ds.class_names, megc2019_class_names());
  ASSERT_EQ(ds.flows.sizes(), (std::vector<int64_t>{n, 3, 28, 28}));
  EXPECT_EQ(ds.flows.scalar_type(), torch::kFloat32);
  ASSERT_TRUE(ds.faces.defined());
  ASSERT_EQ(ds.faces.sizes(), (std::vector<int64_t>{n, 224, 224}));
  EXPECT_EQ(ds.faces.scalar_type(), torch::kUInt8);

  std::set<std::string> keys;
  for (const SampleInfo& s : ds.samples) {
    EXPECT_EQ(s.dataset, "synth");
    ASSERT_GE(s.label, 0);
    ASSERT_LT(s.label, kClasses);
    EXPECT_EQ(s.emotion, ds.class_names[static_cast<size_t>(s.label)]);
    EXPECT_EQ(s.subject.size(), 3u);
    EXPECT_EQ(s.subject[0], 's');
    EXPECT_EQ(s.sample.rfind("clip", 0), 0u);
    EXPECT_EQ(s.flow_path, "flow/synth_" + s.subject + "_" + s.sample + ".png");
    EXPECT_EQ(s.face_path, "face/synth_" + s.subject + "_" + s.sample + ".jpg");
    EXPECT_TRUE(keys.insert(s.subject + "/" + s.sample).second) << "duplicate " << s.sample;
  }
  // Average samples_per_subject, varying a little per subject.
  EXPECT_NEAR(static_cast<double>(n) / static_cast<double>(options.subjects()),
              static_cast<double>(options.samples_per_subject()), 2.0);
}

TEST(Synthetic, SubjectsAndCounts) {
  const Dataset& ds = default_set();
  std::map<std::string, int64_t> per_subject;
  for (const SampleInfo& s : ds.samples) ++per_subject[s.subject];
  ASSERT_EQ(per_subject.size(), 16u);
  EXPECT_EQ(per_subject.begin()->first, "s01");
  EXPECT_EQ(per_subject.rbegin()->first, "s16");
  std::set<int64_t> distinct_counts;
  for (const auto& [subject, count] : per_subject) {
    EXPECT_GE(count, 12) << subject;  // 15 +- 20%
    EXPECT_LE(count, 18) << subject;
    distinct_counts.insert(count);
  }
  EXPECT_GT(distinct_counts.size(), 1u) << "sample counts should vary per subject";

  // Other sizes, faces off, another flow resolution.
  const Dataset small = make_synthetic(
      SyntheticOptions().subjects(3).samples_per_subject(2).flow_size(40).face_size(0));
  EXPECT_EQ(small.size(), 6);
  EXPECT_EQ(small.flows.sizes(), (std::vector<int64_t>{6, 3, 40, 40}));
  EXPECT_FALSE(small.faces.defined());
}

TEST(Synthetic, FlowValuesAreQuantisedAndSpanTheRange) {
  const Dataset& ds = default_set();
  const auto& f = ds.flows;
  EXPECT_TRUE(torch::equal(f, f.round())) << "flow values must be integers";
  EXPECT_GE(f.min().item<float>(), 0.0f);
  EXPECT_LE(f.max().item<float>(), 255.0f);
  // Per-sample, per-channel min-max normalisation: every channel spans exactly 0..255.
  const auto flat = f.flatten(2);
  EXPECT_TRUE(torch::all(std::get<0>(flat.min(2)) == 0).item<bool>());
  EXPECT_TRUE(torch::all(std::get<0>(flat.max(2)) == 255).item<bool>());
}

TEST(Synthetic, ClassBalance) {
  const Dataset& ds = default_set();
  const auto counts = torch::bincount(ds.labels(), {}, kClasses).to(torch::kDouble) /
                      static_cast<double>(ds.size());
  EXPECT_NEAR(counts[0].item<double>(), 0.55, 0.02);
  EXPECT_NEAR(counts[1].item<double>(), 0.25, 0.02);
  EXPECT_NEAR(counts[2].item<double>(), 0.20, 0.02);
  // Subjects get uneven mixes, as in the real composite.
  std::map<std::string, int64_t> negatives, totals;
  for (const SampleInfo& s : ds.samples) {
    ++totals[s.subject];
    negatives[s.subject] += s.label == 0;
  }
  std::set<int64_t> distinct;
  for (const auto& [subject, n] : negatives) distinct.insert(n * 100 / totals[subject]);
  EXPECT_GT(distinct.size(), 2u);
}

// True if `b` equals `a` shifted by some whole-pixel offset of at most `max_shift`, compared
// away from the border (where a shift uncovers background).
bool is_shifted_copy(const torch::Tensor& a, const torch::Tensor& b, int64_t max_shift) {
  const int64_t side = a.size(0);
  const int64_t m = 2 * max_shift;  // margin: both images may be shifted by max_shift
  const auto inner_b = b.slice(0, m, side - m).slice(1, m, side - m);
  for (int64_t dy = -max_shift; dy <= max_shift; ++dy) {
    for (int64_t dx = -max_shift; dx <= max_shift; ++dx) {
      if (torch::equal(inner_b,
                       a.slice(0, m - dy, side - m - dy).slice(1, m - dx, side - m - dx))) {
        return true;
      }
    }
  }
  return false;
}

TEST(Synthetic, Faces) {
  const Dataset& ds = default_set();
  const auto& faces = ds.faces;
  // A drawing, not a constant image; face in the middle, background at the corners.
  EXPECT_LT(faces[0].min().item<uint8_t>(), faces[0].max().item<uint8_t>());
  EXPECT_GT(faces[0][112][112].item<uint8_t>(), faces[0][0][0].item<uint8_t>());

  // Every clip of a subject shows the subject's same onset face, only re-cropped (shifted by a
  // few pixels, like its flow); another subject's face differs in geometry.
  const Dataset small =
      make_synthetic(SyntheticOptions().subjects(2).samples_per_subject(6).face_size(64));
  constexpr int64_t kMaxShift = 7;  // two crop jitters of at most 0.05 * 64 pixels each
  int64_t other_subject = -1;
  for (int64_t i = 1; i < small.size(); ++i) {
    if (small.samples[static_cast<size_t>(i)].subject == "s01") {
      EXPECT_TRUE(is_shifted_copy(small.faces[0], small.faces[i], kMaxShift)) << i;
    } else if (other_subject < 0) {
      other_subject = i;
    }
  }
  ASSERT_GT(other_subject, 0);
  EXPECT_FALSE(is_shifted_copy(small.faces[0], small.faces[other_subject], kMaxShift));
}

// The landmarks sit on the drawn face in the iBUG layout: brows above the eyes, the eyes above
// the nose base, the mouth below the nose, image-left features left of image-right ones,
// everything inside the map; and on the drawing's features (brows and lip corners are dark).
TEST(Synthetic, LandmarksFollowTheFaceGeometry) {
  const Dataset ds = make_synthetic(SyntheticOptions().subjects(6).samples_per_subject(5));
  ASSERT_TRUE(ds.landmarks.defined());
  EXPECT_EQ(ds.landmarks.sizes(), (std::vector<int64_t>{ds.size(), 68, 2}));
  EXPECT_NO_THROW(ds.validate());
  const double side = static_cast<double>(ds.flow_side());
  const double to_face = static_cast<double>(ds.faces.size(-1)) / side;
  for (int64_t n = 0; n < ds.size(); ++n) {
    const auto p = ds.landmarks[n];
    const auto x = p.select(1, 0), y = p.select(1, 1);
    auto ys = [&](int64_t a, int64_t b) { return y.slice(0, a, b + 1); };
    auto xs = [&](int64_t a, int64_t b) { return x.slice(0, a, b + 1); };
    // The inner features lie inside the map; the jaw line may leave it, as the chin of a
    // large face leaves a tight crop.
    const auto inner = p.slice(0, 17, 68);
    EXPECT_GE(inner.min().item<double>(), -0.5) << n;
    EXPECT_LE(inner.max().item<double>(), side - 0.5) << n;
    EXPECT_GE(p.min().item<double>(), -0.2 * side) << n;
    EXPECT_LE(p.max().item<double>(), 1.2 * side) << n;
    EXPECT_LT(ys(17, 26).max().item<double>(), ys(36, 47).min().item<double>()) << n;  // brows, eyes
    EXPECT_LT(ys(36, 47).max().item<double>(), ys(31, 35).min().item<double>()) << n;  // eyes, nose base
    EXPECT_LT(ys(27, 35).max().item<double>(), ys(48, 67).min().item<double>()) << n;  // nose, mouth
    EXPECT_LT(ys(48, 67).max().item<double>(), y[8].item<double>()) << n;              // mouth, chin
    EXPECT_LT(xs(36, 41).max().item<double>(), xs(42, 47).min().item<double>()) << n;  // eyes
    EXPECT_LT(xs(17, 21).max().item<double>(), xs(22, 26).min().item<double>()) << n;  // brows
    EXPECT_LT(x[48].item<double>(), x[54].item<double>()) << n;                        // corners
    // On the drawing: landmark (flow pixels) -> face pixel; the brows and the lip corners
    // are drawn dark on lighter skin.
    auto grey_at = [&](int64_t i) {
      const auto fx = static_cast<int64_t>(std::lround((x[i].item<double>() + 0.5) * to_face - 0.5));
      const auto fy = static_cast<int64_t>(std::lround((y[i].item<double>() + 0.5) * to_face - 0.5));
      return static_cast<double>(ds.faces[n][fy][fx].item<uint8_t>());
    };
    double brows = 0;
    for (int64_t i = 17; i <= 26; ++i) brows += grey_at(i) / 10.0;
    EXPECT_LT(brows, 100.0) << n;
    for (int64_t i : {48, 54}) EXPECT_LT(grey_at(i), 130.0) << n << " point " << i;
    EXPECT_GT(grey_at(29), grey_at(19)) << n;  // nose bridge lighter than a brow
  }
  // Each clip of a subject: the subject's face, shifted with the clip's crop (< 0.05 of the
  // side in each direction).
  const auto first = ds.landmarks[0];
  for (int64_t n = 1; n < ds.size() && ds.samples[static_cast<size_t>(n)].subject == "s01"; ++n) {
    const auto shift = ds.landmarks[n] - first;
    EXPECT_LT((shift - shift.mean(0)).abs().max().item<double>(), 1e-4);
    EXPECT_LE(shift.abs().max().item<double>(), 0.1 * side + 1e-4);
  }
  // The template: the same layout for an average face, centred.
  const auto t = template_landmarks(28);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{68, 2}));
  EXPECT_NEAR(t[8][0].item<double>(), 13.5, 1e-4);  // chin on the midline
  EXPECT_NEAR((t[36][1] - t[45][1]).item<double>(), 0.0, 1e-4);  // level eyes
}

TEST(Synthetic, Deterministic) {
  const auto options = SyntheticOptions().subjects(4).samples_per_subject(5).face_size(64);
  const Dataset a = make_synthetic(options);
  const Dataset b = make_synthetic(options);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(torch::equal(a.flows, b.flows));
  EXPECT_TRUE(torch::equal(a.faces, b.faces));
  EXPECT_TRUE(torch::equal(a.landmarks, b.landmarks));
  for (int64_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a.samples[static_cast<size_t>(i)].sample, b.samples[static_cast<size_t>(i)].sample);
    EXPECT_EQ(a.samples[static_cast<size_t>(i)].label, b.samples[static_cast<size_t>(i)].label);
  }
  const Dataset c = make_synthetic(SyntheticOptions(options).seed(2));
  EXPECT_FALSE(a.size() == c.size() && torch::equal(a.flows, c.flows));
  EXPECT_FALSE(torch::equal(a.faces[0], c.faces[0]));
}

// Cross-machine reproducibility: a fingerprint of a small default-parameter set. The values
// are integers, so any platform must give exactly these sums. Update the constants only when
// the generator is changed on purpose (that changes every synthetic result).
TEST(Synthetic, Fingerprint) {
  const Dataset ds =
      make_synthetic(SyntheticOptions().subjects(3).samples_per_subject(4).face_size(32));
  // Position-weighted sum of the integer flow values: exact in int64, order-independent.
  const auto weights = torch::arange(1, ds.flows.numel() + 1, torch::kInt64);
  const int64_t weighted = (ds.flows.flatten().to(torch::kInt64) * weights).sum().item<int64_t>();
  const int64_t face_sum = ds.faces.to(torch::kInt64).sum().item<int64_t>();
  std::vector<int64_t> labels;
  for (const SampleInfo& s : ds.samples) labels.push_back(s.label);
  std::cout << "[ fingerprint ] flows " << weighted << " faces " << face_sum << "\n";
  EXPECT_EQ(labels, (std::vector<int64_t>{0, 0, 2, 0, 0, 1, 0, 2, 1, 1, 0, 0}));
  EXPECT_EQ(weighted, 41116457725);  // channels in the composite order (strain, v, u)
  EXPECT_EQ(face_sum, 1550160);
}

TEST(Synthetic, ValidateRejectsBadOptions) {
  EXPECT_NO_THROW(SyntheticOptions().validate());
  const std::vector<SyntheticOptions> bad = {
      SyntheticOptions().subjects(0),
      SyntheticOptions().subjects(-3),
      SyntheticOptions().subjects(1000),
      SyntheticOptions().samples_per_subject(0),
      SyntheticOptions().flow_size(4),
      SyntheticOptions().flow_size(100000),
      SyntheticOptions().face_size(-1),
      SyntheticOptions().face_size(8),
      SyntheticOptions().noise(-0.1),
      SyntheticOptions().noise(std::numeric_limits<double>::quiet_NaN()),
      SyntheticOptions().intensity(0.0),
      SyntheticOptions().intensity(-1.0),
      SyntheticOptions().intensity(std::numeric_limits<double>::infinity()),
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_THROW(bad[i].validate(), ConfigError) << "case " << i;
    EXPECT_THROW(make_synthetic(bad[i]), ConfigError) << "case " << i;
  }
  EXPECT_NO_THROW(SyntheticOptions().face_size(0).noise(0.0).validate());
}

// ---------------------------------------------------------------------------------------------
// optical_strain on fields whose derivatives are known by hand.

torch::Tensor grid_x(int64_t h, int64_t w) {
  return torch::arange(w, torch::kFloat64).expand({h, w}).clone();
}
torch::Tensor grid_y(int64_t h, int64_t w) {
  return torch::arange(h, torch::kFloat64).unsqueeze(1).expand({h, w}).clone();
}

TEST(OpticalStrain, LinearStretchGivesItsSlopeEverywhere) {
  const double a = -0.75;  // u = a x: ux = a (also one-sided at the border), rest 0
  const auto e = optical_strain(a * grid_x(6, 7), torch::zeros({6, 7}, torch::kFloat64));
  EXPECT_EQ(e.sizes(), (std::vector<int64_t>{6, 7}));
  EXPECT_TRUE(torch::allclose(e, torch::full({6, 7}, std::abs(a), torch::kFloat64)));
  // v = b y alone: vy = b.
  const auto e2 = optical_strain(torch::zeros({5, 5}, torch::kFloat64), 2.0 * grid_y(5, 5));
  EXPECT_TRUE(torch::allclose(e2, torch::full({5, 5}, 2.0, torch::kFloat64)));
}

TEST(OpticalStrain, RigidMotionGivesZero) {
  // Translation.
  const auto t = optical_strain(torch::full({5, 6}, 3.5), torch::full({5, 6}, -1.25));
  EXPECT_EQ(t.scalar_type(), torch::kFloat32);
  EXPECT_EQ(t.abs().max().item<float>(), 0.0f);
  // Small rotation: u = -w y, v = w x, so uy + vx = 0.
  const double w = 0.1;
  const auto r = optical_strain(-w * grid_y(6, 6), w * grid_x(6, 6));
  EXPECT_LT(r.abs().max().item<double>(), 1e-15);
}

TEST(OpticalStrain, ShearAndCurvedFields) {
  // u = b y: uy = b, so |e| = sqrt(0.5 b^2).
  const double b = 0.6;
  const auto s = optical_strain(b * grid_y(4, 5), torch::zeros({4, 5}, torch::kFloat64));
  EXPECT_TRUE(torch::allclose(s, torch::full({4, 5}, b / std::sqrt(2.0), torch::kFloat64)));
  // u = x^2 on 1 x 5 (x = 0..4): central 2x inside, one-sided 1 and 7 at the ends; a single
  // row has no y derivative.
  const auto x = grid_x(1, 5);
  const auto c = optical_strain(x * x, torch::zeros({1, 5}, torch::kFloat64));
  const auto expected = torch::tensor({{1.0, 2.0, 4.0, 6.0, 7.0}}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(c, expected)) << c;
  // Mixed: u = x y, v = 0 -> ux = y, uy = x: |e|(y=2, x=3) = sqrt(4 + 0.5 * 9).
  const auto m = optical_strain(grid_x(5, 5) * grid_y(5, 5), torch::zeros({5, 5}, torch::kFloat64));
  EXPECT_NEAR(m[2][3].item<double>(), std::sqrt(4.0 + 4.5), 1e-12);
}

TEST(OpticalStrain, RejectsMismatchedInputs) {
  EXPECT_THROW(optical_strain(torch::zeros({4, 4}), torch::zeros({4, 5})), Error);
  EXPECT_THROW(optical_strain(torch::zeros({2, 4, 4}), torch::zeros({2, 4, 4})), Error);
  EXPECT_THROW(
      optical_strain(torch::zeros({4, 4}, torch::kInt64), torch::zeros({4, 4}, torch::kInt64)),
      Error);
  EXPECT_THROW(optical_strain(torch::zeros({4, 4}), torch::zeros({4, 4}, torch::kFloat64)), Error);
}

// ---------------------------------------------------------------------------------------------
// Difficulty: learnable by STSTNet across subjects, but no single pixel gives the class away.

double macro_f1(const torch::Tensor& truth, const torch::Tensor& predicted) {
  double sum = 0.0;
  for (int64_t k = 0; k < kClasses; ++k) {
    const double tp = ((predicted == k) & (truth == k)).sum().item<double>();
    const double fp = ((predicted == k) & (truth != k)).sum().item<double>();
    const double fn = ((predicted != k) & (truth == k)).sum().item<double>();
    sum += tp + fp + fn > 0.0 ? 2.0 * tp / (2.0 * tp + fp + fn) : 0.0;
  }
  return sum / static_cast<double>(kClasses);
}

TEST(SyntheticDifficulty, NoSinglePixelRule) {
  // For every class, every (channel, y, x) value and every threshold: the best one-vs-rest
  // decision stump, scored by balanced accuracy on the whole set (in-sample, so optimistic).
  const Dataset& ds = default_set();
  const auto x = ds.flows.flatten(1).to(torch::kFloat64);  // [N, F]
  const auto labels = ds.labels();
  const int64_t n = ds.size();
  double best = 0.0;
  for (int64_t k = 0; k < kClasses; ++k) {
    const auto positive = (labels == k).to(torch::kFloat64);
    const double n_pos = positive.sum().item<double>();
    const double n_neg = static_cast<double>(n) - n_pos;
    // Sort each feature's values; the cumulative positives below each cut give every stump.
    const auto order = std::get<1>(x.sort(0));               // [N, F]
    const auto cum_pos = positive.index({order}).cumsum(0);  // positives at or below
    const auto rank = torch::arange(1, n + 1, torch::kFloat64).unsqueeze(1);
    const auto tpr_below = cum_pos / n_pos;
    const auto tnr_above = 1.0 - (rank - cum_pos) / n_neg;
    // "class k if value <= cut" has balanced accuracy (tpr_below + tnr_above) / 2; the
    // reversed rule scores 1 minus that. (Ties make this a slight overestimate: fine here.)
    const auto score = (tpr_below + tnr_above) / 2.0;
    best = std::max(best, std::max(score.max().item<double>(), 1.0 - score.min().item<double>()));
  }
  std::cout << "[ stump ] best single-pixel one-vs-rest balanced accuracy " << best << "\n";
  EXPECT_LT(best, 0.93);
}

TEST(SyntheticDifficulty, STSTNetLearnsAcrossSubjects) {
  // Train on subjects s01..s12, test on the unseen s13..s16.
  const auto start = std::chrono::steady_clock::now();
  const Dataset ds = make_synthetic(SyntheticOptions().face_size(0));
  std::vector<int64_t> train, test;
  for (int64_t i = 0; i < ds.size(); ++i) {
    (ds.samples[static_cast<size_t>(i)].subject <= "s12" ? train : test).push_back(i);
  }
  const auto labels = ds.labels();
  const auto train_x = ds.flows.index_select(0, torch::tensor(train));
  const auto train_y = labels.index_select(0, torch::tensor(train));
  const auto test_x = ds.flows.index_select(0, torch::tensor(test));
  const auto test_y = labels.index_select(0, torch::tensor(test));

  constexpr int kEpochs = 60;
  constexpr int64_t kBatch = 64;
  constexpr double kLearningRate = 1e-3;
  torch::manual_seed(0);
  models::STSTNetImpl net;
  torch::optim::Adam optimizer(net.parameters(), torch::optim::AdamOptions(kLearningRate));
  const int64_t n = train_x.size(0);
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    net.train();
    const auto perm = torch::randperm(n);
    for (int64_t b = 0; b < n; b += kBatch) {
      const auto idx = perm.slice(0, b, std::min(b + kBatch, n));
      const auto loss = torch::nn::functional::cross_entropy(
          net.forward_flow(train_x.index_select(0, idx)), train_y.index_select(0, idx));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
    }
  }
  torch::NoGradGuard no_grad;
  net.eval();
  const auto predicted = net.forward_flow(test_x).argmax(1);
  const double accuracy = (predicted == test_y).to(torch::kDouble).mean().item<double>();
  const double uf1 = macro_f1(test_y, predicted);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ learnability ] held-out subjects: accuracy " << accuracy << ", UF1 " << uf1
            << " (" << test.size() << " samples, " << seconds << " s)\n";
  // Chance is ~0.55 accuracy (always "negative", UF1 0.24); a learnable set does much better.
  EXPECT_GT(accuracy, 0.7);
  EXPECT_GT(uf1, 0.6);
}

}  // namespace
}  // namespace mer::data
