// Video files: frames come back in order and numbered from 0, with clear errors for missing,
// corrupt and out-of-range input. The video is generated in the test (MJPG .avi, which
// OpenCV writes without any external codec).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "mer/core/error.h"
#include "mer/face/video_io.h"

namespace fs = std::filesystem;
using mer::face::ImageMode;

namespace {

// 12 frames, frame i a flat grey of level 20 * i (so a frame's number can be read back).
std::string make_video(const std::string& name) {
  const std::string path = (fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()) + ".avi")).string();
  cv::VideoWriter writer(path, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25.0, cv::Size(64, 48), true);
  EXPECT_TRUE(writer.isOpened());
  for (int i = 0; i < 12; ++i) writer.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar::all(20 * i)));
  return path;
}

double level(const cv::Mat& m) { return cv::mean(m)[0]; }

template <typename F>
void expect_data_error(F f, const std::string& expected) {
  try {
    f();
    ADD_FAILURE() << "no error, expected: " << expected;
  } catch (const mer::DataError& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(VideoIo, ReadsFramesInOrderNumberedFromZero) {
  const auto path = make_video("mer_video_order");
  const auto info = mer::face::probe_video(path);
  EXPECT_EQ(info.frames, 12);
  EXPECT_EQ(info.width, 64);
  EXPECT_EQ(info.height, 48);
  const auto all = mer::face::read_video_frames(path, ImageMode::kGrey);
  ASSERT_EQ(all.size(), 12u);
  EXPECT_EQ(all[0].type(), CV_8UC1);
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(level(all[i]), 20 * i, 3) << i;
  const auto range = mer::face::read_video_frames(path, ImageMode::kColour, 3, 5);
  ASSERT_EQ(range.size(), 3u);
  EXPECT_EQ(range[0].type(), CV_8UC3);
  EXPECT_NEAR(level(range[0]), 60, 3);
  const auto at = mer::face::read_video_frames_at(path, ImageMode::kGrey, {7, 2});
  ASSERT_EQ(at.size(), 2u);
  EXPECT_NEAR(level(at[0]), 140, 3);
  EXPECT_NEAR(level(at[1]), 40, 3);
  fs::remove(path);
}

TEST(VideoIo, BadInputFailsNamingTheFile) {
  const auto path = make_video("mer_video_bad");
  expect_data_error([&] { mer::face::read_video_frames_at(path, ImageMode::kGrey, {0, 12}); },
                    path + ": frame 12 out of range (the video has 12 frames, numbered 0..11)");
  expect_data_error([&] { mer::face::read_video_frames(path, ImageMode::kGrey, 20); },
                    path + ": frame 20 out of range");
  expect_data_error([] { mer::face::probe_video("/nonexistent/clip.mp4"); },
                    "/nonexistent/clip.mp4: file not found");
  const std::string corrupt = path + ".corrupt.avi";
  { std::ofstream(corrupt) << "RIFF....AVI not really a video"; }
  expect_data_error([&] { mer::face::read_video_frames(corrupt, ImageMode::kGrey); }, corrupt + ": ");
  EXPECT_TRUE(mer::face::is_video_file("a/B.MP4"));
  EXPECT_TRUE(mer::face::is_video_file("clip.avi"));
  EXPECT_FALSE(mer::face::is_video_file("reg_img46.jpg"));
  fs::remove(path);
  fs::remove(corrupt);
}
