#include "mer/pipeline/facial_regions.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "mer/core/error.h"

namespace mer::pipeline {

namespace {

std::vector<cv::Point2f> pick(const face::Landmarks& p, std::initializer_list<int> ids) {
  std::vector<cv::Point2f> out;
  for (int i : ids) out.push_back(p[static_cast<size_t>(i)]);
  return out;
}

cv::Point2f mean_of(const std::vector<cv::Point2f>& pts) {
  cv::Point2f c(0, 0);
  for (const auto& q : pts) c += q;
  return c * (1.0f / static_cast<float>(pts.size()));
}

// Points pushed away from their centroid by `factor` (1 = unchanged).
std::vector<cv::Point2f> widen(std::vector<cv::Point2f> pts, float factor) {
  const cv::Point2f c = mean_of(pts);
  for (auto& q : pts) q = c + (q - c) * factor;
  return pts;
}

std::vector<cv::Point2f> hull(const std::vector<cv::Point2f>& pts) {
  std::vector<cv::Point2f> out;
  cv::convexHull(pts, out);
  return out;
}

// A band along a brow: its points raised by `up` and lowered by `down` (pixels).
std::vector<cv::Point2f> brow_band(const std::vector<cv::Point2f>& brow, float up, float down) {
  std::vector<cv::Point2f> out;
  for (const auto& q : brow) out.push_back({q.x, q.y - up});
  for (auto it = brow.rbegin(); it != brow.rend(); ++it) out.push_back({it->x, it->y + down});
  return out;
}

}  // namespace

std::vector<FacialRegion> facial_regions(const face::Landmarks& p) {
  const float iod = static_cast<float>(cv::norm(face::left_eye_centre(p) - face::right_eye_centre(p)));
  const float up = iod / 3.0f, down = iod / 12.0f;
  return {
      {"right eye", widen(pick(p, {36, 37, 38, 39, 40, 41}), 1.5f)},
      {"left eye", widen(pick(p, {42, 43, 44, 45, 46, 47}), 1.5f)},
      {"right brow", brow_band(pick(p, {17, 18, 19, 20, 21}), up, down)},
      {"left brow", brow_band(pick(p, {22, 23, 24, 25, 26}), up, down)},
      {"mouth", widen(pick(p, {48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59}), 1.15f)},
      {"nose", hull(pick(p, {27, 28, 29, 30, 31, 32, 33, 34, 35}))},
      {"right cheek", pick(p, {36, 41, 40, 39, 31, 48, 4, 3, 2, 1})},
      {"left cheek", pick(p, {45, 46, 47, 42, 35, 54, 12, 13, 14, 15})},
      {"chin", pick(p, {48, 59, 58, 57, 56, 55, 54, 11, 10, 9, 8, 7, 6, 5})},
  };
}

MotionAnalysis analyse_region_motion(const cv::Mat& flow, const face::Landmarks& points,
                                     int crop_size) {
  MER_CHECK(!flow.empty() && flow.type() == CV_32FC2, "region motion needs a CV_32FC2 flow");
  MER_CHECK(crop_size >= 1, "region motion needs a positive crop size");
  const auto regions = facial_regions(points);
  // Everything at the flow's own grid; flow vectors and point coordinates both scale by `s`.
  const float sx = static_cast<float>(flow.cols) / crop_size;
  const float sy = static_cast<float>(flow.rows) / crop_size;
  cv::Mat owner(flow.size(), CV_32S, cv::Scalar(-1));
  for (size_t r = 0; r < regions.size(); ++r) {
    std::vector<cv::Point> poly;
    for (const auto& q : regions[r].polygon) {
      poly.emplace_back(static_cast<int>(std::lround(q.x * sx)), static_cast<int>(std::lround(q.y * sy)));
    }
    cv::Mat mask = cv::Mat::zeros(flow.size(), CV_8U);
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{poly}, cv::Scalar(1));
    for (int y = 0; y < flow.rows; ++y) {
      const uchar* m = mask.ptr<uchar>(y);
      int* o = owner.ptr<int>(y);
      for (int x = 0; x < flow.cols; ++x) {
        if (m[x] && o[x] < 0) o[x] = static_cast<int>(r);
      }
    }
  }
  // Median flow over the face regions = the rigid shift left after alignment.
  std::vector<float> us, vs;
  for (int y = 0; y < flow.rows; ++y) {
    for (int x = 0; x < flow.cols; ++x) {
      if (owner.at<int>(y, x) < 0) continue;
      const auto f = flow.at<cv::Vec2f>(y, x);
      us.push_back(f[0]);
      vs.push_back(f[1]);
    }
  }
  auto median = [](std::vector<float>& v) {
    if (v.empty()) return 0.0f;
    std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const float mu = median(us), mv = median(vs);
  MotionAnalysis out;
  out.global_shift = {mu / sx, mv / sy};
  cv::Mat magnitude(flow.size(), CV_32F);
  std::vector<double> sum(regions.size(), 0.0);
  std::vector<int> count(regions.size(), 0);
  for (int y = 0; y < flow.rows; ++y) {
    for (int x = 0; x < flow.cols; ++x) {
      const auto f = flow.at<cv::Vec2f>(y, x);
      const float du = (f[0] - mu) / sx, dv = (f[1] - mv) / sy;
      const float m = std::sqrt(du * du + dv * dv);
      magnitude.at<float>(y, x) = m;
      const int r = owner.at<int>(y, x);
      if (r >= 0) {
        sum[static_cast<size_t>(r)] += m;
        ++count[static_cast<size_t>(r)];
      }
    }
  }
  cv::resize(magnitude, out.magnitude, cv::Size(crop_size, crop_size), 0, 0, cv::INTER_LINEAR);
  for (size_t r = 0; r < regions.size(); ++r) {
    RegionMotion m;
    m.name = regions[r].name;
    m.polygon = regions[r].polygon;
    m.pixels = count[r];
    m.motion = count[r] > 0 ? sum[r] / count[r] : 0.0;
    out.regions.push_back(std::move(m));
  }
  std::stable_sort(out.regions.begin(), out.regions.end(),
                   [](const RegionMotion& a, const RegionMotion& b) { return a.motion > b.motion; });
  for (size_t i = 0; i < out.regions.size(); ++i) out.regions[i].rank = static_cast<int>(i) + 1;
  return out;
}

}  // namespace mer::pipeline
