#pragma once
// The landmarks file of a prepared dataset: 68 facial landmarks per sample, found on each
// sample's face crop (`mer landmarks`), so that landmark-based models (DeRe-GRL) know where
// the brows, eyes, nose and mouth are in each flow map.
//
// Format (CSV with a header, columns by name, in any order; further columns are ignored):
//   dataset,subject,sample   the sample, as in labels.csv
//   face_size                side in pixels of the face image the points were found on
//   x0,y0,...,x67,y67        the points in that image's pixel coordinates (pixel centres at
//                            integers, as dlib and OpenCV report them), iBUG 68-point order
//   source                   optional: how the points were found ("detected", "fallback")
// Reading scales the points to the flow map (Dataset::landmarks): x_flow = (x + 0.5) * S /
// face_size - 0.5 for a flow map of side S, which maps pixel centres onto pixel centres.
#include <array>
#include <string>
#include <vector>

#include "mer/data/dataset.h"

namespace mer::data {

// Name of the landmarks file read_prepared looks for at a dataset's root.
inline constexpr const char* kLandmarksFile = "landmarks.csv";

// One row of a landmarks file.
struct LandmarkRow {
  std::string dataset, subject, sample;
  double face_size = 0.0;
  std::array<float, 2 * kNumLandmarks> xy{};  // x0, y0, x1, y1, ... in face-image pixels
  std::string source;                         // may be empty (column not written)
};

// Reads `path` for the samples of `dataset` (which must have its flows, for the side S) and
// returns [N, 68, 2] float32 in flow-map pixel coordinates, in the dataset's sample order.
// Throws DataError naming the file (and the line, for a bad row) on: a missing file or
// column, a row with the wrong number of fields, a value that is not a finite number, a
// face_size that is not positive, a sample that is not in the dataset, a duplicate row, and
// samples of the dataset without a row (the message names the first few).
torch::Tensor read_landmarks(const std::string& path, const Dataset& dataset);

// Writes rows as a landmarks file (with the source column), through a temporary file and a
// rename. Values are written with 9 significant digits, so floats read back exactly.
void write_landmarks(const std::string& path, const std::vector<LandmarkRow>& rows);

// The rows of dataset.landmarks (which must be defined) in the coordinates of face images of
// side `face_size` (the inverse of read_landmarks' scaling), with the given source.
std::vector<LandmarkRow> landmark_rows(const Dataset& dataset, double face_size,
                                       const std::string& source);

}  // namespace mer::data
