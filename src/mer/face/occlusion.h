#pragma once
// Synthetic occlusion of faces, after the RRRN authors' occluded micro-expression databases
// (../shared/docs/methods.md, "occlusion synthesis"): a face mask, glasses, or a black block,
// placed once per clip from the landmarks of its onset frame and drawn identically on every
// frame of the clip (the occluder is planned once; apply_occlusion only composites).
//
// Placement rules (frame pixel coordinates, iBUG 68-point layout of face/landmarks.h):
//   mask     the asset's opaque part (alpha bounding box) is split at its vertical midline
//            and each half is warped affinely onto the face: top edge through the point a
//            quarter down the nose bridge (27 -> 30), bottom edge through the chin (8), so the
//            height is nose -> chin along that midline; each half's width is
//            mask_width_factor (1.2) x the distance from a jaw point (2 on the image's left,
//            14 on its right) to the nose-chin line. The mask follows the head's roll.
//   glasses  the asset's opaque part is warped onto a box centred on the top of the nose
//            bridge (27), oriented along the outer jaw points 0 -> 16 (at eye level), as wide
//            as those two points are apart, its top at the mid-eyebrow (mean of 19 and 24)
//            and as far below 27 as above it (height 2 x mid-brow -> 27, which reaches the
//            middle of the nose bridge and covers both eyes).
//   block    a black axis-aligned rectangle of area block_ratio x the face box (the
//            landmarks' bounding box, clipped to the frame), with the face box's aspect
//            ratio; its position inside the face box is drawn uniformly once per clip and
//            recorded relative to the nose tip (30). Area = round(ratio x box area) within
//            one row or column of pixels (integer sides).
//
// Flow-only data (no frames): occlude_flow_map approximates what the flow of an occluded clip
// looks like. The occluder moves rigidly with the head, and the maps are registered on the
// face, so its flow is about zero: the covered pixels get the map's "no motion" value, which
// is not 0 because maps are min-max normalised per sample; the per-channel spatial median of
// the sample's own map stands in for it (most of a face does not move in a micro-expression).
// Pixels on the occluder's boundary (covered, with an uncovered 4-neighbour) get that value
// plus uniform noise (edge artefacts of TV-L1 at a sharp occluder edge). This is an
// approximation: real flow of an occluded clip also changes the normalisation and the flow
// just outside the occluder.
//
// Thread safety: every function is thread-safe; plans are plain values.
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "mer/core/arg.h"
#include "mer/core/rng.h"
#include "mer/face/landmarks.h"

namespace mer::face {

enum class OcclusionKind { kMask, kGlasses, kBlock };

// "mask", "glasses", "block".
std::string occlusion_kind_name(OcclusionKind kind);
// Inverse of occlusion_kind_name; ConfigError listing the names for another string.
OcclusionKind occlusion_kind_from_name(const std::string& name);

// The ten block area ratios of the authors' databases: 0.05, 0.10, ..., 0.50.
std::vector<double> block_ratio_levels();

struct OcclusionOptions {
  MER_ARG(OcclusionKind, kind) = OcclusionKind::kMask;
  // Block area / face box area: one of block_ratio_levels() (block only).
  MER_ARG(double, block_ratio) = 0.3;
  // With the clip key, decides the asset drawn and the block position (clip_rng).
  MER_ARG(uint64_t, seed) = 1;
  // Mask half-width / (jaw point -> nose-chin line distance), (0, 4].
  MER_ARG(double, mask_width_factor) = 1.2;
  // Pixels of the coverage mask: alpha >= coverage_alpha, in (0, 1].
  MER_ARG(double, coverage_alpha) = 0.5;

 public:
  // Throws ConfigError naming the option (a block ratio that is not one of the 10 levels).
  void validate() const;
};

// One occluder image: RGBA (CV_8UC4, OpenCV's BGRA order) as stored in
// ../shared/data/occluders/{masks,glasses}/*.png.
struct OccluderAsset {
  std::string name;  // file name, e.g. "3.png"
  cv::Mat bgra;      // CV_8UC4
};

// Every *.png of `dir`, sorted by name, as 4-channel images. Throws DataError naming the
// folder when it is missing or holds no png, and naming the file for one that cannot be
// decoded, has no alpha channel, or is fully transparent.
std::vector<OccluderAsset> load_occluder_assets(const std::string& dir);

// The random stream of one clip: a hash of `clip_key` mixed with the seed, so that a clip's
// occluder does not depend on which other clips are processed, nor in which order.
SplitMix64 clip_rng(uint64_t seed, const std::string& clip_key);

// One clip's occluder, in the pixel coordinates of its frames.
struct OcclusionPlan {
  OcclusionKind kind = OcclusionKind::kMask;
  std::string asset;          // file name of the asset used ("" for a block)
  double block_ratio = 0.0;   // block only
  cv::Size frame_size;
  cv::Rect face_box;          // landmarks' bounding box clipped to the frame
  cv::Rect block;             // block only: the rectangle, inside face_box
  cv::Point2f block_offset;   // block only: block.tl() - nose tip (30)
  // Where the asset's corners went: mask: top-left, top-middle, top-right, bottom-right,
  // bottom-middle, bottom-left; glasses: top-left, top-right, bottom-right, bottom-left;
  // block: its four corners.
  std::vector<cv::Point2f> anchors;
  cv::Mat colour;    // CV_8UC3, frame size: the occluder's colour (black for a block)
  cv::Mat alpha;     // CV_32FC1, frame size, 0..1
  cv::Mat coverage;  // CV_8UC1, frame size, 255 where alpha >= coverage_alpha, else 0

  // Bounding box of the coverage (empty when nothing is covered).
  cv::Rect bbox() const;
  // Covered pixels / frame pixels, and / face box pixels.
  double covered_fraction() const;
  double covered_face_fraction() const;
};

// Plans the occluder of a clip from the landmarks of its onset frame, in frames of
// `frame_size`. `assets` (load_occluder_assets) is needed for mask and glasses (one is drawn
// with `rng`); a block draws its position with `rng`. Throws DataError when the landmarks are
// degenerate (face box or nose-chin line of under 2 pixels), ConfigError for invalid options
// or no assets for mask/glasses.
OcclusionPlan plan_occlusion(const Landmarks& onset, cv::Size frame_size,
                             const OcclusionOptions& options,
                             const std::vector<OccluderAsset>& assets, SplitMix64& rng);

// The plan composited on `frame` (CV_8UC1 or CV_8UC3 of plan.frame_size): out = frame x
// (1 - alpha) + colour x alpha (colour converted to grey for a grey frame). The same plan
// gives the same occluded pixels on every frame. Throws DataError for a frame of another
// size or type.
cv::Mat apply_occlusion(const cv::Mat& frame, const OcclusionPlan& plan);

// The coverage of `plan` resized to `size` (area average, covered where at least half of a
// pixel is): the mask of a plan made on a face crop, in its flow map's pixels.
cv::Mat resize_coverage(const cv::Mat& coverage, cv::Size size);

struct FlowOcclusionOptions {
  // Half-width of the uniform noise on boundary pixels, in 0..255 map units, [0, 128].
  MER_ARG(int, boundary_noise) = 12;

 public:
  void validate() const;  // ConfigError naming the option
};

// A motion map (CV_8UC3, per-sample min-max normalised, as prepared folders store them)
// occluded where `coverage` (CV_8UC1 of the same size, non-zero = covered) is: covered pixels
// = the per-channel median of `flow` (over all its pixels), boundary pixels that value plus
// noise drawn from `rng`, clamped to 0..255; uncovered pixels unchanged. Throws DataError for
// mismatched sizes or types.
cv::Mat occlude_flow_map(const cv::Mat& flow, const cv::Mat& coverage, SplitMix64& rng,
                         const FlowOcclusionOptions& options = {});

// Per-channel median of an 8-bit image (the lower median for an even pixel count).
cv::Scalar channel_median(const cv::Mat& image);

}  // namespace mer::face
