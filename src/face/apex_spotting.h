#pragma once
// Apex spotting for clips whose annotation has no apex frame (SMIC): the apex is taken as the
// frame that moved furthest from the onset (the first frame), by a cheap motion measure on the
// aligned face, optionally smoothed over time.
//
// Evaluated on the 8 CASME II clips with every frame onset..offset against the annotated apex
// (bench/face_apex_eval): see the numbers in that program's header comment; the default is the
// measure that did best there without per-clip tuning.
#include <opencv2/core.hpp>

#include <vector>

#include "face/arg.h"

namespace mer::face {

enum class ApexMeasure {
  // Mean absolute grey-level difference to the onset frame (after a light blur).
  kFrameDifference,
  // Mean flow magnitude onset -> frame by Farneback's polynomial-expansion flow.
  kFarneback,
  // Mean flow magnitude onset -> frame by DIS flow (OpenCV's dense inverse search, "medium").
  kDis,
};

struct ApexSpottingOptions {
  MER_ARG(ApexMeasure, measure) = ApexMeasure::kFarneback;
  // Frames are resized to working_size x working_size (area averaging) before measuring;
  // 16..512.
  MER_ARG(int, working_size) = 112;
  // Centred moving average of the per-frame scores over this many frames (odd, 1 = none),
  // against single-frame noise (blinks, JPEG flicker). 1..31.
  MER_ARG(int, smoothing) = 3;
  // Flow measures: subtract the median flow of the region before taking magnitudes, so that
  // a small rigid head translation left after alignment does not count as expression.
  MER_ARG(bool, remove_global_motion) = true;

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
