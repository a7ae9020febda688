#pragma once
// Face detection with dlib's HOG frontal face detector. Each upsampling level doubles the
// image side, so it costs about four times the level below (timings: docs/benchmarks.md,
// "Face and motion pipeline").
#include <opencv2/core.hpp>

#include <memory>
#include <string>
#include <vector>

#include "mer/core/arg.h"

namespace mer::face {

struct FaceDetectorOptions {
  // Times the image is doubled in size before detection. dlib's detector finds faces of about
  // 80x80 px and larger; upsample once for frames whose faces are smaller (e.g. raw 640x480
  // video at a distance, or crops under ~100 px). 0..3.
  MER_ARG(int, upsample) = 0;
  // When nothing is found, try once more with one more upsampling level before giving up:
  // costs nothing on frames with a face and rescues small ones.
  MER_ARG(bool, retry_upsampled) = true;
  // Added to dlib's detection threshold (0 = dlib's default; negative finds more, weaker
  // faces). -1..1.
  MER_ARG(double, threshold) = 0.0;

 public:
  // Throws mer::ConfigError naming the option when a value is out of range.
  void validate() const;
};

// Finds faces in 8-bit grey images. Not thread-safe (dlib's detector keeps per-call scratch
// state): use one instance per thread. Construction is cheap (a few ms); copies are
// independent.
class FaceDetector {
 public:
  explicit FaceDetector(const FaceDetectorOptions& options = {});  // validates options
  ~FaceDetector();
  FaceDetector(const FaceDetector& other);
  FaceDetector& operator=(const FaceDetector& other);
  FaceDetector(FaceDetector&&) noexcept;
  FaceDetector& operator=(FaceDetector&&) noexcept;

  // Every face box found at options().upsample() levels (no retry), in `grey`'s pixel
  // coordinates, strongest first. A box may reach past the image border (dlib's box for a face
  // that fills the frame): it is kept as found, which is what LandmarkModel::fit expects.
  std::vector<cv::Rect> detect_all(const cv::Mat& grey);

  // The largest face (by box area), with the retry of options().retry_upsampled(). Throws
  // mer::DataError "no face found in <source>" when there is none; `source` names the image
  // (its file) for that message.
  cv::Rect detect_largest(const cv::Mat& grey, const std::string& source);

  const FaceDetectorOptions& options() const { return options_; }

 private:
  std::vector<cv::Rect> detect_at(const cv::Mat& grey, int upsample);

  struct Impl;
  FaceDetectorOptions options_;
  std::unique_ptr<Impl> impl_;  // dlib stays out of this header
};

}  // namespace mer::face
