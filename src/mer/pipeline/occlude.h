#pragma once
// `mer occlude`: occluded copies of micro-expression data (face/occlusion.h says how an
// occluder is placed), in two forms.
//
// 1. Frame data (occlude_frames): a database's frame folders + annotation sheet in, the same
//    folder layout out with every frame of each annotated clip occluded by its clip's one
//    occluder (planned on the landmarks of the clip's onset frame), so that
//    `mer prepare --root OUT ...` computes flow on the occluded frames unchanged. Output:
//      <frame folders>/<frames>   as the input (same names; JPEGs re-encoded at jpeg_quality)
//      occlusion/<key>.png        the clip's coverage mask in frame pixels (255 = occluded),
//                                 key = <dataset>_<subject>_<clip> as mer prepare names it
//      occlusion/<key>_landmarks.csv  the clean onset frame's 68 landmarks (x,y rows, frame
//                                 pixels): `mer prepare` aligns the occluded clip with them
//                                 instead of detecting the (masked) face again
//      occlusions.csv             one row per occluded clip: dataset,subject,clip,kind,asset,
//                                 block_ratio,frame_width,frame_height,bbox_x,bbox_y,bbox_w,
//                                 bbox_h (coverage box, frame pixels),covered_face_fraction,
//                                 block_dx,block_dy (block: top-left - nose tip),anchors
//                                 ("x:y;x:y;..." where the asset's corners went),
//                                 landmarks_source,frames (number written)
//      skipped.csv                dataset,subject,clip,reason,file,detail for clips not
//                                 occluded: missing_frame, unreadable_image, no_face (dlib
//                                 found no face on the onset frame, even padded), bad_frame
//                                 (frames of one clip differ in size), error
//      manifest.json              format "mer-occluded-frames", version, the options
//    Only the annotated clips' folders are written (the sheet decides what a clip is).
//
// 2. Prepared (flow-only) data (occlude_prepared), e.g. the MEGC2019 composite: a prepared
//    folder in, a prepared folder out whose flow maps are occluded as face::occlude_flow_map
//    documents (the documented approximation: covered pixels = the map's median, noisy
//    boundary). The occluder is planned on the sample's face crop from its landmarks
//    (landmarks.csv of `mer landmarks`, face-crop pixels) and its coverage resized to the
//    flow map. Output: labels.csv (copied as is), flow/ (occluded), face/ (the overlay drawn
//    on the crop), landmarks.csv (copied), occlusion/<key>.png (flow-map-size coverage,
//    255 = occluded, key = <dataset>_<subject>_<sample>), occlusions.csv
//    (dataset,subject,sample,kind,asset,block_ratio,bbox_x,bbox_y,bbox_w,bbox_h,
//    covered_fraction: in flow-map pixels; face_covered_fraction: of the crop's face box),
//    manifest.json (format "mer-occluded-prepared"). Kind "mixed" draws one of mask, glasses
//    and block 30% per sample from the seed and the sample key.
//
// Both are deterministic given the options: a clip's occluder depends on the seed and the
// clip's key only (face::clip_rng), not on the order or the other clips.
#include <cstdint>
#include <string>
#include <vector>

#include "mer/core/arg.h"
#include "mer/data/adapters.h"
#include "mer/data/protocols.h"
#include "mer/face/occlusion.h"

namespace mer::pipeline {

inline constexpr int kOccludeVersion = 1;

// Kinds the CLI accepts: mask, glasses, block, and (prepared data) mixed.
const std::vector<std::string>& occlusion_kind_names();

struct OccludeOptions {
  // mask | glasses | block | mixed (mixed: one of mask, glasses, block 0.30 per clip).
  MER_ARG(std::string, kind) = "mask";
  // Block area ratio (kind block), one of face::block_ratio_levels().
  MER_ARG(double, block_ratio) = 0.3;
  MER_ARG(uint64_t, seed) = 1;
  // Folder with masks/*.png and glasses/*.png (RGBA), e.g. ../shared/data/occluders.
  MER_ARG(std::string, occluders) = "";
  // Boundary noise of flow-map occlusion (prepared data).
  MER_ARG(face::FlowOcclusionOptions, flow) = {};
  MER_ARG(std::string, landmark_model) = face::kDefaultLandmarkModel;
  MER_ARG(int, jpeg_quality) = 95;
  MER_ARG(int, jobs) = 1;  // 1..256
  MER_ARG(bool, quiet) = false;

 public:
  // ConfigError naming the option: unknown kind, a block ratio not among the 10 levels, no
  // occluders folder for a kind that needs one, jobs or jpeg_quality out of range.
  void validate() const;
};

struct OccludeFramesInput {
  MER_ARG(std::string, dataset) = "casme2";     // data::database_names()
  MER_ARG(std::string, frames_root) = "";
  MER_ARG(std::string, annotations) = "";
  MER_ARG(data::AdapterOptions, adapter) = {};
  // Only these clips (empty = every annotated clip).
  MER_ARG(std::vector<data::ClipRef>, only) = {};

 public:
  void validate() const;  // ConfigError naming the option
};

struct OccludeSkipped {
  std::string dataset, subject, clip, reason, file, detail;
};

struct OccludeReport {
  std::string out_dir;
  int64_t clips = 0;     // clips (frames) or samples (prepared) considered
  int64_t occluded = 0;  // written
  int64_t frames = 0;    // frames (or flow maps) written
  std::vector<OccludeSkipped> skipped;
  std::string kind;
};

// Frame data. Throws DataError for an unreadable sheet, a missing frames root, occluder folder
// or landmark model; ConfigError for invalid options or out_dir == frames root. Per-clip
// problems never throw: they are in the report and skipped.csv. A clip whose occluder kind
// needs assets draws one of <occluders>/masks or <occluders>/glasses.
OccludeReport occlude_frames(const OccludeFramesInput& input, const OccludeOptions& options,
                             const std::string& out_dir);

// Prepared data. `landmarks_file` = "" reads DIR/landmarks.csv. Throws DataError naming the
// file: no labels.csv, no landmarks (run `mer landmarks` first), a sample without landmarks,
// an unreadable flow or face image; ConfigError for invalid options or out_dir == dir.
OccludeReport occlude_prepared(const std::string& dir, const std::string& landmarks_file,
                               const OccludeOptions& options, const std::string& out_dir);

// One line per fact, what `mer occlude` prints at the end.
std::string format_report(const OccludeReport& report);

}  // namespace mer::pipeline
