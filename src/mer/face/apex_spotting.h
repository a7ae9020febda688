#pragma once
// Apex spotting for clips whose annotation has no apex frame (SMIC): the apex is taken as the
// frame that moved furthest from neutral, by a cheap motion measure on the aligned face crops,
// optionally smoothed over time. Give the frames onset..offset: the default compares each frame
// with both ends (ApexReference::kOnsetAndLast), which assumes the last frame is back near
// neutral.
//
// Evaluation (bench/face_apex_eval; figures in docs/benchmarks.md, "Face and motion
// pipeline"): on the CASME II clips with every frame, spotted against annotated apex frames.
// Compared with the onset only, every measure mostly picks the last frame (slow drift outgrows
// the expression); compared with onset and last frame the drift cancels, and the cheapest
// measure, the frame difference, is among the best. The default (frame difference against both
// ends, face box, smoothing 3) was chosen by its error averaged over the smoothing and region
// variants rather than by the single best cell, which so few clips cannot tell apart from it.
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
