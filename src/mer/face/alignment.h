#pragma once
// Face alignment: one similarity transform (rotation, uniform scale, translation) per clip,
// computed from the onset frame's landmarks and applied unchanged to every frame of the clip,
// so that the motion between frames survives alignment while head pose and size are
// normalised across clips.
//
// The transform puts the two eye centres (means of landmarks 36-41 and 42-47) on one
// horizontal row, `eye_row * output_size` from the top, symmetric about the vertical centre
// line, `inter_ocular * output_size` apart.
//
// Framing. Measured with mer's dlib landmarks on the MEGC2019 composite's 224x224 face crops
// (193 of the first 200): eyes 0.50 of the side apart on row 0.31, landmarks spanning the full
// width (jaw at the edges) from the brows (0.16) to the chin (1.00): a tight crop without
// margin, which AlignmentOptions::megc2019() reproduces. The defaults keep a margin instead
// (the face 0.8x that size): with inter_ocular 0.40 and eye_row 0.33 the jaw points fall about
// 0.09 of the side inside the left and right edges, the brows near 0.21 (room for the
// forehead) and the chin near 0.88, so the face is centred and a few pixels of head motion or a
// landmark error never push the jaw or chin out of the crop.
#include <opencv2/core.hpp>

#include "mer/core/arg.h"
#include "mer/face/landmarks.h"

namespace mer::face {

enum class Framing {
  kEyes,  // the similarity transform from the eyes described above
  // No alignment: the whole frame stretched to the square (a non-uniform scale), for frames
  // that already are face crops. This is how the MEGC2019 composite's CASME II maps were made:
  // against its files, mer's 28x28 maps of 60 CASME II clips correlate 0.82 / 0.89 / 0.66
  // (u / v / strain) with this framing, 0.75 / 0.75 / 0.44 with AlignmentOptions::megc2019()
  // and 0.56 / 0.58 / 0.27 with the default eye framing. Eyes are then level only as far as
  // the frames had them so.
  kWholeFrame,
};

struct AlignmentOptions {
  // Side of the square crop in pixels. 16..1024.
  MER_ARG(int, output_size) = 224;
  // Distance between the eye centres as a share of output_size. 0.1..0.8.
  MER_ARG(double, inter_ocular) = 0.40;
  // Row of the eye centres as a share of output_size from the top. 0.1..0.9.
  MER_ARG(double, eye_row) = 0.33;
  MER_ARG(Framing, framing) = Framing::kEyes;

 public:
  // The framing of the MEGC2019 composite's face crops (no margin): inter_ocular 0.50,
  // eye_row 0.31, output_size 224.
  static AlignmentOptions megc2019();
  // Throws mer::ConfigError naming the option when a value is out of range.
  void validate() const;
};

// A transform from frame pixel coordinates to crop coordinates: a similarity (Framing::kEyes)
// or an axis-aligned scale (Framing::kWholeFrame). Value type; thread-safe to share once built.
struct Alignment {
  cv::Matx23d matrix;   // crop = matrix * (x, y, 1)
  int output_size = 0;  // the crop is output_size x output_size

  // The crop of `frame` (any type cv::warpAffine accepts: CV_8UC1, CV_8UC3, CV_32F, ...),
  // bilinear, borders replicated (a constant border would add edges that a flow method could
  // read as structure).
  cv::Mat apply(const cv::Mat& frame) const;
  // Points mapped into crop coordinates.
  Landmarks apply(const Landmarks& points) const;
  cv::Point2f apply(const cv::Point2f& point) const;
};

// The alignment for a clip whose onset frame has landmarks `onset` (frame coordinates) and is
// `frame` pixels large (needed by Framing::kWholeFrame only). Validates `options`; throws
// mer::DataError when the eye centres coincide (degenerate landmarks).
Alignment compute_alignment(const Landmarks& onset, const AlignmentOptions& options = {},
                            cv::Size frame = {});

}  // namespace mer::face
