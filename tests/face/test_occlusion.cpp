// Occlusion synthesis (face/occlusion.h): placement from the landmarks, block areas, one plan
// per clip drawn identically on every frame, determinism, flow-map occlusion.
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/face/occlusion.h"

namespace mer::face {
namespace {

namespace fs = std::filesystem;

constexpr int kSide = 224;

// The synthetic generator's template face (a plausible iBUG layout) in a kSide frame.
Landmarks template_face(int side = kSide) {
  const auto t = data::template_landmarks(side);
  Landmarks points;
  for (int i = 0; i < kNumLandmarks; ++i) {
    points[i] = cv::Point2f(t[i][0].item<float>(), t[i][1].item<float>());
  }
  return points;
}

// An RGBA asset: an opaque w x h rectangle of one colour inside a transparent margin.
OccluderAsset synthetic_asset(const std::string& name, int w, int h, cv::Scalar colour,
                              int margin = 5) {
  cv::Mat bgra(h + 2 * margin, w + 2 * margin, CV_8UC4, cv::Scalar(0, 0, 0, 0));
  bgra(cv::Rect(margin, margin, w, h)).setTo(cv::Scalar(colour[0], colour[1], colour[2], 255));
  return {name, bgra};
}

std::vector<OccluderAsset> synthetic_assets() {
  return {synthetic_asset("a.png", 80, 50, {200, 220, 240}),
          synthetic_asset("b.png", 60, 30, {30, 60, 90})};
}

bool covered(const OcclusionPlan& plan, cv::Point2f p) {
  const int x = static_cast<int>(std::lround(p.x)), y = static_cast<int>(std::lround(p.y));
  return plan.coverage.at<uint8_t>(y, x) != 0;
}

OcclusionPlan plan_of(OcclusionKind kind, uint64_t seed = 1, double ratio = 0.3,
                      const Landmarks& face = template_face()) {
  auto rng = clip_rng(seed, "casme2/sub01/EP02_01f");
  return plan_occlusion(face, {kSide, kSide},
                        OcclusionOptions().kind(kind).block_ratio(ratio).seed(seed),
                        synthetic_assets(), rng);
}

TEST(Occlusion, MaskCoversMouthAndNose) {
  const auto face = template_face();
  const auto plan = plan_of(OcclusionKind::kMask);
  for (int i = 28; i <= 35; ++i) EXPECT_TRUE(covered(plan, face[i])) << "nose point " << i;
  for (int i = 48; i <= 67; ++i) EXPECT_TRUE(covered(plan, face[i])) << "mouth point " << i;
  for (int i = 36; i <= 47; ++i) EXPECT_FALSE(covered(plan, face[i])) << "eye point " << i;
  EXPECT_FALSE(plan.asset.empty());
  EXPECT_EQ(plan.anchors.size(), 6u);
}

TEST(Occlusion, GlassesCoverTheEyes) {
  const auto face = template_face();
  const auto plan = plan_of(OcclusionKind::kGlasses);
  for (int i = 36; i <= 47; ++i) EXPECT_TRUE(covered(plan, face[i])) << "eye point " << i;
  for (int i = 48; i <= 67; ++i) EXPECT_FALSE(covered(plan, face[i])) << "mouth point " << i;
  EXPECT_FALSE(covered(plan, face[8]));
}

TEST(Occlusion, GlassesFollowTheHeadsRoll) {
  // The face rotated by 15 degrees about the frame centre: the eyes stay covered.
  Landmarks face = template_face();
  const cv::Mat r = cv::getRotationMatrix2D({kSide / 2.0f, kSide / 2.0f}, 15.0, 0.9);
  for (auto& p : face) {
    const double x = r.at<double>(0, 0) * p.x + r.at<double>(0, 1) * p.y + r.at<double>(0, 2);
    const double y = r.at<double>(1, 0) * p.x + r.at<double>(1, 1) * p.y + r.at<double>(1, 2);
    p = cv::Point2f(static_cast<float>(x), static_cast<float>(y));
  }
  const auto glasses = plan_of(OcclusionKind::kGlasses, 1, 0.3, face);
  for (int i = 36; i <= 47; ++i) EXPECT_TRUE(covered(glasses, face[i])) << "eye point " << i;
  const auto mask = plan_of(OcclusionKind::kMask, 1, 0.3, face);
  for (int i = 48; i <= 67; ++i) EXPECT_TRUE(covered(mask, face[i])) << "mouth point " << i;
}

TEST(Occlusion, BlockHasTheAskedAreaAtEveryLevel) {
  const auto levels = block_ratio_levels();
  ASSERT_EQ(levels.size(), 10u);
  for (double ratio : levels) {
    for (uint64_t seed : {1u, 2u, 3u}) {
      const auto plan = plan_of(OcclusionKind::kBlock, seed, ratio);
      const double asked = ratio * plan.face_box.area();
      const int area = plan.block.area();
      // Integer sides: the area is off by at most one row or column.
      EXPECT_LE(std::abs(area - asked), std::max(plan.block.width, plan.block.height) / 2.0 + 1)
          << "ratio " << ratio;
      EXPECT_EQ(cv::countNonZero(plan.coverage), area);
      EXPECT_EQ(plan.block & plan.face_box, plan.block) << "block leaves the face box";
      EXPECT_NEAR(plan.covered_face_fraction(), ratio, 0.02);
    }
  }
}

TEST(Occlusion, OnePlanGivesTheSameOccluderOnEveryFrame) {
  for (auto kind : {OcclusionKind::kMask, OcclusionKind::kGlasses, OcclusionKind::kBlock}) {
    const auto plan = plan_of(kind);
    cv::Mat frame1(kSide, kSide, CV_8UC3), frame2(kSide, kSide, CV_8UC3);
    cv::randu(frame1, 0, 256);
    cv::randu(frame2, 0, 256);
    const cv::Mat out1 = apply_occlusion(frame1, plan), out2 = apply_occlusion(frame2, plan);
    cv::Mat opaque;
    cv::compare(plan.alpha, 1.0 - 1e-6, opaque, cv::CMP_GE);
    ASSERT_GT(cv::countNonZero(opaque), 0);
    cv::Mat same;
    cv::compare(out1, out2, same, cv::CMP_EQ);
    cv::Mat same_all;
    cv::cvtColor(same, same_all, cv::COLOR_BGR2GRAY);
    // Under the opaque occluder both frames show exactly the occluder.
    cv::Mat differs_under;
    cv::bitwise_and(opaque, same_all < 255, differs_under);
    EXPECT_EQ(cv::countNonZero(differs_under), 0) << occlusion_kind_name(kind);
    // The occluded pixel set (pixels the composite changed where the frames differ there) is
    // the plan's alpha support on both frames.
    cv::Mat transparent;
    cv::compare(plan.alpha, 0.0, transparent, cv::CMP_LE);
    cv::Mat diff1, diff2;
    cv::absdiff(out1, frame1, diff1);
    cv::absdiff(out2, frame2, diff2);
    cv::cvtColor(diff1, diff1, cv::COLOR_BGR2GRAY);
    cv::cvtColor(diff2, diff2, cv::COLOR_BGR2GRAY);
    cv::Mat changed_outside;
    cv::bitwise_and(transparent, (diff1 > 0) | (diff2 > 0), changed_outside);
    EXPECT_EQ(cv::countNonZero(changed_outside), 0) << occlusion_kind_name(kind);
    // Grey frames too.
    cv::Mat grey(kSide, kSide, CV_8UC1, cv::Scalar(128));
    EXPECT_EQ(apply_occlusion(grey, plan).type(), CV_8UC1);
  }
}

TEST(Occlusion, SameSeedSamePlanOtherSeedOtherPlan) {
  for (auto kind : {OcclusionKind::kMask, OcclusionKind::kGlasses, OcclusionKind::kBlock}) {
    const auto a = plan_of(kind, 7), b = plan_of(kind, 7);
    EXPECT_EQ(a.asset, b.asset);
    EXPECT_EQ(cv::norm(a.alpha, b.alpha, cv::NORM_INF), 0.0);
  }
  // Blocks move with the seed; assets are drawn with it.
  std::set<std::pair<int, int>> positions;
  std::set<std::string> assets;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    const auto block = plan_of(OcclusionKind::kBlock, seed, 0.1);
    positions.insert({block.block.x, block.block.y});
    assets.insert(plan_of(OcclusionKind::kMask, seed).asset);
  }
  EXPECT_GT(positions.size(), 4u);
  EXPECT_EQ(assets.size(), 2u);
  // The clip key enters the stream: another clip, another draw.
  auto r1 = clip_rng(1, "casme2/sub01/EP02_01f"), r2 = clip_rng(1, "casme2/sub01/EP03_02");
  auto r3 = clip_rng(1, "casme2/sub01/EP02_01f");
  const uint64_t v1 = r1.next();
  EXPECT_NE(v1, r2.next());
  EXPECT_EQ(v1, r3.next());
}

TEST(Occlusion, InvalidInputsFailClearly) {
  EXPECT_THROW(OcclusionOptions().kind(OcclusionKind::kBlock).block_ratio(0.33).validate(),
               ConfigError);
  EXPECT_THROW(occlusion_kind_from_name("scarf"), ConfigError);
  EXPECT_EQ(occlusion_kind_from_name("glasses"), OcclusionKind::kGlasses);
  auto rng = clip_rng(1, "x");
  EXPECT_THROW(plan_occlusion(template_face(), {kSide, kSide}, OcclusionOptions(), {}, rng),
               ConfigError);  // a mask without assets
  Landmarks flat{};
  EXPECT_THROW(plan_occlusion(flat, {kSide, kSide}, OcclusionOptions(), synthetic_assets(), rng),
               DataError);
  const auto plan = plan_of(OcclusionKind::kMask);
  EXPECT_THROW(apply_occlusion(cv::Mat(10, 10, CV_8UC3), plan), DataError);
  EXPECT_THROW(load_occluder_assets("/nonexistent/occluders"), DataError);

  const fs::path dir = fs::temp_directory_path() / "mer_test_occluders_noalpha";
  fs::create_directories(dir);
  cv::imwrite((dir / "1.png").string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)));
  try {
    load_occluder_assets(dir.string());
    ADD_FAILURE() << "an RGB png was accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("1.png"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Occlusion, FlowMapOcclusionSetsCoveredPixelsToTheMedian) {
  cv::Mat flow(28, 28, CV_8UC3);
  cv::randu(flow, 0, 256);
  cv::Mat coverage = cv::Mat::zeros(28, 28, CV_8UC1);
  coverage(cv::Rect(5, 10, 12, 8)).setTo(255);
  const cv::Scalar median = channel_median(flow);
  auto rng = clip_rng(3, "k");
  const cv::Mat quiet = occlude_flow_map(flow, coverage, rng, FlowOcclusionOptions().boundary_noise(0));
  const cv::Mat noisy = occlude_flow_map(flow, coverage, rng, FlowOcclusionOptions().boundary_noise(10));
  const cv::Rect inner(6, 11, 10, 6);
  for (int r = 0; r < 28; ++r) {
    for (int x = 0; x < 28; ++x) {
      const auto q = quiet.at<cv::Vec3b>(r, x), n = noisy.at<cv::Vec3b>(r, x);
      const auto f = flow.at<cv::Vec3b>(r, x);
      for (int c = 0; c < 3; ++c) {
        if (!coverage.at<uint8_t>(r, x)) {
          ASSERT_EQ(q[c], f[c]);
          ASSERT_EQ(n[c], f[c]);
        } else {
          ASSERT_EQ(q[c], median[c]);
          if (inner.contains({x, r})) {
            ASSERT_EQ(n[c], median[c]);
          } else {
            ASSERT_LE(std::abs(n[c] - median[c]), 10);
          }
        }
      }
    }
  }
  EXPECT_GT(cv::norm(noisy, quiet, cv::NORM_L1), 0.0);  // the boundary got noise
  // Median of a known map.
  cv::Mat known(1, 5, CV_8UC3);
  for (int i = 0; i < 5; ++i) known.at<cv::Vec3b>(0, i) = cv::Vec3b(i, 10 * i, 255 - i);
  const auto m = channel_median(known);
  EXPECT_EQ(m[0], 2);
  EXPECT_EQ(m[1], 20);
  EXPECT_EQ(m[2], 253);
  EXPECT_THROW(occlude_flow_map(flow, cv::Mat::zeros(10, 10, CV_8UC1), rng), DataError);
}

TEST(Occlusion, CoverageResizedToTheFlowMap) {
  const auto plan = plan_of(OcclusionKind::kBlock, 1, 0.3);
  const cv::Mat small = resize_coverage(plan.coverage, {28, 28});
  ASSERT_EQ(small.size(), cv::Size(28, 28));
  const double share = static_cast<double>(cv::countNonZero(small)) / small.total();
  EXPECT_NEAR(share, plan.covered_fraction(), 0.05);
}

// The distributed occluder images: every one loads, and placed on the template face the
// masks cover the mouth and the lower nose, the glasses the eyes.
TEST(Occlusion, RealDataOccluderAssetsCoverTheirRegions) {
  const std::string root = MER_SHARED_DATA "/occluders";
  if (!fs::exists(root)) GTEST_SKIP() << "no occluder images at " << root;
  const auto face = template_face();
  const auto masks = load_occluder_assets(root + "/masks");
  const auto glasses = load_occluder_assets(root + "/glasses");
  EXPECT_GE(masks.size(), 1u);
  EXPECT_GE(glasses.size(), 1u);
  for (const auto& asset : masks) {
    auto rng = clip_rng(1, "k");
    const auto plan = plan_occlusion(face, {kSide, kSide}, OcclusionOptions(), {asset}, rng);
    for (int i : {31, 32, 33, 34, 35, 48, 51, 54, 57, 62, 66}) {
      EXPECT_TRUE(covered(plan, face[i])) << "mask " << asset.name << " point " << i;
    }
  }
  for (const auto& asset : glasses) {
    auto rng = clip_rng(1, "k");
    const auto plan = plan_occlusion(
        face, {kSide, kSide}, OcclusionOptions().kind(OcclusionKind::kGlasses), {asset}, rng);
    // Lenses cover the eye centres; frames are open, so only the centres are asked for.
    cv::Point2f left = left_eye_centre(face), right = right_eye_centre(face);
    EXPECT_GT(plan.alpha.at<float>(cvRound(left.y), cvRound(left.x)), 0.0f)
        << "glasses " << asset.name;
    EXPECT_GT(plan.alpha.at<float>(cvRound(right.y), cvRound(right.x)), 0.0f)
        << "glasses " << asset.name;
  }
}

}  // namespace
}  // namespace mer::face
