#pragma once
// Dense onset->apex optical flow by TV-L1 (Zach, Pock, Bischof 2007; the dual formulation of
// OpenCV contrib's cv::optflow::DualTVL1OpticalFlow), the flow of the MEGC2019 practice.
//
// Speed: TV-L1 is most of the preprocessing time and grows with the pixel count times scales x
// warps x iterations. The defaults (working size 112, 3 scales, 3 warps) are the smallest
// setting whose 28x28 maps agree with full-quality flow nearly as well as two full-quality
// settings agree with each other, while keeping the whole clip pipeline within mer prepare's
// throughput goal on 2 cores (why: optical_flow.cpp; figures: docs/benchmarks.md).
#include <opencv2/core.hpp>

#include "mer/core/arg.h"

namespace mer::face {

struct TvL1Options {
  // Side of the square image the flow is computed on (the crops are resized to it with area
  // averaging); 0 = the input's own size. 16..1024 or 0. The final maps are 28x28, so detail
  // finer than 1/28 of the face is averaged away anyway.
  MER_ARG(int, working_size) = 112;
  // OpenCV's TV-L1 parameters (names as in cv::optflow::DualTVL1OpticalFlow; defaults there:
  // tau 0.25, lambda 0.15, theta 0.3, scales 5, warps 5, epsilon 0.01, inner 30, outer 10,
  // scale_step 0.8, median 5).
  MER_ARG(double, tau) = 0.25;     // time step of the numerical scheme, (0, 0.25]
  MER_ARG(double, lambda) = 0.15;  // data term weight (smaller = smoother flow), > 0
  MER_ARG(double, theta) = 0.3;    // tightness of the splitting, > 0
  MER_ARG(int, scales) = 3;        // pyramid levels, 1..10
  MER_ARG(int, warps) = 3;         // warpings per level, 1..20
  MER_ARG(double, epsilon) = 0.01; // stopping threshold, > 0
  MER_ARG(int, inner_iterations) = 30;  // 1..200
  MER_ARG(int, outer_iterations) = 10;  // 1..100
  MER_ARG(double, scale_step) = 0.8;    // pyramid ratio, (0, 1)
  MER_ARG(int, median_filtering) = 5;   // median filter size on the flow, 1 (none), 3 or 5

 public:
  // OpenCV's defaults on the input's own resolution (several times slower than the
  // defaults): for comparisons and for anyone who prefers quality to speed.
  static TvL1Options full_quality();
  // Throws mer::ConfigError naming the option when a value is out of range.
  void validate() const;
};

// Flow from `from` to `to` (8-bit grey images of the same size): CV_32FC2 of
// working_size x working_size (or the input's size when 0), channel 0 = u (x, to the right),
// channel 1 = v (y, down), in pixels of that working image, such that to(p + flow(p)) ~=
// from(p). Validates options. Thread-safe (each call builds its own solver); note that
// OpenCV may itself run parts of it in parallel (cv::setNumThreads).
cv::Mat tvl1_flow(const cv::Mat& from, const cv::Mat& to, const TvL1Options& options = {});

}  // namespace mer::face
