#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "mer/core/error.h"
#include "mer/face/optical_flow.h"
#include "face_fixtures.h"

namespace mer::face {
namespace {

// Mean of the flow inside a margin (TV-L1 is less certain where content leaves the frame).
cv::Scalar interior_mean(const cv::Mat& flow, int margin) {
  return cv::mean(flow(cv::Rect(margin, margin, flow.cols - 2 * margin, flow.rows - 2 * margin)));
}

cv::Mat shifted(const cv::Mat& image, double dx, double dy) {
  cv::Mat out;
  const cv::Matx23d m(1, 0, dx, 0, 1, dy);
  cv::warpAffine(image, out, cv::Mat(m), image.size(), cv::INTER_CUBIC, cv::BORDER_REFLECT);
  return out;
}

}  // namespace

TEST(TvL1Flow, RecoversAKnownShift) {
  const cv::Mat from = testing::texture(96, 7);
  const cv::Mat to = shifted(from, 2.0, -1.0);  // content moves 2 px right, 1 px up
  const cv::Mat flow = tvl1_flow(from, to, TvL1Options::full_quality());
  ASSERT_EQ(flow.type(), CV_32FC2);
  ASSERT_EQ(flow.size(), from.size());
  const cv::Scalar mean = interior_mean(flow, 8);
  EXPECT_NEAR(mean[0], 2.0, 0.1);
  EXPECT_NEAR(mean[1], -1.0, 0.1);
}

TEST(TvL1Flow, DefaultsRecoverTheShiftAtTheWorkingSize) {
  // 224 -> 112 working size: a (4, -2) px shift becomes (2, -1) working pixels.
  const cv::Mat from = testing::texture(224, 11, 3.0);
  const cv::Mat flow = tvl1_flow(from, shifted(from, 4.0, -2.0));
  ASSERT_EQ(flow.size(), cv::Size(112, 112));
  const cv::Scalar mean = interior_mean(flow, 8);
  EXPECT_NEAR(mean[0], 2.0, 0.15);
  EXPECT_NEAR(mean[1], -1.0, 0.15);
}

TEST(TvL1Flow, IdenticalImagesGiveNoFlow) {
  const cv::Mat image = testing::texture(64, 3);
  const cv::Mat flow = tvl1_flow(image, image, TvL1Options().working_size(0));
  double lo = 0, hi = 0;
  cv::minMaxLoc(flow.reshape(1), &lo, &hi);
  EXPECT_LT(std::max(std::abs(lo), std::abs(hi)), 1e-3);
}

TEST(TvL1Flow, RejectsBadOptionsAndInputs) {
  const cv::Mat image = testing::texture(32, 1);
  EXPECT_THROW(tvl1_flow(image, image, TvL1Options().working_size(8)), ConfigError);
  EXPECT_THROW(tvl1_flow(image, image, TvL1Options().tau(0.5)), ConfigError);
  EXPECT_THROW(tvl1_flow(image, image, TvL1Options().median_filtering(4)), ConfigError);
  EXPECT_THROW(tvl1_flow(image, image, TvL1Options().scale_step(1.0)), ConfigError);
  EXPECT_THROW(tvl1_flow(image, testing::texture(48, 1)), Error);
  EXPECT_NO_THROW(TvL1Options::full_quality().validate());
}

}  // namespace mer::face
