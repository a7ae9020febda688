#pragma once
// Reading and writing the prepared-dataset folder: labels.csv with the columns
// dataset,subject,sample,label,emotion,flow,face (further columns are kept for later use and
// ignored here) and the files it names, exactly the layout of the MEGC2019 composite set.
//
// Reading validates everything and throws DataError naming the file and the row: a missing
// labels.csv or column, a malformed row, a label that is not an integer in 0..K-1 or whose
// emotion name disagrees with another row, a duplicate sample, a missing or undecodable file,
// a flow image of the wrong size or channel count.
#include <string>

#include "mer/data/dataset.h"

namespace mer::data {

// Columns every labels.csv must have, in any order.
inline const char* const kRequiredColumns[] = {"dataset", "subject", "sample", "label",
                                               "emotion", "flow",    "face"};

// Reads a prepared dataset. Decoding the flow images needs OpenCV: in a build without
// MER_WITH_VISION this throws DataError saying so. The AU vectors (Dataset::aus) are read
// whenever labels.csv has all 21 columns au1 .. au45 (`mer prepare` output); a value other
// than 0 or 1 there is a DataError naming the row. Landmarks (Dataset::landmarks,
// data/landmarks_io.h) and face crops: see PreparedReadOptions.
struct PreparedReadOptions {
  // Landmarks file to read (it must exist); "" = DIR/landmarks.csv when that exists, else none.
  TORCH_ARG(std::string, landmarks_file) = "";
  // false: read no landmarks at all (e.g. when about to write new ones).
  TORCH_ARG(bool, landmarks) = true;
  // Also decode the face crops (the `face` column: the apex crop of `mer prepare`, the face
  // crop of the MEGC2019 composite) into Dataset::faces and, where labels.csv has an
  // `onset_face` column, the onset crops into Dataset::onsets: grey uint8, resized (area
  // interpolation) to crop_side x crop_side when stored at another size. For models that
  // look at the face images (ModelInfo::uses_crops); 253 CASME II clips take ~25 MB.
  TORCH_ARG(bool, crops) = false;
  TORCH_ARG(int64_t, crop_side) = 224;

 public:
  PreparedReadOptions() = default;
};
Dataset read_prepared(const std::string& dir, const PreparedReadOptions& options = {});

// Writes labels.csv, flow/*.png, (if dataset.faces is defined) face/*.jpg and (if
// dataset.landmarks is defined) landmarks.csv, in the faces' pixels (or the flows' without
// faces), under dir,
// creating it. Writes labels.csv last, through a temporary name, so that an interrupted
// write never leaves a folder that looks complete. Needs OpenCV (MER_WITH_VISION).
void write_prepared(const Dataset& dataset, const std::string& dir);

// True when this build can decode and encode image files.
bool has_image_io();

}  // namespace mer::data
