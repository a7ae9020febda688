#include <gtest/gtest.h>

#include "mer/core/error.h"
#include "mer/engine/metrics.h"

namespace mer::engine {

TEST(Metrics, HandComputedThreeClassCase) {
  // Per class: 0: TP 2, FN 1, FP 0 -> F1 4/5, recall 2/3; 1: TP 1, FP 1, FN 1 -> F1 1/2,
  // recall 1/2; 2: TP 1, FP 1, FN 0 -> F1 2/3, recall 1.
  const auto m = compute_metrics({0, 0, 0, 1, 1, 2}, {0, 0, 1, 1, 2, 2}, 3);
  EXPECT_NEAR(m.f1[0], 0.8, 1e-12);
  EXPECT_NEAR(m.f1[1], 0.5, 1e-12);
  EXPECT_NEAR(m.f1[2], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.uf1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0, 1e-12);
  EXPECT_NEAR(m.uar, (2.0 / 3.0 + 0.5 + 1.0) / 3.0, 1e-12);
  EXPECT_NEAR(m.accuracy, 4.0 / 6.0, 1e-12);
  EXPECT_EQ(m.confusion, (std::vector<std::vector<int64_t>>{{2, 1, 0}, {0, 1, 1}, {0, 0, 1}}));
  EXPECT_EQ(m.n, 6);
}

TEST(Metrics, ClassAbsentFromGroundTruthIsLeftOutOfTheMeans) {
  // Class 2 never occurs: UF1 = mean(F1_0 = 2/3, F1_1 = 1), UAR = mean(1/2, 1).
  const auto m = compute_metrics({0, 0, 1}, {0, 2, 1}, 3);
  EXPECT_NEAR(m.uf1, (2.0 / 3.0 + 1.0) / 2.0, 1e-12);
  EXPECT_NEAR(m.uar, 0.75, 1e-12);
}

TEST(Metrics, ClassNeverPredictedCountsAsZeroF1) {
  const auto m = compute_metrics({0, 1}, {0, 0}, 2);
  EXPECT_NEAR(m.f1[1], 0.0, 1e-12);
  EXPECT_NEAR(m.f1[0], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.uf1, 1.0 / 3.0, 1e-12);
}

TEST(Metrics, PerfectPrediction) {
  const auto m = compute_metrics({0, 1, 2, 1}, {0, 1, 2, 1}, 3);
  EXPECT_DOUBLE_EQ(m.uf1, 1.0);
  EXPECT_DOUBLE_EQ(m.uar, 1.0);
  EXPECT_DOUBLE_EQ(m.accuracy, 1.0);
}

TEST(Metrics, RejectsMismatchedOrOutOfRangeInput) {
  EXPECT_THROW(compute_metrics({0, 1}, {0}, 3), Error);
  EXPECT_THROW(compute_metrics({0, 3}, {0, 1}, 3), Error);
  EXPECT_THROW(compute_metrics({0, 1}, {0, -1}, 3), Error);
}

}  // namespace mer::engine
