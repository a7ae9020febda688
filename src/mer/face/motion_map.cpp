#include "mer/face/motion_map.h"

#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "mer/core/error.h"

namespace mer::face {

namespace {

// d/dx (axis 1, along a row) or d/dy (axis 0) of a CV_32F plane, central inside, one-sided on
// the border: the same stencil as mer::data's torch version, so both give identical strain.
cv::Mat derivative(const cv::Mat& f, int axis) {
  cv::Mat d = cv::Mat::zeros(f.size(), CV_32F);
  const int rows = f.rows, cols = f.cols;
  if (axis == 1) {
    if (cols < 2) return d;
    for (int y = 0; y < rows; ++y) {
      const float* in = f.ptr<float>(y);
      float* out = d.ptr<float>(y);
      for (int x = 1; x + 1 < cols; ++x) out[x] = (in[x + 1] - in[x - 1]) * 0.5f;
      out[0] = in[1] - in[0];
      out[cols - 1] = in[cols - 1] - in[cols - 2];
    }
  } else {
    if (rows < 2) return d;
    for (int y = 0; y < rows; ++y) {
      const float* above = f.ptr<float>(y == 0 ? 0 : y - 1);
      const float* below = f.ptr<float>(y + 1 == rows ? y : y + 1);
      const float scale = (y == 0 || y + 1 == rows) ? 1.0f : 0.5f;
      float* out = d.ptr<float>(y);
      for (int x = 0; x < cols; ++x) out[x] = (below[x] - above[x]) * scale;
    }
  }
  return d;
}

}  // namespace

cv::Mat optical_strain(const cv::Mat& flow) {
  MER_CHECK(!flow.empty() && flow.type() == CV_32FC2, "optical_strain expects a CV_32FC2 flow");
  cv::Mat uv[2];
  cv::split(flow, uv);
  const cv::Mat ux = derivative(uv[0], 1), uy = derivative(uv[0], 0);
  const cv::Mat vx = derivative(uv[1], 1), vy = derivative(uv[1], 0);
  cv::Mat strain(flow.size(), CV_32F);
  for (int y = 0; y < flow.rows; ++y) {
    const float *a = ux.ptr<float>(y), *b = vy.ptr<float>(y);
    const float *c = uy.ptr<float>(y), *e = vx.ptr<float>(y);
    float* out = strain.ptr<float>(y);
    for (int x = 0; x < flow.cols; ++x) {
      const float shear = c[x] + e[x];
      out[x] = std::sqrt(a[x] * a[x] + b[x] * b[x] + 0.5f * shear * shear);
    }
  }
  return strain;
}

cv::Mat normalise_min_max(const cv::Mat& image) {
  MER_CHECK(!image.empty() && image.depth() == CV_32F, "normalise_min_max expects CV_32F");
  std::vector<cv::Mat> channels;
  cv::split(image, channels);
  for (auto& c : channels) {
    double lo = 0.0, hi = 0.0;
    cv::minMaxLoc(c, &lo, &hi);
    const double range = hi - lo;
    cv::Mat bytes(c.size(), CV_8U);
    for (int y = 0; y < c.rows; ++y) {
      const float* in = c.ptr<float>(y);
      uchar* out = bytes.ptr<uchar>(y);
      for (int x = 0; x < c.cols; ++x) {
        out[x] = range > 0.0 ? static_cast<uchar>(std::floor((in[x] - lo) * 255.0 / range + 0.5))
                             : uchar{0};
      }
    }
    c = bytes;
  }
  cv::Mat out;
  cv::merge(channels, out);
  return out;
}

void MotionMapOptions::validate() const {
  if (output_size() < 8 || output_size() > 512) {
    throw ConfigError("motion map: output_size must be in 8..512, got " +
                      std::to_string(output_size()));
  }
}

cv::Mat motion_map(const cv::Mat& flow, const MotionMapOptions& options) {
  options.validate();
  MER_CHECK(!flow.empty() && flow.type() == CV_32FC2, "motion_map expects a CV_32FC2 flow");
  cv::Mat uv[2];
  cv::split(flow, uv);
  const cv::Mat strain = optical_strain(flow);
  const bool uv_first = options.channel_order() == ChannelOrder::kUVStrain;
  const cv::Mat stacked_planes[3] = {uv_first ? uv[0] : strain, uv[1], uv_first ? strain : uv[0]};
  cv::Mat stacked;
  cv::merge(stacked_planes, 3, stacked);
  const cv::Size size(options.output_size(), options.output_size());
  cv::Mat small;
  cv::resize(stacked, small, size, 0, 0,
             size.area() < flow.size().area() ? cv::INTER_AREA : cv::INTER_LINEAR);
  return normalise_min_max(small);
}

}  // namespace mer::face
