#include "mer/face/crop_landmarks.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

#include "mer/core/error.h"
#include "mer/face/face_detector.h"
#include "mer/face/image_io.h"

namespace mer::face {

namespace {

constexpr int kMaxJobs = 256;
constexpr int kPadDivisor = 4;  // padding of stage 2: a quarter of the crop's side per edge

// A found box relative to the crop: edges divided by the crop's width / height.
struct RelativeBox {
  double x0 = 0, y0 = 0, x1 = 1, y1 = 1;
};

struct Work {
  cv::Mat padded;  // the crop with its border (kept only while it may need the fallback)
  int pad = 0;
  bool found = false;
  cv::Rect box;  // in padded coordinates
};

// The smallest face crop read (as the prepared-folder reader): a smaller one is a broken
// file, not a face.
constexpr int kMinCropSide = 8;

int padding_of(const cv::Mat& grey) { return std::max(grey.cols, grey.rows) / kPadDivisor; }

// Largest box of `boxes` whose side is at least min_side, shifted by `shift`.
bool pick(const std::vector<cv::Rect>& boxes, double min_side, cv::Point shift, cv::Rect& out) {
  bool found = false;
  for (const auto& b : boxes) {
    if (std::min(b.width, b.height) < min_side) continue;
    if (!found || b.area() > out.area()) {
      out = b + shift;
      found = true;
    }
  }
  return found;
}

}  // namespace

void CropLandmarksOptions::validate() const {
  if (landmark_model().empty()) throw ConfigError("crop landmarks: landmark_model is empty");
  if (jobs() < 1 || jobs() > kMaxJobs) {
    throw ConfigError("crop landmarks: jobs must be in 1.." + std::to_string(kMaxJobs) + ", got " +
                      std::to_string(jobs()));
  }
  if (!(min_face_share() > 0.0) || min_face_share() > 1.0) {
    throw ConfigError("crop landmarks: min_face_share must be in (0, 1]");
  }
  if (!(weak_threshold() >= -1.0) || weak_threshold() >= 0.0) {
    throw ConfigError("crop landmarks: weak_threshold must be in [-1, 0)");
  }
}

std::vector<CropLandmarks> fit_face_crops(const std::vector<std::string>& paths,
                                          const CropLandmarksOptions& options,
                                          const std::function<void(size_t)>& on_done) {
  options.validate();
  const auto model = LandmarkModel::load(options.landmark_model());
  std::vector<CropLandmarks> out(paths.size());
  std::vector<Work> work(paths.size());

  // Detection and fitting of the found faces, in parallel (one detector per thread: dlib's
  // detector is not thread-safe; the shape predictor is).
  std::atomic<size_t> next{0};
  std::mutex mutex;
  size_t finished = 0;
  std::exception_ptr failure;
  auto worker = [&] {
    FaceDetector strict;
    FaceDetector weak(FaceDetectorOptions().threshold(options.weak_threshold()));
    for (size_t i = next++; i < paths.size(); i = next++) {
      try {
        const cv::Mat grey = read_image(paths[i], ImageMode::kGrey);
        if (grey.cols < kMinCropSide || grey.rows < kMinCropSide) {
          throw DataError(paths[i] + ": face crop is " + std::to_string(grey.cols) + "x" +
                          std::to_string(grey.rows) + ", too small for landmarks (at least " +
                          std::to_string(kMinCropSide) + "x" + std::to_string(kMinCropSide) + ")");
        }
        Work& w = work[i];
        w.pad = padding_of(grey);
        cv::copyMakeBorder(grey, w.padded, w.pad, w.pad, w.pad, w.pad, cv::BORDER_REPLICATE);
        const double min_side = options.min_face_share() * std::min(grey.cols, grey.rows);
        const cv::Point shift(w.pad, w.pad);
        std::string source;
        if (pick(strict.detect_all(grey), min_side, shift, w.box)) {
          source = "detected";
        } else if (pick(strict.detect_all(w.padded), min_side, {0, 0}, w.box)) {
          source = "detected-padded";
        } else if (pick(weak.detect_all(grey), min_side, shift, w.box) ||
                   pick(weak.detect_all(w.padded), min_side, {0, 0}, w.box)) {
          source = "detected-weak";
        }
        out[i].width = grey.cols;
        out[i].height = grey.rows;
        if (!source.empty()) {
          w.found = true;
          out[i].source = source;
          out[i].points = model->fit(w.padded, w.box);
          for (auto& p : out[i].points) p -= cv::Point2f(w.pad, w.pad);
          w.padded.release();  // only the fallbacks need their image again
        }
        std::lock_guard<std::mutex> lock(mutex);
        ++finished;
        if (on_done) on_done(finished);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        next = paths.size();  // stop the others early
      }
    }
  };
  const int jobs = std::max(1, std::min<int>(options.jobs(), static_cast<int>(paths.size())));
  std::vector<std::thread> threads;
  for (int t = 1; t < jobs; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);

  // Fallback for the crops without a face: the typical box of the others.
  std::vector<double> x0, y0, x1, y1;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (!work[i].found) continue;
    const double w = out[i].width, h = out[i].height, pad = work[i].pad;
    x0.push_back((work[i].box.x - pad) / w);
    y0.push_back((work[i].box.y - pad) / h);
    x1.push_back((work[i].box.br().x - pad) / w);
    y1.push_back((work[i].box.br().y - pad) / h);
  }
  auto median = [](std::vector<double> v, double fallback) {
    if (v.empty()) return fallback;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  const RelativeBox typical{median(x0, 0.0), median(y0, 0.0), median(x1, 1.0), median(y1, 1.0)};
  for (size_t i = 0; i < paths.size(); ++i) {
    if (work[i].found) continue;
    const double w = out[i].width, h = out[i].height, pad = work[i].pad;
    const cv::Rect box(static_cast<int>(std::lround(typical.x0 * w + pad)),
                       static_cast<int>(std::lround(typical.y0 * h + pad)),
                       static_cast<int>(std::lround((typical.x1 - typical.x0) * w)),
                       static_cast<int>(std::lround((typical.y1 - typical.y0) * h)));
    out[i].source = "fallback";
    out[i].points = model->fit(work[i].padded, box);
    for (auto& p : out[i].points) p -= cv::Point2f(static_cast<float>(pad), static_cast<float>(pad));
  }
  return out;
}

}  // namespace mer::face
