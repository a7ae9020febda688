#include <gtest/gtest.h>

#include <fstream>

#include "mer/core/error.h"
#include "mer/face/face_detector.h"
#include "mer/face/image_io.h"
#include "mer/face/landmarks.h"
#include "face_fixtures.h"

namespace mer::face {

TEST(FaceDetector, RealDataLandmarksFallInsideTheFaceBox) {
  MER_REQUIRE_CASME();
  MER_REQUIRE_MODEL();
  for (const auto& [subject, clip, frame] :
       {std::tuple{"sub01", "EP02_01f", 46}, std::tuple{"sub17", "EP13_01", 146}}) {
    const std::string path = testing::casme_frame(subject, clip, frame);
    const cv::Mat grey = read_image(path, ImageMode::kGrey);
    FaceDetector detector;
    const auto boxes = detector.detect_all(grey);
    ASSERT_GE(boxes.size(), 1u) << path;
    const cv::Rect box = detector.detect_largest(grey, path);
    EXPECT_GT(box.width, grey.cols / 3) << "a CASME II crop is mostly face";
    const Landmarks points = testing::shared_model()->fit(grey, box);
    // dlib's box is tight (brows to lip, cheek to cheek): allow the jaw and chin 20% of the
    // box beyond it (on CASME II's tight frames dlib extrapolates them past the frame edge).
    const cv::Rect2f loose(box.x - 0.2f * box.width, box.y - 0.2f * box.height,
                           1.4f * box.width, 1.4f * box.height);
    for (int i = 0; i < kNumLandmarks; ++i) {
      EXPECT_TRUE(loose.contains(points[i])) << path << " point " << i << " " << points[i];
    }
    // The inner face (brows, eyes, nose, mouth: 17..67) inside the box give or take 5% (the
    // brows may touch its top edge).
    const cv::Rect2f snug(box.x - 0.05f * box.width, box.y - 0.05f * box.height,
                          1.1f * box.width, 1.1f * box.height);
    for (int i = 17; i < kNumLandmarks; ++i) {
      EXPECT_TRUE(snug.contains(points[i])) << path << " point " << i << " " << points[i];
    }
    // Anatomy: eyes above the nose tip above the mouth, left eye left of the right one.
    EXPECT_LT(left_eye_centre(points).x, right_eye_centre(points).x);
    EXPECT_LT(left_eye_centre(points).y, points[33].y);
    EXPECT_LT(points[33].y, points[62].y);
  }
}

TEST(FaceDetector, FacelessImagesGiveADataErrorNamingTheSource) {
  FaceDetector detector;
  const cv::Mat flat(240, 240, CV_8UC1, cv::Scalar(128));
  testing::expect_data_error([&] { detector.detect_largest(flat, "flat.png"); },
                             {"no face found in flat.png"});
  const cv::Mat noise = testing::texture(240, 3, 0.8);
  EXPECT_TRUE(detector.detect_all(noise).empty());
  testing::expect_data_error([&] { detector.detect_largest(noise, "noise.png"); },
                             {"no face found in noise.png"});
}

TEST(FaceDetector, RejectsBadOptions) {
  EXPECT_THROW(FaceDetector(FaceDetectorOptions().upsample(4)), ConfigError);
  EXPECT_THROW(FaceDetector(FaceDetectorOptions().threshold(2.0)), ConfigError);
}

TEST(LandmarkModel, MissingOrBrokenModelFileIsADataError) {
  testing::expect_data_error([] { LandmarkModel::load("/nonexistent/model.dat"); },
                             {"/nonexistent/model.dat", "not found", "libdlib-data"});
  const auto path = std::filesystem::temp_directory_path() / "mer_test_broken_model.dat";
  { std::ofstream(path) << "not a model"; }
  testing::expect_data_error([&] { LandmarkModel::load(path.string()); },
                             {path.string(), "not a readable dlib shape predictor"});
  std::filesystem::remove(path);
}

}  // namespace mer::face
