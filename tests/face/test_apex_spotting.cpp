#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "mer/core/error.h"
#include "mer/face/apex_spotting.h"
#include "face_fixtures.h"

namespace mer::face {
namespace {

// A 21-frame clip of a textured image whose central patch moves out and back, furthest
// (3 px right, 1.5 px down) at frame `apex`; the rest stays still.
std::vector<cv::Mat> rise_and_fall_clip(int apex) {
  const cv::Mat base = testing::texture(160, 4, 2.0);
  const cv::Rect patch(50, 50, 60, 60);
  std::vector<cv::Mat> frames;
  for (int t = 0; t < 21; ++t) {
    const double s = t <= apex ? static_cast<double>(t) / apex
                               : std::max(0.0, 1.0 - static_cast<double>(t - apex) / (20 - apex + 1));
    cv::Mat moved;
    cv::warpAffine(base, moved, cv::Mat(cv::Matx23d(1, 0, 3.0 * s, 0, 1, 1.5 * s)), base.size(),
                   cv::INTER_CUBIC, cv::BORDER_REFLECT);
    cv::Mat frame = base.clone();
    moved(patch).copyTo(frame(patch));
    frames.push_back(frame);
  }
  return frames;
}

}  // namespace

TEST(ApexSpotting, EveryMeasureFindsTheSyntheticApex) {
  const auto frames = rise_and_fall_clip(13);
  for (const auto measure :
       {ApexMeasure::kFrameDifference, ApexMeasure::kFarneback, ApexMeasure::kDis}) {
    const ApexSpot spot = spot_apex(frames, {}, ApexSpottingOptions().measure(measure));
    EXPECT_EQ(spot.index, 13) << "measure " << static_cast<int>(measure);
    ASSERT_EQ(spot.scores.size(), frames.size());
    EXPECT_LT(spot.scores[0], spot.scores[13]);
  }
}

TEST(ApexSpotting, GlobalMotionRemovalIgnoresARigidShift) {
  // Every frame shifted as a whole by 0.3 px more than the one before, besides a local motion
  // peaking at 6: with global motion removed the local one wins.
  auto frames = rise_and_fall_clip(6);
  for (size_t t = 1; t < frames.size(); ++t) {
    cv::warpAffine(frames[t], frames[t],
                   cv::Mat(cv::Matx23d(1, 0, 0.3 * static_cast<double>(t), 0, 1, 0)),
                   frames[t].size(), cv::INTER_CUBIC, cv::BORDER_REFLECT);
  }
  // Against the onset only: against both ends a steady shift would cancel anyway.
  const auto options = ApexSpottingOptions()
                           .measure(ApexMeasure::kFarneback)
                           .reference(ApexReference::kOnset)
                           .smoothing(1);
  for (const auto global : {GlobalMotion::kTranslation, GlobalMotion::kAffine}) {
    EXPECT_EQ(spot_apex(frames, {}, ApexSpottingOptions(options).global_motion(global)).index, 6);
  }
  EXPECT_EQ(
      spot_apex(frames, {}, ApexSpottingOptions(options).global_motion(GlobalMotion::kKeep)).index,
      20);
}

TEST(ApexSpotting, ComparingWithBothEndsCancelsSlowDrift) {
  // A brightness drift of 1.5 grey levels per frame on top of a local motion peaking at 8: the
  // difference to the onset alone grows until the last frame; against both ends the drift
  // cancels and the expression stands out.
  auto frames = rise_and_fall_clip(8);
  for (size_t t = 0; t < frames.size(); ++t) {
    frames[t].convertTo(frames[t], CV_8U, 0.7, 30.0 + 1.5 * static_cast<double>(t));
  }
  const auto onset_only = ApexSpottingOptions()
                              .measure(ApexMeasure::kFrameDifference)
                              .reference(ApexReference::kOnset);
  EXPECT_EQ(spot_apex(frames, {}, onset_only).index, 20);
  EXPECT_EQ(spot_apex(frames, {}, ApexSpottingOptions(onset_only).reference(
                                      ApexReference::kOnsetAndLast)).index,
            8);
}

TEST(ApexSpotting, RegionRestrictsTheMeasure) {
  const auto frames = rise_and_fall_clip(13);
  // Outside the moving patch nothing moves: every score ~0.
  const ApexSpot outside = spot_apex(frames, cv::Rect2f(0, 0, 40, 160),
                                     ApexSpottingOptions().measure(ApexMeasure::kFrameDifference));
  const ApexSpot inside = spot_apex(frames, cv::Rect2f(50, 50, 60, 60),
                                    ApexSpottingOptions().measure(ApexMeasure::kFrameDifference));
  EXPECT_LT(outside.scores[13] * 5, inside.scores[13]);
}

TEST(ApexSpotting, RejectsBadInputs) {
  const auto frames = rise_and_fall_clip(10);
  EXPECT_THROW(spot_apex({frames[0]}), Error);
  EXPECT_THROW(spot_apex(frames, {}, ApexSpottingOptions().smoothing(2)), ConfigError);
  EXPECT_THROW(spot_apex(frames, {}, ApexSpottingOptions().working_size(4)), ConfigError);
}

}  // namespace mer::face
