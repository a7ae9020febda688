#include "mer/face/landmarks.h"

#include <dlib/image_processing/shape_predictor.h>
#include <dlib/opencv/cv_image.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "mer/core/error.h"
#include "mer/face/shape_predictor_cache.h"

namespace mer::face {

namespace {

cv::Point2f mean_of(const Landmarks& points, int first, int last) {
  cv::Point2f sum(0.f, 0.f);
  for (int i = first; i <= last; ++i) sum += points[i];
  return sum * (1.0f / static_cast<float>(last - first + 1));
}

}  // namespace

cv::Point2f left_eye_centre(const Landmarks& points) { return mean_of(points, 36, 41); }
cv::Point2f right_eye_centre(const Landmarks& points) { return mean_of(points, 42, 47); }

cv::Rect2f bounding_box(const Landmarks& points) {
  float x0 = points[0].x, x1 = x0, y0 = points[0].y, y1 = y0;
  for (const auto& p : points) {
    x0 = std::min(x0, p.x);
    x1 = std::max(x1, p.x);
    y0 = std::min(y0, p.y);
    y1 = std::max(y1, p.y);
  }
  return {x0, y0, x1 - x0, y1 - y0};
}

cv::Mat to_mat(const Landmarks& points) {
  cv::Mat out(kNumLandmarks, 2, CV_32F);
  for (int i = 0; i < kNumLandmarks; ++i) {
    out.at<float>(i, 0) = points[i].x;
    out.at<float>(i, 1) = points[i].y;
  }
  return out;
}

// One of the two: the mapped copy when it is up to date, else dlib's own predictor.
struct LandmarkModel::Impl {
  std::unique_ptr<MappedShapePredictor> mapped;
  dlib::shape_predictor predictor;
  unsigned long num_parts() const { return mapped ? mapped->num_parts() : predictor.num_parts(); }
};

LandmarkModel::LandmarkModel(std::string path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}

LandmarkModel::~LandmarkModel() = default;

std::shared_ptr<const LandmarkModel> LandmarkModel::load(const std::string& path,
                                                         LandmarkModelCache cache) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw DataError(path + ": landmark model not found (the default comes with Debian's "
                           "libdlib-data package; or give the path of a dlib 68-point shape "
                           "predictor)");
  }
  auto impl = std::make_unique<Impl>();
  const std::string copy =
      cache == LandmarkModelCache::kUse ? shape_predictor_cache_path(path) : std::string();
  if (!copy.empty()) impl->mapped = MappedShapePredictor::open(copy, path);
  if (!impl->mapped) {
    try {
      dlib::deserialize(path) >> impl->predictor;
    } catch (const std::exception& e) {
      throw DataError(path + ": not a readable dlib shape predictor (" + std::string(e.what()) +
                      ")");
    }
    if (!copy.empty() && impl->predictor.num_parts() == static_cast<unsigned long>(kNumLandmarks)) {
      write_shape_predictor_cache(copy, path, impl->predictor);
    }
  }
  if (impl->num_parts() != static_cast<unsigned long>(kNumLandmarks)) {
    throw DataError(path + ": shape predictor has " + std::to_string(impl->num_parts()) +
                    " points, mer needs the 68-point layout");
  }
  return std::shared_ptr<const LandmarkModel>(new LandmarkModel(path, std::move(impl)));
}

Landmarks LandmarkModel::fit(const cv::Mat& grey, const cv::Rect& face) const {
  MER_CHECK(!grey.empty() && grey.type() == CV_8UC1, "LandmarkModel::fit expects 8-bit grey");
  const dlib::cv_image<unsigned char> image(grey);
  const dlib::rectangle box(face.x, face.y, face.x + face.width - 1, face.y + face.height - 1);
  const dlib::full_object_detection shape =
      impl_->mapped ? (*impl_->mapped)(image, box) : impl_->predictor(image, box);
  Landmarks points;
  for (int i = 0; i < kNumLandmarks; ++i) {
    const auto& p = shape.part(static_cast<unsigned long>(i));
    points[i] = cv::Point2f(static_cast<float>(p.x()), static_cast<float>(p.y()));
  }
  return points;
}

}  // namespace mer::face
