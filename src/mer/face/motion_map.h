#pragma once
// From a dense flow field to the network input of the MEGC2019 practice: the stack
// (u, v, optical strain), resized to a small square and min-max normalised to 0..255.
#include <opencv2/core.hpp>

#include "mer/core/arg.h"

namespace mer::face {

// Optical strain magnitude of a flow field (STSTNet eq. 5-7, the formula mer uses everywhere,
// identical to mer::data::optical_strain):
//   |e| = sqrt(ux^2 + vy^2 + 0.5 * (uy + vx)^2)
// with ux = du/dx etc., x along columns and y along rows, derivatives in units of the flow's
// own pixels by central differences (f[i+1] - f[i-1]) / 2 inside and one-sided differences
// f[1] - f[0], f[n-1] - f[n-2] on the border (0 along an axis of length 1). The strain of a
// pure translation is 0; of u = a x, v = b y it is sqrt(a^2 + b^2). It does not change when
// the flow and its grid are rescaled together (u in pixels, d/dx per pixel), so computing it
// at any working resolution estimates the same quantity.
// flow: CV_32FC2 (u, v); returns CV_32F of the same size. Thread-safe.
cv::Mat optical_strain(const cv::Mat& flow);

// Per-channel min-max normalisation of a floating image to 0..255 with rounding:
// out = round((x - min) * 255 / (max - min)), so every channel spans exactly 0..255, unless
// it is constant, then it is all 0 (as mer::data's synthetic maps). CV_32F with any number of
// channels in, CV_8U with the same channels out. Thread-safe.
cv::Mat normalise_min_max(const cv::Mat& image);

// Which quantity each channel of the CV_8UC3 map holds (OpenCV channel index, the order in
// which cv::imread gives a PNG back).
enum class ChannelOrder {
  kUVStrain,  // 0 = u, 1 = v, 2 = strain
  // 0 = strain, 1 = v, 2 = u: the layout cv::imread actually gives for the flow PNGs of the
  // MEGC2019 composite (written in RGB order u, v, strain). Measured on 60 of its CASME II
  // samples against mer's own maps of the same clips: its channel 0 correlates with our strain
  // (0.66; with flow magnitude 0.43), channel 1 with v (0.89), channel 2 with u (0.82), every
  // other pairing |r| < 0.11. Use it to mix mer's maps with the composite's files.
  kStrainVU,
};

struct MotionMapOptions {
  // Side of the square map. 8..512.
  MER_ARG(int, output_size) = 28;
  // mer's prepared format is the composite's layout (data/dataset.h kFlowU/kFlowV/kFlowStrain),
  // so that models trained on the composite run on maps mer prepares and the other way round.
  MER_ARG(ChannelOrder, channel_order) = ChannelOrder::kStrainVU;

 public:
  // Throws mer::ConfigError naming the option when a value is out of range.
  void validate() const;
};

// The prepared-sample motion map of a flow field (CV_32FC2, any size):
//  1. strain at the flow's own resolution (derivatives are meaningful there);
//  2. u, v and strain resized to output_size x output_size by area averaging (a low-pass
//     that keeps the mean motion of each cell; plain sampling would alias);
//  3. each channel min-max normalised separately to 0..255 per sample (normalise_min_max),
//     after the resize, so that every channel of the stored map spans exactly 0..255.
// Returns CV_8UC3 with the channels in options.channel_order() (default channel 0 = strain,
// 1 = v, 2 = u, the composite's layout); cv::imwrite stores it so that cv::imread gives the same channel order back.
// Validates options. Thread-safe.
cv::Mat motion_map(const cv::Mat& flow, const MotionMapOptions& options = {});

}  // namespace mer::face
