#include <gtest/gtest.h>

#include <cmath>

#include "mer/core/error.h"
#include "mer/core/rng.h"
#include "mer/engine/metrics.h"
#include "mer/report/run_statistics.h"

namespace mer::report {

namespace {

// Two classes, one sample of each per subject. "right": both predicted correctly; "wrong":
// both predicted as the other class.
const Confusion kRight = {{1, 0}, {0, 1}};
const Confusion kWrong = {{0, 1}, {1, 0}};

}  // namespace

// By hand: a bootstrap draw of two subjects out of {right, wrong} is (right, right) with
// probability 1/4 (UF1 = UAR = accuracy = 1), (wrong, wrong) with 1/4 (all 0), and one of each
// with 1/2: confusion [[1, 1], [1, 1]], each class F1 = 2/(2 + 1 + 1) = 0.5, recall 0.5,
// accuracy 0.5. The full data is the mixed case: estimate 0.5. The 2.5% and 97.5% quantiles
// of {0: 1/4, 0.5: 1/2, 1: 1/4} are 0 and 1; the 30% and 70% quantiles (level 0.4) are both
// 0.5. With 4000 resamples the empirical shares are within 0.03 of 1/4 (far more than 10
// standard deviations from the 2.5%/30%/70% boundaries), so any seed gives these bounds.
TEST(Bootstrap, HandComputedTwoSubjects) {
  const std::vector<std::vector<Confusion>> group = {{kRight, kWrong}};
  const auto wide = bootstrap_group(group, BootstrapOptions().resamples(4000).seed(7));
  for (const auto& i : {wide.uf1, wide.uar, wide.accuracy}) {
    EXPECT_EQ(i.estimate, 0.5);
    EXPECT_EQ(i.low, 0.0);
    EXPECT_EQ(i.high, 1.0);
  }
  const auto narrow = bootstrap_group(group, BootstrapOptions().resamples(4000).seed(7).level(0.4));
  for (const auto& i : {narrow.uf1, narrow.uar, narrow.accuracy}) {
    EXPECT_EQ(i.low, 0.5);
    EXPECT_EQ(i.high, 0.5);
  }
}

// Model a is right on both subjects, b only on the first. a - b on a draw: 0 for (1st, 1st),
// 1 for (2nd, 2nd), 0.5 for one of each; estimate 0.5, 95% interval [0, 1].
TEST(Bootstrap, HandComputedPairedDifference) {
  const std::vector<std::vector<Confusion>> a = {{kRight, kRight}}, b = {{kRight, kWrong}};
  const auto d = paired_difference(a, b, BootstrapOptions().resamples(4000).seed(3));
  EXPECT_EQ(d.accuracy.estimate, 0.5);
  EXPECT_EQ(d.accuracy.low, 0.0);
  EXPECT_EQ(d.accuracy.high, 1.0);
  EXPECT_EQ(d.uf1.estimate, 0.5);
}

TEST(Bootstrap, PairedDifferenceOfARunWithItselfIsExactlyZero) {
  SplitMix64 rng(11);
  std::vector<Confusion> subjects;
  for (int s = 0; s < 12; ++s) {
    Confusion c(3, std::vector<int64_t>(3, 0));
    for (int i = 0; i < 7; ++i) ++c[rng.below(3)][rng.below(3)];
    subjects.push_back(c);
  }
  const std::vector<std::vector<Confusion>> group = {subjects, subjects};
  const auto d = paired_difference(group, group, BootstrapOptions().resamples(500));
  for (const auto& i : {d.uf1, d.uar, d.accuracy}) {
    EXPECT_EQ(i.estimate, 0.0);
    EXPECT_EQ(i.low, 0.0);
    EXPECT_EQ(i.high, 0.0);
  }
}

TEST(Bootstrap, SameSeedSameIntervalsAndTheEstimateIsThePooledFigure) {
  SplitMix64 rng(5);
  std::vector<Confusion> subjects;
  std::vector<int64_t> labels, predictions;
  for (int s = 0; s < 20; ++s) {
    Confusion c(3, std::vector<int64_t>(3, 0));
    for (int i = 0; i < 5; ++i) {
      const auto t = static_cast<int64_t>(rng.below(3));
      const auto p = rng.uniform() < 0.6 ? t : static_cast<int64_t>(rng.below(3));
      ++c[t][p];
      labels.push_back(t);
      predictions.push_back(p);
    }
    subjects.push_back(c);
  }
  const std::vector<std::vector<Confusion>> group = {subjects};
  const auto x = bootstrap_group(group, BootstrapOptions().seed(9));
  const auto y = bootstrap_group(group, BootstrapOptions().seed(9));
  EXPECT_EQ(x.uf1.low, y.uf1.low);
  EXPECT_EQ(x.uf1.high, y.uf1.high);
  EXPECT_LT(x.uf1.low, x.uf1.estimate);
  EXPECT_GT(x.uf1.high, x.uf1.estimate);
  // The MEGC figures of the engine, to the last bit.
  const auto m = engine::compute_metrics(labels, predictions, 3);
  EXPECT_EQ(x.uf1.estimate, m.uf1);
  EXPECT_EQ(x.uar.estimate, m.uar);
  EXPECT_EQ(x.accuracy.estimate, m.accuracy);
}

TEST(Bootstrap, RejectsNonsense) {
  const std::vector<std::vector<Confusion>> group = {{kRight}};
  EXPECT_THROW(bootstrap_group(group, BootstrapOptions().resamples(0)), ConfigError);
  EXPECT_THROW(bootstrap_group(group, BootstrapOptions().level(1.0)), ConfigError);
  EXPECT_THROW(paired_difference(group, {{kRight, kWrong}}), Error);
}

TEST(Percentile, InterpolatesLinearlyBetweenOrderStatistics) {
  EXPECT_EQ(percentile({4, 1, 3, 2}, 0.0), 1.0);
  EXPECT_EQ(percentile({4, 1, 3, 2}, 1.0), 4.0);
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(sd_of({1, 2, 3, 4}), std::sqrt(5.0 / 3.0));
  EXPECT_EQ(sd_of({0.7}), 0.0);
}

}  // namespace mer::report
