#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "mer/core/error.h"
#include "mer/face/clip_preprocessor.h"
#include "face_fixtures.h"

namespace fs = std::filesystem;

namespace mer::face {
namespace {

// One preprocessor for the suite (sharing the model loaded once), temp files per test.
class ClipPreprocessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MER_REQUIRE_MODEL();
    preprocessor_.emplace(ClipPreprocessorOptions(), testing::shared_model());
    dir_ = fs::temp_directory_path() /
           ("mer_test_face_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string write_image(const std::string& name, const cv::Mat& image) {
    const auto path = (dir_ / name).string();
    EXPECT_TRUE(cv::imwrite(path, image));
    return path;
  }

  std::optional<ClipPreprocessor> preprocessor_;
  fs::path dir_;
};

void expect_full_range(const cv::Mat& map) {
  for (int c = 0; c < 3; ++c) {
    cv::Mat channel;
    cv::extractChannel(map, channel, c);
    double lo = 0, hi = 0;
    cv::minMaxLoc(channel, &lo, &hi);
    EXPECT_EQ(lo, 0) << "channel " << c;
    EXPECT_EQ(hi, 255) << "channel " << c;
  }
}

}  // namespace

// Each failure mode in one test: ctest runs every test in its own process, and each process
// loads the landmark model (~0.9 s).
TEST_F(ClipPreprocessorTest, BadInputsGiveADataErrorNamingTheFileAndTheReason) {
  // A missing frame.
  const auto missing = (dir_ / "reg_img99.jpg").string();
  testing::expect_data_error([&] { preprocessor_->process(missing, missing); },
                             {missing, "not found"});
  // Garbage bytes under a .jpg name, as onset and as apex.
  const auto corrupt = (dir_ / "corrupt.jpg").string();
  {
    std::ofstream out(corrupt, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>((i * 7919 + 13) % 251));
  }
  const auto grey = write_image("grey.jpg", cv::Mat(240, 240, CV_8UC1, cv::Scalar(128)));
  testing::expect_data_error([&] { preprocessor_->process(corrupt, grey); },
                             {corrupt, "cannot decode image"});
  testing::expect_data_error([&] { preprocessor_->process(grey, corrupt); },
                             {corrupt, "cannot decode image"});
  // No face in the onset frame: flat grey, noise.
  const auto noise = write_image("noise.png", testing::texture(240, 9, 0.8));
  testing::expect_data_error([&] { preprocessor_->process(grey, noise); },
                             {"no face found in " + grey});
  testing::expect_data_error([&] { preprocessor_->process(noise, grey); },
                             {"no face found in " + noise});
  // An apex frame of another size than the onset's.
  const auto small = write_image("small.png", cv::Mat(50, 60, CV_8UC1, cv::Scalar(1)));
  testing::expect_data_error([&] { preprocessor_->process(grey, small); },
                             {small, "differs from the onset"});
  // A sequence too short to spot an apex in.
  testing::expect_data_error([&] { preprocessor_->process_sequence({grey}); },
                             {"at least 2 frames", grey});
}

TEST_F(ClipPreprocessorTest, RealDataCasmeClipsGiveFullRangeMapsCropsAndLandmarks) {
  MER_REQUIRE_CASME();
  // sub01/EP02_01f: onset 46, apex 59 (happiness, AU12).
  const auto clip = preprocessor_->process(testing::casme_frame("sub01", "EP02_01f", 46),
                                           testing::casme_frame("sub01", "EP02_01f", 59));
  ASSERT_EQ(clip.flow_map.type(), CV_8UC3);
  ASSERT_EQ(clip.flow_map.size(), cv::Size(28, 28));
  expect_full_range(clip.flow_map);
  EXPECT_EQ(clip.onset_crop.size(), cv::Size(224, 224));
  EXPECT_EQ(clip.onset_crop.type(), CV_8UC1);
  EXPECT_EQ(clip.apex_crop.size(), cv::Size(224, 224));
  EXPECT_GT(cv::norm(clip.onset_crop, clip.apex_crop, cv::NORM_L1), 0.0);
  const cv::Mat points = to_mat(clip.landmarks);
  EXPECT_EQ(points.rows, 68);
  EXPECT_EQ(points.cols, 2);
  EXPECT_EQ(points.type(), CV_32F);
  for (const auto& p : clip.landmarks) EXPECT_TRUE(cv::Rect2f(0, 0, 224, 224).contains(p)) << p;
  EXPECT_EQ(clip.apex_index, 1);
  EXPECT_FALSE(clip.apex_spotted);
  EXPECT_GT(clip.timing.flow_ms, 0.0);
  EXPECT_GE(clip.timing.total_ms, clip.timing.flow_ms + clip.timing.detect_ms);

  // Colour crops and other sizes, on another subject (sub17/EP13_01: onset 146, apex 164).
  ClipPreprocessor colour(ClipPreprocessorOptions()
                              .colour_crops(true)
                              .alignment(AlignmentOptions().output_size(128))
                              .map(MotionMapOptions().output_size(42)),
                          testing::shared_model());
  const auto other = colour.process(testing::casme_frame("sub17", "EP13_01", 146),
                                    testing::casme_frame("sub17", "EP13_01", 164));
  EXPECT_EQ(other.onset_crop.type(), CV_8UC3);
  EXPECT_EQ(other.onset_crop.size(), cv::Size(128, 128));
  EXPECT_EQ(other.flow_map.size(), cv::Size(42, 42));
  expect_full_range(other.flow_map);
}

TEST_F(ClipPreprocessorTest, RealDataSpottedApexIsNearTheAnnotation) {
  MER_REQUIRE_CASME();
  // sub01/EP02_01f has every frame 46..86; the annotated apex is frame 59.
  std::vector<std::string> frames;
  for (int n = 46; n <= 86; ++n) frames.push_back(testing::casme_frame("sub01", "EP02_01f", n));
  const auto clip = preprocessor_->process_sequence(frames);
  EXPECT_TRUE(clip.apex_spotted);
  EXPECT_EQ(clip.apex_scores.size(), frames.size());
  EXPECT_NEAR(46 + clip.apex_index, 59, 6);
  expect_full_range(clip.flow_map);
}

TEST(ClipPreprocessorOptions, ValidateChecksEveryPart) {
  EXPECT_NO_THROW(ClipPreprocessorOptions().validate());
  EXPECT_THROW(ClipPreprocessorOptions().landmark_model("").validate(), ConfigError);
  EXPECT_THROW(ClipPreprocessorOptions().map(MotionMapOptions().output_size(1)).validate(),
               ConfigError);
  EXPECT_THROW(ClipPreprocessorOptions().apex(ApexSpottingOptions().smoothing(4)).validate(),
               ConfigError);
  EXPECT_THROW(ClipPreprocessor(ClipPreprocessorOptions().landmark_model("/nonexistent.dat")),
               DataError);
}

}  // namespace mer::face
