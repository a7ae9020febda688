#pragma once
// 68-point facial landmarks (the iBUG 300-W layout of dlib's shape predictor) and the model
// that fits them inside a detected face box.
//
// Point groups (0-based, image coordinates, x to the right, y down): jaw 0-16, brows 17-26,
// nose 27-35, eye on the image's left (the subject's right eye) 36-41, eye on the image's
// right 42-47, mouth 48-67.
#include <opencv2/core.hpp>

#include <array>
#include <memory>
#include <string>

namespace mer::face {

inline constexpr int kNumLandmarks = 68;
using Landmarks = std::array<cv::Point2f, kNumLandmarks>;

// Debian's libdlib-data copy of dlib's 68-point model.
inline constexpr const char* kDefaultLandmarkModel =
    "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";

// Centre (mean of the six contour points) of the eye on the image's left (36-41) and right
// (42-47).
cv::Point2f left_eye_centre(const Landmarks& points);
cv::Point2f right_eye_centre(const Landmarks& points);
// Smallest axis-aligned box holding every point.
cv::Rect2f bounding_box(const Landmarks& points);
// 68 x 2 CV_32F matrix, row i = (x, y) of point i: the form a prepared sample stores.
cv::Mat to_mat(const Landmarks& points);

// Whether LandmarkModel::load reads and writes mer's raw copy of the model
// (shape_predictor_cache.h) or reads dlib's file only.
enum class LandmarkModelCache { kUse, kBypass };

// A loaded dlib shape predictor. Immutable after loading; fit() is const and, as dlib documents
// for shape_predictor, safe to call from several threads at once: load the model once per
// process (100 MB for the default) and share the pointer.
class LandmarkModel {
 public:
  // Loads a 68-point dlib shape predictor. Throws mer::DataError naming the path when the file
  // is missing (with the Debian package that provides the default), cannot be deserialised,
  // or predicts a number of points other than 68. With kUse, a raw copy in mer's cache folder
  // is mapped instead of reading the file when it is up to date (the same model and the same
  // points, open in milliseconds), and written after reading the file otherwise.
  static std::shared_ptr<const LandmarkModel> load(
      const std::string& path = kDefaultLandmarkModel,
      LandmarkModelCache cache = LandmarkModelCache::kUse);

  // Landmarks of the face inside `face` (a box from FaceDetector, in `grey`'s pixel
  // coordinates) of the 8-bit grey image `grey`. Points may fall slightly outside the image
  // for faces at its border.
  Landmarks fit(const cv::Mat& grey, const cv::Rect& face) const;

  const std::string& path() const { return path_; }

  ~LandmarkModel();
  LandmarkModel(const LandmarkModel&) = delete;
  LandmarkModel& operator=(const LandmarkModel&) = delete;

 private:
  struct Impl;
  LandmarkModel(std::string path, std::unique_ptr<Impl> impl);
  std::string path_;
  std::unique_ptr<Impl> impl_;  // dlib stays out of this header
};

}  // namespace mer::face
