// Facial regions from landmarks, motion per region, and one clip's analysis for `mer predict`.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "mer/core/error.h"
#include "mer/face/clip_preprocessor.h"
#include "mer/pipeline/clip_analysis.h"
#include "mer/pipeline/facial_regions.h"
#include "pipeline_fixtures.h"

namespace mer::pipeline {
namespace {

namespace fs = std::filesystem;

// Real onset landmarks (crop coordinates) of sub01/EP02_01f, computed once.
const face::Landmarks& real_landmarks() {
  static const face::Landmarks points = [] {
    face::ClipPreprocessor p;
    const auto row = testing::good_clips()[0];
    return p.process(testing::FakeCasme::real_frame(row, row.onset),
                     testing::FakeCasme::real_frame(row, row.apex))
        .landmarks;
  }();
  return points;
}

TEST(ClipFrames, ListsImagesInFrameNumberOrder) {
  const auto dir = fs::temp_directory_path() / ("mer_pipeline_frames_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* name : {"reg_img100.jpg", "reg_img9.jpg", "reg_img10.JPG", "notes.txt"}) {
    std::ofstream(dir / name) << "x";
  }
  const auto frames = list_clip_frames(dir.string());
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(fs::path(frames[0]).filename(), "reg_img9.jpg");
  EXPECT_EQ(fs::path(frames[1]).filename(), "reg_img10.JPG");
  EXPECT_EQ(fs::path(frames[2]).filename(), "reg_img100.jpg");
  fs::remove(dir / "reg_img100.jpg");
  fs::remove(dir / "reg_img10.JPG");
  EXPECT_THROW(list_clip_frames(dir.string()), DataError);  // one image is not a clip
  EXPECT_THROW(list_clip_frames((dir / "nope").string()), DataError);
  fs::remove_all(dir);
}

TEST(RealDataRegions, NineDisjointRegionsInsideTheCrop) {
  MER_REQUIRE_REAL_DATA();
  const auto regions = facial_regions(real_landmarks());
  ASSERT_EQ(regions.size(), 9u);
  std::set<std::string> names;
  for (const auto& r : regions) {
    names.insert(r.name);
    EXPECT_GE(r.polygon.size(), 3u) << r.name;
    for (const auto& q : r.polygon) {
      EXPECT_GT(q.x, -5) << r.name;
      EXPECT_LT(q.x, 229) << r.name;
      EXPECT_GT(q.y, -5) << r.name;
      EXPECT_LT(q.y, 229) << r.name;
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"right eye", "left eye", "right brow", "left brow", "mouth",
                                          "nose", "right cheek", "left cheek", "chin"}));
  // The subject's right eye is on the image's left, brows above eyes, mouth below the nose.
  auto centre = [&](const std::string& name) {
    for (const auto& r : regions) {
      if (r.name != name) continue;
      cv::Point2f c(0, 0);
      for (const auto& q : r.polygon) c += q;
      return c * (1.0f / static_cast<float>(r.polygon.size()));
    }
    return cv::Point2f(-1, -1);
  };
  EXPECT_LT(centre("right eye").x, centre("left eye").x);
  EXPECT_LT(centre("right brow").y, centre("right eye").y);
  EXPECT_LT(centre("nose").y, centre("mouth").y);
  EXPECT_LT(centre("mouth").y, centre("chin").y);
}

TEST(RealDataRegions, MotionRanksTheRegionThatMovedAndRemovesTheCommonShift) {
  MER_REQUIRE_REAL_DATA();
  const auto& points = real_landmarks();
  // A 112x112 flow over a 224 crop: everything shifted by (0.5, -0.25) working pixels, the
  // mouth by one more to the right.
  cv::Mat flow(112, 112, CV_32FC2, cv::Scalar(0.5f, -0.25f));
  std::vector<cv::Point> mouth;
  for (const auto& r : facial_regions(points)) {
    if (r.name != "mouth") continue;
    for (const auto& q : r.polygon) mouth.emplace_back(cvRound(q.x / 2), cvRound(q.y / 2));
  }
  cv::Mat mask = cv::Mat::zeros(flow.size(), CV_8U);
  cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{mouth}, cv::Scalar(1));
  flow.setTo(cv::Scalar(1.5f, -0.25f), mask);

  const auto analysis = analyse_region_motion(flow, points, 224);
  ASSERT_EQ(analysis.regions.size(), 9u);
  EXPECT_EQ(analysis.regions[0].name, "mouth");
  EXPECT_EQ(analysis.regions[0].rank, 1);
  EXPECT_NEAR(analysis.regions[0].motion, 2.0, 1e-4);  // one working pixel = two crop pixels
  EXPECT_GT(analysis.regions[0].pixels, 50);
  for (size_t i = 1; i < analysis.regions.size(); ++i) {
    EXPECT_NEAR(analysis.regions[i].motion, 0.0, 1e-4) << analysis.regions[i].name;
    EXPECT_EQ(analysis.regions[i].rank, static_cast<int>(i) + 1);
  }
  EXPECT_NEAR(analysis.global_shift.x, 1.0, 1e-5);
  EXPECT_NEAR(analysis.global_shift.y, -0.5, 1e-5);
  EXPECT_EQ(analysis.magnitude.size(), cv::Size(224, 224));
  EXPECT_THROW(analyse_region_motion(cv::Mat(), points, 224), Error);
}

TEST(RealDataRegions, AnalyseClipOnARealPairAndOnAFrameFolder) {
  MER_REQUIRE_REAL_DATA();
  face::ClipPreprocessor preprocessor;
  const auto row = testing::good_clips()[0];  // sub01/EP02_01f, AU12 (lip corner puller)
  const auto pair = analyse_clip(preprocessor,
                                 {testing::FakeCasme::real_frame(row, row.onset),
                                  testing::FakeCasme::real_frame(row, row.apex)},
                                 1);
  EXPECT_FALSE(pair.clip.apex_spotted);
  EXPECT_EQ(pair.clip.flow_map.size(), cv::Size(28, 28));
  ASSERT_EQ(pair.motion.regions.size(), 9u);
  EXPECT_GT(pair.motion.regions[0].motion, 0.0);
  std::set<std::string> top2 = {pair.motion.regions[0].name, pair.motion.regions[1].name};
  const bool lower_face = top2.count("mouth") || top2.count("right cheek") ||
                          top2.count("left cheek") || top2.count("chin");
  EXPECT_TRUE(lower_face) << "AU12 clip, top regions " << pair.motion.regions[0].name << ", "
                          << pair.motion.regions[1].name;

  // The whole clip folder (every frame onset..offset): the apex is spotted.
  const auto folder = testing::kCasme + "/frames/sub01/EP02_01f";
  const auto seq = analyse_clip(preprocessor, list_clip_frames(folder), std::nullopt);
  EXPECT_TRUE(seq.clip.apex_spotted);
  EXPECT_GT(seq.clip.apex_index, 0);
  EXPECT_EQ(seq.apex_file, seq.frames.at(static_cast<size_t>(seq.clip.apex_index)));

  // A wrong path names the file.
  try {
    analyse_clip(preprocessor, {"/nonexistent/a.jpg", "/nonexistent/b.jpg"}, 1);
    ADD_FAILURE() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/a.jpg"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mer::pipeline
