#include "mer/face/alignment.h"

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "mer/core/error.h"

namespace mer::face {

namespace {
constexpr int kMinOutputSize = 16, kMaxOutputSize = 1024;
constexpr double kMinEyeDistancePx = 1.0;
}  // namespace

AlignmentOptions AlignmentOptions::megc2019() {
  return AlignmentOptions().output_size(224).inter_ocular(0.50).eye_row(0.31);
}

void AlignmentOptions::validate() const {
  auto fail = [](const std::string& what) { throw ConfigError("alignment: " + what); };
  if (output_size() < kMinOutputSize || output_size() > kMaxOutputSize) {
    fail("output_size must be in " + std::to_string(kMinOutputSize) + ".." +
         std::to_string(kMaxOutputSize) + ", got " + std::to_string(output_size()));
  }
  if (!(inter_ocular() >= 0.1 && inter_ocular() <= 0.8)) {
    fail("inter_ocular must be in [0.1, 0.8], got " + std::to_string(inter_ocular()));
  }
  if (!(eye_row() >= 0.1 && eye_row() <= 0.9)) {
    fail("eye_row must be in [0.1, 0.9], got " + std::to_string(eye_row()));
  }
}

cv::Mat Alignment::apply(const cv::Mat& frame) const {
  MER_CHECK(!frame.empty() && output_size > 0, "Alignment::apply needs a frame and an alignment");
  cv::Mat crop;
  cv::warpAffine(frame, crop, cv::Mat(matrix), cv::Size(output_size, output_size),
                 cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  return crop;
}

cv::Point2f Alignment::apply(const cv::Point2f& p) const {
  return {static_cast<float>(matrix(0, 0) * p.x + matrix(0, 1) * p.y + matrix(0, 2)),
          static_cast<float>(matrix(1, 0) * p.x + matrix(1, 1) * p.y + matrix(1, 2))};
}

Landmarks Alignment::apply(const Landmarks& points) const {
  Landmarks out;
  for (int i = 0; i < kNumLandmarks; ++i) out[i] = apply(points[i]);
  return out;
}

Alignment compute_alignment(const Landmarks& onset, const AlignmentOptions& options,
                            cv::Size frame) {
  options.validate();
  if (options.framing() == Framing::kWholeFrame) {
    MER_CHECK(frame.width > 0 && frame.height > 0,
              "compute_alignment with Framing::kWholeFrame needs the frame size");
    // Pixel centres to pixel centres, as cv::resize maps them.
    const double sx = static_cast<double>(options.output_size()) / frame.width;
    const double sy = static_cast<double>(options.output_size()) / frame.height;
    Alignment a;
    a.output_size = options.output_size();
    a.matrix = cv::Matx23d(sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5);
    return a;
  }
  const cv::Point2d left(left_eye_centre(onset)), right(right_eye_centre(onset));
  const cv::Point2d d = right - left;
  const double distance = std::hypot(d.x, d.y);
  if (!(distance >= kMinEyeDistancePx)) {
    throw DataError("alignment: eye centres coincide (degenerate landmarks)");
  }
  const double size = options.output_size();
  const double scale = options.inter_ocular() * size / distance;
  // Rotate by -angle(d) so that the eye line becomes horizontal: crop = s R (p - m) + c.
  const double c = scale * d.x / distance, s = scale * d.y / distance;
  const cv::Point2d mid = (left + right) * 0.5;
  // Pixel centres: the crop's centre column is (size - 1) / 2.
  const cv::Point2d target((size - 1.0) * 0.5, options.eye_row() * size);
  Alignment a;
  a.output_size = options.output_size();
  a.matrix = cv::Matx23d(c, s, target.x - (c * mid.x + s * mid.y),  //
                         -s, c, target.y - (-s * mid.x + c * mid.y));
  return a;
}

}  // namespace mer::face
