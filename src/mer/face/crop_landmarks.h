#pragma once
// Landmarks of prepared face crops (the face image of each sample of a prepared dataset, e.g.
// the 224x224 crops of the MEGC2019 composite), for `mer landmarks`.
//
// Tight crops are hard for dlib's HOG detector: it was trained on faces with some margin, and
// a crop that cuts the brows or the chin often yields no box (on the MEGC2019 composite's
// crops it finds 359 of 442 faces as they are). So each crop goes through these stages, the
// first that finds a face winning (the largest box at least `min_face_share` of the crop's
// side; a smaller box is some other structure, since the crop is the face):
//   1. "detected"         the crop as it is, dlib's default threshold;
//   2. "detected-padded"  the crop with a quarter of its side added on every edge (border
//                         replicated), which gives the detector the margin it expects;
//   3. "detected-weak"    stages 1 and 2 with the detection threshold lowered by `weak_threshold`.
// The shape predictor then fits the 68 points inside the box, on the padded crop (the points
// of faces cut by the crop edge stay where the face would continue). A crop where no stage
// finds a face gets "fallback": the predictor fitted inside the typical box, the median (per
// edge, relative to the crop's side) of the boxes found on the other crops; the crop is the
// face, so that box is where its face is, give or take the subject's proportions.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mer/core/arg.h"
#include "mer/face/landmarks.h"

namespace mer::face {

struct CropLandmarksOptions {
  MER_ARG(std::string, landmark_model) = kDefaultLandmarkModel;
  MER_ARG(int, jobs) = 1;                  // worker threads, 1..256
  MER_ARG(double, min_face_share) = 0.4;   // smallest accepted box side / crop side, (0, 1]
  MER_ARG(double, weak_threshold) = -0.5;  // detection threshold of stage 3, [-1, 0)

 public:
  void validate() const;  // throws mer::ConfigError naming the option
};

struct CropLandmarks {
  Landmarks points;    // in the crop's pixel coordinates
  std::string source;  // detected | detected-padded | detected-weak | fallback
  int width = 0, height = 0;  // of the crop
};

// Fits landmarks on every image of `paths` (any size; read as grey), in order. Throws
// mer::DataError naming the file for a missing or undecodable image, and mer::DataError if
// the landmark model cannot be loaded. `on_done(n)` (optional) is called, under a lock,
// after each image with the number finished so far.
std::vector<CropLandmarks> fit_face_crops(const std::vector<std::string>& paths,
                                          const CropLandmarksOptions& options = {},
                                          const std::function<void(size_t)>& on_done = {});

}  // namespace mer::face
