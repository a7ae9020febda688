#include "mer/face/apex_spotting.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>

#include "mer/core/error.h"

namespace mer::face {

namespace {

// Farneback settings for small (~112 px) faces: 3 levels, 15 px window; OpenCV's usual
// example values otherwise.
constexpr double kFarnebackPyrScale = 0.5;
constexpr int kFarnebackLevels = 3, kFarnebackWindow = 15, kFarnebackIterations = 3;
constexpr int kFarnebackPolyN = 5;
constexpr double kFarnebackPolySigma = 1.1;
constexpr double kDifferenceBlurSigma = 1.0;

double median_of(std::vector<float> values) {
  if (values.empty()) return 0.0;
  const auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  return *mid;
}

// Mean flow magnitude inside `roi` after removing the region's global motion.
double mean_flow_magnitude(const cv::Mat& flow, const cv::Rect& roi, GlobalMotion global) {
  const cv::Mat f = flow(roi);
  // Global field g(x, y) = (a0 + a1 x + a2 y, b0 + b1 x + b2 y); translation: a1 = a2 = b1 =
  // b2 = 0.
  cv::Matx31d a(0, 0, 0), b(0, 0, 0);
  if (global == GlobalMotion::kTranslation) {
    std::vector<float> us, vs;
    us.reserve(static_cast<size_t>(roi.area()));
    vs.reserve(static_cast<size_t>(roi.area()));
    for (int y = 0; y < f.rows; ++y) {
      const auto* p = f.ptr<cv::Vec2f>(y);
      for (int x = 0; x < f.cols; ++x) {
        us.push_back(p[x][0]);
        vs.push_back(p[x][1]);
      }
    }
    a(0) = median_of(std::move(us));
    b(0) = median_of(std::move(vs));
  } else if (global == GlobalMotion::kAffine) {
    cv::Matx33d normal = cv::Matx33d::zeros();
    cv::Matx31d rhs_u(0, 0, 0), rhs_v(0, 0, 0);
    for (int y = 0; y < f.rows; ++y) {
      const auto* p = f.ptr<cv::Vec2f>(y);
      for (int x = 0; x < f.cols; ++x) {
        const cv::Matx31d basis(1.0, x, y);
        normal += basis * basis.t();
        rhs_u += basis * static_cast<double>(p[x][0]);
        rhs_v += basis * static_cast<double>(p[x][1]);
      }
    }
    cv::solve(normal, rhs_u, a, cv::DECOMP_CHOLESKY);
    cv::solve(normal, rhs_v, b, cv::DECOMP_CHOLESKY);
  }
  double sum = 0.0;
  for (int y = 0; y < f.rows; ++y) {
    const auto* p = f.ptr<cv::Vec2f>(y);
    for (int x = 0; x < f.cols; ++x) {
      const double gu = a(0) + a(1) * x + a(2) * y, gv = b(0) + b(1) * x + b(2) * y;
      sum += std::hypot(p[x][0] - gu, p[x][1] - gv);
    }
  }
  return sum / static_cast<double>(roi.area());
}

std::vector<double> smooth(const std::vector<double>& x, int window) {
  if (window <= 1) return x;
  const int n = static_cast<int>(x.size()), half = window / 2;
  std::vector<double> out(x.size());
  for (int i = 0; i < n; ++i) {
    const int a = std::max(0, i - half), b = std::min(n - 1, i + half);
    double sum = 0.0;
    for (int k = a; k <= b; ++k) sum += x[k];
    out[i] = sum / (b - a + 1);
  }
  return out;
}

}  // namespace

void ApexSpottingOptions::validate() const {
  auto fail = [](const std::string& what) { throw ConfigError("apex spotting: " + what); };
  if (working_size() < 16 || working_size() > 512) {
    fail("working_size must be in 16..512, got " + std::to_string(working_size()));
  }
  if (smoothing() < 1 || smoothing() > 31 || smoothing() % 2 == 0) {
    fail("smoothing must be odd and in 1..31, got " + std::to_string(smoothing()));
  }
}

ApexSpot spot_apex(const std::vector<cv::Mat>& frames, const cv::Rect2f& region,
                   const ApexSpottingOptions& options) {
  options.validate();
  MER_CHECK(frames.size() >= 2, "spot_apex needs at least 2 frames");
  const cv::Size input = frames[0].size();
  for (const auto& f : frames) {
    MER_CHECK(f.type() == CV_8UC1 && f.size() == input,
              "spot_apex expects 8-bit grey frames of one size");
  }
  const int side = options.working_size();
  const cv::Size size(side, side);
  // The region in working coordinates, at least 4x4 and inside the image.
  cv::Rect roi(0, 0, side, side);
  if (region.area() > 0) {
    const double sx = static_cast<double>(side) / input.width;
    const double sy = static_cast<double>(side) / input.height;
    cv::Rect r(static_cast<int>(std::floor(region.x * sx)), static_cast<int>(std::floor(region.y * sy)),
               static_cast<int>(std::ceil(region.width * sx)),
               static_cast<int>(std::ceil(region.height * sy)));
    r &= roi;
    if (r.width >= 4 && r.height >= 4) roi = r;
  }

  auto prepare = [&](const cv::Mat& frame) {
    cv::Mat small;
    cv::resize(frame, small, size, 0, 0,
               size.area() < input.area() ? cv::INTER_AREA : cv::INTER_LINEAR);
    if (options.measure() == ApexMeasure::kFrameDifference) {
      cv::GaussianBlur(small, small, cv::Size(), kDifferenceBlurSigma);
      small.convertTo(small, CV_32F);
    }
    return small;
  };
  std::vector<cv::Mat> small;
  small.reserve(frames.size());
  for (const auto& f : frames) small.push_back(prepare(f));
  cv::Ptr<cv::DISOpticalFlow> dis;
  if (options.measure() == ApexMeasure::kDis) {
    dis = cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_MEDIUM);
  }
  // The motion measure between two prepared frames.
  auto measure = [&](const cv::Mat& from, const cv::Mat& to) -> double {
    cv::Mat flow;
    switch (options.measure()) {
      case ApexMeasure::kFrameDifference: {
        cv::Mat diff;
        cv::absdiff(from(roi), to(roi), diff);
        return cv::mean(diff)[0];
      }
      case ApexMeasure::kFarneback:
        cv::calcOpticalFlowFarneback(from, to, flow, kFarnebackPyrScale, kFarnebackLevels,
                                     kFarnebackWindow, kFarnebackIterations, kFarnebackPolyN,
                                     kFarnebackPolySigma, 0);
        return mean_flow_magnitude(flow, roi, options.global_motion());
      case ApexMeasure::kDis:
        dis->calc(from, to, flow);
        return mean_flow_magnitude(flow, roi, options.global_motion());
    }
    return 0.0;
  };

  const size_t last = frames.size() - 1;
  std::vector<double> raw(frames.size(), 0.0);
  for (size_t t = 1; t < frames.size(); ++t) raw[t] = measure(small[0], small[t]);
  if (options.reference() == ApexReference::kOnsetAndLast) {
    const double span = raw[last];
    for (size_t t = 1; t < last; ++t) raw[t] += measure(small[t], small[last]) - span;
    raw[last] = 0.0;
  }
  ApexSpot spot;
  spot.scores = smooth(raw, options.smoothing());
  spot.index = static_cast<int>(std::max_element(spot.scores.begin(), spot.scores.end()) -
                                spot.scores.begin());
  return spot;
}

}  // namespace mer::face
