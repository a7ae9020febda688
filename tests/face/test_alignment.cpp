#include <gtest/gtest.h>

#include <cmath>

#include "mer/core/error.h"
#include "mer/face/alignment.h"
#include "mer/face/face_detector.h"
#include "mer/face/image_io.h"
#include "face_fixtures.h"

namespace mer::face {
namespace {

// Landmarks with only the eye contours set: each eye a ring of 6 points around its centre.
Landmarks eyes_at(cv::Point2f left, cv::Point2f right) {
  Landmarks points{};
  for (int i = 0; i < 6; ++i) {
    const float angle = static_cast<float>(i * CV_PI / 3.0);
    const cv::Point2f offset(5.0f * std::cos(angle), 3.0f * std::sin(angle));
    points[36 + i] = left + offset;
    points[42 + i] = right + offset;
  }
  return points;
}

void expect_eyes_where_promised(const Landmarks& crop, const AlignmentOptions& o, double tol) {
  const cv::Point2f l = left_eye_centre(crop), r = right_eye_centre(crop);
  const double size = o.output_size();
  EXPECT_NEAR(l.y, r.y, tol) << "eyes not level";
  EXPECT_NEAR(l.y, o.eye_row() * size, tol);
  EXPECT_NEAR(r.x - l.x, o.inter_ocular() * size, tol);
  EXPECT_NEAR((l.x + r.x) * 0.5, (size - 1) * 0.5, tol) << "eyes not centred";
}

}  // namespace

TEST(Alignment, PutsRotatedScaledEyesOnTheirPromisedPlaces) {
  // Eyes 80 px apart on a line tilted by 20 degrees, somewhere in a large frame.
  const double angle = 20.0 * CV_PI / 180.0;
  const cv::Point2f left(300.0f, 200.0f);
  const cv::Point2f right = left + cv::Point2f(static_cast<float>(80 * std::cos(angle)),
                                               static_cast<float>(80 * std::sin(angle)));
  for (const auto& options : {AlignmentOptions(), AlignmentOptions::megc2019(),
                              AlignmentOptions().output_size(64).inter_ocular(0.3).eye_row(0.4)}) {
    const Alignment a = compute_alignment(eyes_at(left, right), options);
    EXPECT_EQ(a.output_size, options.output_size());
    expect_eyes_where_promised(a.apply(eyes_at(left, right)), options, 1e-3);
    // A similarity: the 2x2 part is a scaled rotation.
    EXPECT_NEAR(a.matrix(0, 0), a.matrix(1, 1), 1e-12);
    EXPECT_NEAR(a.matrix(0, 1), -a.matrix(1, 0), 1e-12);
  }
}

TEST(Alignment, CropHasTheOutputSizeAndType) {
  const Alignment a = compute_alignment(eyes_at({40, 50}, {80, 50}));
  const cv::Mat grey(120, 100, CV_8UC1, cv::Scalar(9)), colour(120, 100, CV_8UC3);
  EXPECT_EQ(a.apply(grey).size(), cv::Size(224, 224));
  EXPECT_EQ(a.apply(grey).type(), CV_8UC1);
  EXPECT_EQ(a.apply(colour).type(), CV_8UC3);
  EXPECT_EQ(a.apply(grey).at<uchar>(0, 0), 9);  // replicated border, no black frame
}

TEST(Alignment, WholeFrameFramingIsAResize) {
  const cv::Mat frame = testing::texture(120, 8);
  cv::Mat tall;
  cv::resize(frame, tall, cv::Size(100, 130));
  const auto options = AlignmentOptions().framing(Framing::kWholeFrame).output_size(64);
  const Alignment a = compute_alignment(eyes_at({40, 50}, {80, 60}), options, tall.size());
  cv::Mat resized;
  cv::resize(tall, resized, cv::Size(64, 64), 0, 0, cv::INTER_LINEAR);
  const cv::Mat crop = a.apply(tall);
  EXPECT_LT(cv::norm(crop, resized, cv::NORM_L1) / crop.total(), 1.0);
  // Frame corners (pixel edges) to crop corners.
  EXPECT_NEAR(a.apply(cv::Point2f(-0.5f, -0.5f)).x, -0.5, 1e-4);
  EXPECT_NEAR(a.apply(cv::Point2f(99.5f, 129.5f)).y, 63.5, 1e-4);
  EXPECT_THROW(compute_alignment(eyes_at({40, 50}, {80, 60}), options), Error);  // no size
}

TEST(Alignment, RejectsBadOptionsAndDegenerateEyes) {
  const Landmarks ok = eyes_at({40, 50}, {80, 50});
  EXPECT_THROW(compute_alignment(ok, AlignmentOptions().output_size(8)), ConfigError);
  EXPECT_THROW(compute_alignment(ok, AlignmentOptions().inter_ocular(0.9)), ConfigError);
  EXPECT_THROW(compute_alignment(ok, AlignmentOptions().eye_row(0.0)), ConfigError);
  EXPECT_THROW(compute_alignment(eyes_at({40, 50}, {40, 50})), DataError);
}

TEST(Alignment, RealDataCasmeOnsetEyesLevelAtThePromisedDistance) {
  MER_REQUIRE_CASME();
  MER_REQUIRE_MODEL();
  const auto model = testing::shared_model();
  const std::string path = testing::casme_frame("sub01", "EP02_01f", 46);
  const cv::Mat frame = read_image(path, ImageMode::kGrey);
  FaceDetector detector;
  const Landmarks points = model->fit(frame, detector.detect_largest(frame, path));
  const AlignmentOptions options;
  const Alignment a = compute_alignment(points, options);
  // The landmarks carried into the crop: exactly where promised.
  expect_eyes_where_promised(a.apply(points), options, 1e-3);
  // Landmarks found afresh on the aligned crop: the image really is aligned, to within the
  // landmark model's own jitter (1 px level, 2 px position and distance).
  const cv::Mat crop = a.apply(frame);
  const Landmarks again = model->fit(crop, detector.detect_largest(crop, path + " (aligned)"));
  const cv::Point2f l = left_eye_centre(again), r = right_eye_centre(again);
  EXPECT_NEAR(l.y, r.y, 1.0);
  EXPECT_NEAR(r.x - l.x, options.inter_ocular() * 224, 2.0);
  EXPECT_NEAR((l.y + r.y) / 2, options.eye_row() * 224, 2.0);
  EXPECT_NEAR((l.x + r.x) / 2, 223 / 2.0, 2.0);
  // The face inside the crop: every carried landmark (the jaw included, although CASME II's
  // tight frames cut it off and dlib extrapolates it), and the inner face found afresh (the
  // refit jaw is unreliable on the replicated border where the frame ended).
  for (const auto& p : a.apply(points)) {
    EXPECT_TRUE(cv::Rect2f(0, 0, 224, 224).contains(p)) << p;
  }
  for (int i = 17; i < kNumLandmarks; ++i) {
    EXPECT_TRUE(cv::Rect2f(0, 0, 224, 224).contains(again[i])) << i << " " << again[i];
  }
}

}  // namespace mer::face
