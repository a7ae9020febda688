#pragma once
// Apex spotting for clips whose annotation has no apex frame (SMIC): the apex is taken as the
// frame that moved furthest from neutral, by a cheap motion measure on the aligned face crops,
// optionally smoothed over time. Give the frames onset..offset: the default compares each frame
// with both ends (ApexReference::kOnsetAndLast), which assumes the last frame is back near
// neutral.
//
// Evaluation (bench/face_apex_eval): the 8 CASME II clips with every frame onset..offset,
// spotted vs annotated apex frame, mean absolute error (MAE) in frames (CASME II: 200 fps;
// clips 41..66 frames). Against the onset only, every measure mostly picks the last frame (slow
// drift outgrows the expression): MAE 17..33 frames. Against onset and last frame the drift
// cancels: MAE 7.4..13, and the cheapest measure is among the best. MAE averaged over the
// smoothing (1, 3, 5) and region (face box, whole crop) variants: frame difference 8.4, DIS
// with median removal 9.0, Farneback with median removal 9.6, Farneback affine 10.0, DIS affine
// 10.6, Farneback / DIS without removal 11.3 / 11.5. The default is the frame difference against
// both ends on the face box with smoothing 3: MAE 8.75 frames, median 4 (per clip 4 4 30 14 11
// 4 2 1); the 30 is sub05/EP09_05f, whose annotated apex is its onset frame, which no variant
// came within 20 frames of (MAE 5.7 without it). It costs ~5 ms per clip where the flow measures
// cost ~250 ms. Chosen by the average over variants rather than the single best cell (DIS,
// median removal, no smoothing, face box: 7.4), which 8 clips cannot tell apart from it.
#include <opencv2/core.hpp>

#include <vector>

#include "mer/core/arg.h"

namespace mer::face {

enum class ApexMeasure {
  // Mean absolute grey-level difference to the onset frame (after a light blur).
  kFrameDifference,
  // Mean flow magnitude onset -> frame by Farneback's polynomial-expansion flow.
  kFarneback,
  // Mean flow magnitude onset -> frame by DIS flow (OpenCV's dense inverse search, "medium").
  kDis,
};

// What a flow measure removes before taking magnitudes: the face's own rigid motion left after
// alignment (head translation, rotation, zoom) is not expression.
enum class GlobalMotion {
  kKeep,         // nothing
  kTranslation,  // the median flow of the region
  kAffine,       // the least-squares affine flow field of the region (translation, rotation,
                 // zoom, shear): only the local, non-rigid motion remains
};

// What each frame is compared with.
enum class ApexReference {
  // score(t) = m(onset, t): motion against the onset only.
  kOnset,
  // score(t) = m(onset, t) + m(t, last) - m(onset, last): how far frame t strays from the
  // path between the first and the last frame (the clip's offset, back near neutral). Slow
  // drift (lighting, posture) that the onset->offset pair shares cancels; an expression, which
  // moves away and comes back, does not. Costs twice the measure.
  kOnsetAndLast,
};

struct ApexSpottingOptions {
  MER_ARG(ApexMeasure, measure) = ApexMeasure::kFrameDifference;
  // Frames are resized to working_size x working_size (area averaging) before measuring;
  // 16..512.
  MER_ARG(int, working_size) = 112;
  // Centred moving average of the per-frame scores over this many frames (odd, 1 = none),
  // against single-frame noise (blinks, JPEG flicker). 1..31.
  MER_ARG(int, smoothing) = 3;
  // Flow measures only (the frame difference is taken on the aligned crops as they are).
  MER_ARG(GlobalMotion, global_motion) = GlobalMotion::kTranslation;
  MER_ARG(ApexReference, reference) = ApexReference::kOnsetAndLast;

 public:
  // Throws mer::ConfigError naming the option when a value is out of range.
  void validate() const;
};

struct ApexSpot {
  int index = 0;               // index into the frames given; the frame with the highest score
  std::vector<double> scores;  // per frame, after smoothing; scores[0] (onset vs itself) ~ 0
};

// Spots the apex among `frames` (aligned 8-bit grey crops of one clip, all the same size,
// frames[0] = onset). `region` (in the frames' pixel coordinates, e.g. the bounding box of the
// onset landmarks in crop coordinates) restricts the measure to the face; an empty region
// means the whole frame. Needs at least 2 frames. Validates options. Thread-safe.
ApexSpot spot_apex(const std::vector<cv::Mat>& frames, const cv::Rect2f& region = {},
                   const ApexSpottingOptions& options = {});

}  // namespace mer::face
