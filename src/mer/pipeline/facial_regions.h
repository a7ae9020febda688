#pragma once
// Facial regions from the 68 landmarks, and how much each one moved between onset and apex:
// what `mer predict` shows as "the regions that moved most".
//
// Regions (named by the subject's side, as FACS codes are: the subject's right is on the
// image's left; landmark numbers 0-based, iBUG 300-W):
//   right brow / left brow   a band around the brow points 17-21 / 22-26, reaching up by a
//                            third of the inter-ocular distance (brow raise, AU1/2/4)
//   right eye / left eye     the eye contour 36-41 / 42-47, widened to take in the lids
//   nose                     the nose points 27-35 (bridge and nostrils; AU9 wrinkles)
//   mouth                    the outer lip contour 48-59, slightly widened (AU10-28)
//   right cheek / left cheek between the jaw line, the nostril, the mouth corner and the
//                            lower eyelid (AU6, AU12's pull)
//   chin                     below the lower lip down to the jaw (AU17)
// Regions do not overlap: a pixel belongs to the first of eyes, brows, mouth, nose, cheeks,
// chin whose polygon holds it.
//
// Motion of a region = mean flow magnitude over its pixels, after subtracting the median
// flow of all regions together (what is left of head motion after alignment is the same
// everywhere; an expression is local), in pixels of the crop.
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "mer/face/landmarks.h"

namespace mer::pipeline {

struct FacialRegion {
  std::string name;
  std::vector<cv::Point2f> polygon;  // crop coordinates, closed implicitly
};

// The nine regions above, in priority order, for landmarks in crop coordinates.
std::vector<FacialRegion> facial_regions(const face::Landmarks& points);

struct RegionMotion {
  std::string name;
  std::vector<cv::Point2f> polygon;  // crop coordinates
  double motion = 0;                 // mean residual flow magnitude, crop pixels
  int pixels = 0;                    // pixels of the flow grid it covers (0: off the crop)
  int rank = 0;                      // 1 = moved most
};

struct MotionAnalysis {
  std::vector<RegionMotion> regions;  // sorted by motion, largest first (rank 1, 2, ...)
  cv::Point2f global_shift;           // the median flow removed, crop pixels
  cv::Mat magnitude;                  // CV_32F crop_size x crop_size residual magnitude
};

// `flow`: CV_32FC2 onset->apex flow over the crop at any resolution (e.g. TV-L1's working
// size; it is scaled to crop pixels); `points`: onset landmarks in crop coordinates;
// `crop_size`: side of the crop the points refer to. Throws mer::Error on an empty or
// non-CV_32FC2 flow or crop_size < 1. Thread-safe.
MotionAnalysis analyse_region_motion(const cv::Mat& flow, const face::Landmarks& points,
                                     int crop_size);

}  // namespace mer::pipeline
