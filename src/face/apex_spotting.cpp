#include "face/apex_spotting.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>

#include "core/error.h"

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

// Mean flow magnitude inside `roi`, optionally after removing the median flow there.
double mean_flow_magnitude(const cv::Mat& flow, const cv::Rect& roi, bool remove_global) {
  const cv::Mat f = flow(roi);
  double gu = 0.0, gv = 0.0;
  if (remove_global) {
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
    gu = median_of(std::move(us));
    gv = median_of(std::move(vs));
  }
  double sum = 0.0;
  for (int y = 0; y < f.rows; ++y) {
    const auto* p = f.ptr<cv::Vec2f>(y);
    for (int x = 0; x < f.cols; ++x) sum += std::hypot(p[x][0] - gu, p[x][1] - gv);
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
  const cv::Mat onset = prepare(frames[0]);
  cv::Ptr<cv::DISOpticalFlow> dis;
  if (options.measure() == ApexMeasure::kDis) {
    dis = cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_MEDIUM);
  }

  std::vector<double> raw(frames.size(), 0.0);
  for (size_t t = 1; t < frames.size(); ++t) {
    const cv::Mat frame = prepare(frames[t]);
    cv::Mat flow;
    switch (options.measure()) {
      case ApexMeasure::kFrameDifference: {
        cv::Mat diff;
        cv::absdiff(onset(roi), frame(roi), diff);
        raw[t] = cv::mean(diff)[0];
        break;
      }
      case ApexMeasure::kFarneback:
        cv::calcOpticalFlowFarneback(onset, frame, flow, kFarnebackPyrScale, kFarnebackLevels,
                                     kFarnebackWindow, kFarnebackIterations, kFarnebackPolyN,
                                     kFarnebackPolySigma, 0);
        raw[t] = mean_flow_magnitude(flow, roi, options.remove_global_motion());
        break;
      case ApexMeasure::kDis:
        dis->calc(onset, frame, flow);
        raw[t] = mean_flow_magnitude(flow, roi, options.remove_global_motion());
        break;
    }
  }
  ApexSpot spot;
  spot.scores = smooth(raw, options.smoothing());
  spot.index = static_cast<int>(std::max_element(spot.scores.begin(), spot.scores.end()) -
                                spot.scores.begin());
  return spot;
}

}  // namespace mer::face
