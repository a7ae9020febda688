#include "mer/face/face_detector.h"

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv/cv_image.h>

#include <dlib/revision.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <opencv2/imgproc.hpp>

#include "mer/core/atomic_file.h"
#include "mer/core/cache_dir.h"
#include "mer/core/error.h"

namespace mer::face {

namespace {
constexpr int kMaxUpsample = 3;
constexpr double kMaxThresholdShift = 1.0;
}  // namespace

void FaceDetectorOptions::validate() const {
  if (upsample() < 0 || upsample() > kMaxUpsample) {
    throw ConfigError("face detector: upsample must be in 0.." + std::to_string(kMaxUpsample) +
                      ", got " + std::to_string(upsample()));
  }
  if (!std::isfinite(threshold()) || std::abs(threshold()) > kMaxThresholdShift) {
    throw ConfigError("face detector: threshold must be in [-1, 1], got " +
                      std::to_string(threshold()));
  }
}

namespace {
// dlib's built-in detector is stored compressed, and decoding it takes a large share of a
// one-clip `mer predict`; the same detector in dlib's plain serialised form (a copy in mer's
// cache folder, per dlib version) loads in a small fraction of that time. A missing or
// unreadable copy is decoded again and rewritten.
dlib::frontal_face_detector load_frontal_face_detector() {
  const std::string dir = mer_cache_dir();
  const std::string copy =
      dir.empty() ? std::string()
                  : (std::filesystem::path(dir) /
                     ("frontal-face-detector-dlib-" + std::to_string(DLIB_MAJOR_VERSION) + "." +
                      std::to_string(DLIB_MINOR_VERSION) + "." +
                      std::to_string(DLIB_PATCH_VERSION) + ".dat"))
                        .string();
  if (!copy.empty() && std::filesystem::is_regular_file(copy)) {
    try {
      dlib::frontal_face_detector detector;
      std::ifstream in(copy, std::ios::binary);
      dlib::deserialize(detector, in);
      if (detector.num_detectors() > 0) return detector;
    } catch (const std::exception&) {
      // A damaged copy: decode the built-in model below and write the copy again.
    }
  }
  dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
  if (!copy.empty()) {
    try {
      std::ostringstream bytes;
      dlib::serialize(detector, bytes);
      std::filesystem::create_directories(dir);
      write_file_atomic(copy, bytes.str());
    } catch (const std::exception&) {
      // Only speed is lost: the next process decodes the built-in model again.
    }
  }
  return detector;
}

// Copying a loaded detector is cheap, so every FaceDetector copies this one (initialised
// once, thread-safely, then only read).
const dlib::frontal_face_detector& prototype_detector() {
  static const dlib::frontal_face_detector detector = load_frontal_face_detector();
  return detector;
}
}  // namespace

struct FaceDetector::Impl {
  dlib::frontal_face_detector detector = prototype_detector();
};

FaceDetector::FaceDetector(const FaceDetectorOptions& options)
    : options_((options.validate(), options)), impl_(std::make_unique<Impl>()) {}
FaceDetector::~FaceDetector() = default;
FaceDetector::FaceDetector(const FaceDetector& other)
    : options_(other.options_), impl_(std::make_unique<Impl>(*other.impl_)) {}
FaceDetector& FaceDetector::operator=(const FaceDetector& other) {
  if (this != &other) {
    options_ = other.options_;
    impl_ = std::make_unique<Impl>(*other.impl_);
  }
  return *this;
}
FaceDetector::FaceDetector(FaceDetector&&) noexcept = default;
FaceDetector& FaceDetector::operator=(FaceDetector&&) noexcept = default;

std::vector<cv::Rect> FaceDetector::detect_at(const cv::Mat& grey, int upsample) {
  MER_CHECK(!grey.empty() && grey.type() == CV_8UC1, "FaceDetector expects 8-bit grey images");
  cv::Mat scaled = grey;
  const double factor = std::ldexp(1.0, upsample);
  if (upsample > 0) cv::resize(grey, scaled, cv::Size(), factor, factor, cv::INTER_LINEAR);
  const dlib::cv_image<unsigned char> image(scaled);
  std::vector<dlib::rect_detection> detections;
  impl_->detector(image, detections, options_.threshold());
  std::sort(detections.begin(), detections.end(),
            [](const auto& a, const auto& b) { return a.detection_confidence > b.detection_confidence; });
  const cv::Rect frame(0, 0, grey.cols, grey.rows);
  std::vector<cv::Rect> boxes;
  for (const auto& d : detections) {
    const auto& r = d.rect;
    const int x0 = static_cast<int>(std::floor(r.left() / factor));
    const int y0 = static_cast<int>(std::floor(r.top() / factor));
    const int x1 = static_cast<int>(std::ceil((r.right() + 1) / factor));
    const int y1 = static_cast<int>(std::ceil((r.bottom() + 1) / factor));
    // Not clipped: the shape predictor places its mean shape by the box, and a box cut at
    // the frame edge (common on tightly cropped frames) would shrink and shift the face.
    const cv::Rect box(x0, y0, x1 - x0, y1 - y0);
    if ((box & frame).area() > 0) boxes.push_back(box);
  }
  return boxes;
}

std::vector<cv::Rect> FaceDetector::detect_all(const cv::Mat& grey) {
  return detect_at(grey, options_.upsample());
}

cv::Rect FaceDetector::detect_largest(const cv::Mat& grey, const std::string& source) {
  auto boxes = detect_at(grey, options_.upsample());
  if (boxes.empty() && options_.retry_upsampled() && options_.upsample() < kMaxUpsample) {
    boxes = detect_at(grey, options_.upsample() + 1);
  }
  if (boxes.empty()) throw DataError("no face found in " + source);
  return *std::max_element(boxes.begin(), boxes.end(),
                           [](const cv::Rect& a, const cv::Rect& b) { return a.area() < b.area(); });
}

}  // namespace mer::face
