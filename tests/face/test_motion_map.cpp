#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/face/motion_map.h"

namespace mer::face {
namespace {

// A flow field from functions u(x, y), v(x, y) in pixel coordinates.
template <typename U, typename V>
cv::Mat field(int rows, int cols, U u, V v) {
  cv::Mat flow(rows, cols, CV_32FC2);
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      flow.at<cv::Vec2f>(y, x) = cv::Vec2f(static_cast<float>(u(x, y)), static_cast<float>(v(x, y)));
    }
  }
  return flow;
}

double max_abs_difference(const cv::Mat& a, double value) {
  double lo = 0, hi = 0;
  cv::minMaxLoc(a, &lo, &hi);
  return std::max(std::abs(lo - value), std::abs(hi - value));
}

}  // namespace

TEST(OpticalStrain, PureTranslationHasNone) {
  const cv::Mat strain = optical_strain(field(20, 30, [](int, int) { return 3.0; },
                                              [](int, int) { return -2.0; }));
  ASSERT_EQ(strain.type(), CV_32F);
  ASSERT_EQ(strain.size(), cv::Size(30, 20));
  EXPECT_LT(max_abs_difference(strain, 0.0), 1e-6);
}

TEST(OpticalStrain, LinearStretchAndShearGiveTheFormula) {
  // u = a x, v = b y: ux = a, vy = b, no shear -> sqrt(a^2 + b^2) everywhere, the border
  // included (one-sided differences are exact on linear fields).
  const double a = 0.03, b = -0.04;
  const cv::Mat stretch = optical_strain(field(16, 24, [&](int x, int) { return a * x; },
                                               [&](int, int y) { return b * y; }));
  EXPECT_LT(max_abs_difference(stretch, 0.05), 1e-6);
  // u = c y: uy = c -> sqrt(0.5) |c|.
  const double c = 0.2;
  const cv::Mat shear = optical_strain(field(16, 24, [&](int, int y) { return c * y; },
                                             [](int, int) { return 0.0; }));
  EXPECT_LT(max_abs_difference(shear, std::sqrt(0.5) * c), 1e-6);
}

TEST(OpticalStrain, MatchesTheTorchVersionOfMerData) {
  cv::Mat flow(23, 31, CV_32FC2);
  cv::RNG(5).fill(flow, cv::RNG::NORMAL, 0.0, 1.0);
  cv::Mat uv[2];
  cv::split(flow, uv);
  auto as_tensor = [](const cv::Mat& m) {
    return torch::from_blob(m.data, {m.rows, m.cols}, torch::kFloat32).to(torch::kFloat64);
  };
  const torch::Tensor expected = data::optical_strain(as_tensor(uv[0]), as_tensor(uv[1]));
  const cv::Mat got = optical_strain(flow);
  const torch::Tensor got_t = as_tensor(got);
  EXPECT_LT((got_t - expected).abs().max().item<double>(), 1e-5);
}

TEST(NormaliseMinMax, EachChannelSpansTheFullRangeAndConstantsAreZero) {
  cv::Mat image(4, 5, CV_32FC3);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 5; ++x) image.at<cv::Vec3f>(y, x) = cv::Vec3f(x * 0.1f, -100.0f * y, 7.0f);
  }
  const cv::Mat bytes = normalise_min_max(image);
  ASSERT_EQ(bytes.type(), CV_8UC3);
  cv::Mat c[3];
  cv::split(bytes, c);
  double lo = 0, hi = 0;
  cv::minMaxLoc(c[0], &lo, &hi);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 255);
  EXPECT_EQ(c[0].at<uchar>(0, 2), 128);  // 0.2 of 0.4 -> 127.5 rounds up
  EXPECT_EQ(c[1].at<uchar>(0, 0), 255);  // y = 0 is the largest of -100 y
  EXPECT_EQ(c[1].at<uchar>(3, 0), 0);
  EXPECT_EQ(cv::countNonZero(c[2]), 0);
}

TEST(MotionMap, DefaultLayoutIsTheCompositesAndSurvivesAPngRoundTrip) {
  // u grows along x, v along y, strain largest at the bottom (v = 0.002 y^2 stretches more
  // further down): each channel must show its own pattern.
  const cv::Mat flow = field(112, 112, [](int x, int) { return 0.01 * x; },
                             [](int, int y) { return 0.002 * y * y; });
  const cv::Mat map = motion_map(flow);
  ASSERT_EQ(map.type(), CV_8UC3);
  ASSERT_EQ(map.size(), cv::Size(28, 28));
  const auto path = std::filesystem::temp_directory_path() / "mer_test_motion_map.png";
  ASSERT_TRUE(cv::imwrite(path.string(), map));
  const cv::Mat read = cv::imread(path.string(), cv::IMREAD_COLOR);
  std::filesystem::remove(path);
  ASSERT_EQ(cv::norm(read, map, cv::NORM_INF), 0.0);
  for (int channel = 0; channel < 3; ++channel) {
    cv::Mat c;
    cv::extractChannel(read, c, channel);
    double lo = 0, hi = 0;
    cv::minMaxLoc(c, &lo, &hi);
    EXPECT_EQ(lo, 0) << "channel " << channel;
    EXPECT_EQ(hi, 255) << "channel " << channel;
  }
  // Default layout = the composite's: 0 = strain, 1 = v, 2 = u.
  EXPECT_LT(read.at<cv::Vec3b>(14, 0)[2], read.at<cv::Vec3b>(14, 27)[2]);   // u: left < right
  EXPECT_EQ(read.at<cv::Vec3b>(0, 14)[2], read.at<cv::Vec3b>(27, 14)[2]);   // u: no change in y
  EXPECT_LT(read.at<cv::Vec3b>(0, 14)[1], read.at<cv::Vec3b>(27, 14)[1]);   // v: top < bottom
  EXPECT_LT(read.at<cv::Vec3b>(1, 14)[0], read.at<cv::Vec3b>(26, 14)[0]);   // strain: grows down
}

TEST(MotionMap, StrainVUOrderSwapsTheFirstAndLastChannels) {
  cv::Mat flow(40, 40, CV_32FC2);
  cv::RNG(2).fill(flow, cv::RNG::NORMAL, 0.0, 1.0);
  const cv::Mat uvs = motion_map(flow, MotionMapOptions().channel_order(ChannelOrder::kUVStrain));
  const cv::Mat svu = motion_map(flow);  // the default
  cv::Mat a[3], b[3];
  cv::split(uvs, a);
  cv::split(svu, b);
  EXPECT_EQ(cv::norm(a[0], b[2], cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(a[1], b[1], cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(a[2], b[0], cv::NORM_INF), 0.0);
}

TEST(MotionMap, RejectsBadOptions) {
  const cv::Mat flow(16, 16, CV_32FC2, cv::Scalar(0, 0));
  EXPECT_THROW(motion_map(flow, MotionMapOptions().output_size(4)), ConfigError);
  EXPECT_THROW(motion_map(cv::Mat(16, 16, CV_32F)), Error);
}

}  // namespace mer::face
