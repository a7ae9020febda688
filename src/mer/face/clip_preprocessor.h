#pragma once
// The whole per-clip preprocessing of mer in one call: from the frame files of a clip to what a
// prepared sample needs.
//
//   onset frame --detect largest face--> box --68 landmarks--> alignment (one per clip)
//   onset, apex --same alignment--> 224x224 crops --grey, TV-L1 at working size--> flow
//   flow --strain, resize, per-channel min-max--> S x S x 3 map (u, v, strain), uint8
//
// Given a whole frame sequence instead of an apex, the apex is spotted first
// (apex_spotting.h) on the aligned crops of all frames.
//
// TV-L1 is most of a clip's time, face detection next (bench/face_throughput; figures in
// docs/benchmarks.md). Run one instance per thread with cv::setNumThreads(1): parallel clips
// scale better than OpenCV's parallel loops inside one small TV-L1.
#include <opencv2/core.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mer/face/alignment.h"
#include "mer/face/apex_spotting.h"
#include "mer/core/arg.h"
#include "mer/face/face_detector.h"
#include "mer/face/landmarks.h"
#include "mer/face/motion_map.h"
#include "mer/face/optical_flow.h"

namespace mer::face {

struct ClipPreprocessorOptions {
  // dlib 68-point shape predictor file (used by the constructor that loads it).
  MER_ARG(std::string, landmark_model) = kDefaultLandmarkModel;
  MER_ARG(FaceDetectorOptions, detector) = {};
  MER_ARG(AlignmentOptions, alignment) = {};
  MER_ARG(TvL1Options, flow) = {};
  MER_ARG(MotionMapOptions, map) = {};
  MER_ARG(ApexSpottingOptions, apex) = {};
  // Keep the aligned crops in colour (CV_8UC3, BGR) instead of grey (CV_8UC1). The flow is
  // computed on grey either way.
  MER_ARG(bool, colour_crops) = false;

 public:
  // Validates every nested options struct; throws mer::ConfigError naming the option.
  void validate() const;
};

// Milliseconds spent per stage of one clip (wall clock, this thread).
struct ClipTiming {
  double read_ms = 0;       // decoding the frame files
  double detect_ms = 0;     // face detection on the onset frame
  double landmarks_ms = 0;  // landmark fitting on the onset frame
  double align_ms = 0;      // warping every frame used to crops
  double spot_ms = 0;       // apex spotting (0 when the apex was given)
  double flow_ms = 0;       // TV-L1 onset -> apex
  double map_ms = 0;        // strain, resize, normalisation
  double total_ms = 0;
};

struct PreparedClip {
  // output_size x output_size CV_8UC3, channel 0 = u, 1 = v, 2 = strain (or the order of
  // options.map().channel_order()), each min-max normalised to 0..255 per sample (spanning
  // exactly 0..255 unless constant, then 0).
  cv::Mat flow_map;
  // The TV-L1 flow onset -> apex the map was made from: CV_32FC2 at the flow's working size,
  // in pixels of that size (optical_flow.h). Kept for the region motion of `mer predict`,
  // which would otherwise compute the same flow again.
  cv::Mat flow;
  // Aligned crops, alignment.output_size square (224 by default): CV_8UC1 grey, or CV_8UC3
  // BGR with colour_crops.
  cv::Mat onset_crop;
  cv::Mat apex_crop;
  // Onset landmarks in crop coordinates (to_mat() gives the 68 x 2 float form).
  Landmarks landmarks{};
  // The transform used for every frame (frame -> crop coordinates).
  Alignment alignment;
  // Index of the apex in the frames given: 1 for an (onset, apex) pair, the spotted index for
  // a sequence.
  int apex_index = 1;
  bool apex_spotted = false;
  std::vector<double> apex_scores;  // the spotting curve when spotted, else empty
  ClipTiming timing;
};

// Not thread-safe (it owns a face detector with scratch state): give each thread its own
// instance. Copies are cheap and share the landmark model, which is immutable and thread-safe,
// so the usual pattern is one instance built (the model loaded once) and one copy per worker.
class ClipPreprocessor {
 public:
  // Loads options.landmark_model() (about 100 MB for the default: slow, load it once). Validates options; throws
  // mer::DataError when the model cannot be loaded.
  explicit ClipPreprocessor(const ClipPreprocessorOptions& options = {});
  // Uses an already loaded model (options.landmark_model() is then ignored).
  ClipPreprocessor(const ClipPreprocessorOptions& options,
                   std::shared_ptr<const LandmarkModel> model);

  // An (onset, apex) pair of frame files.
  PreparedClip process(const std::string& onset_path, const std::string& apex_path);
  // A sequence of frame files, frames[0] = onset; the apex is spotted among frames[1..]
  // (index 0 only if no frame differs from the onset). Needs at least 2 frames.
  PreparedClip process_sequence(const std::vector<std::string>& frame_paths);
  // The same on decoded frames (8-bit grey or BGR, all the same size), e.g. after synthetic
  // occlusion; names[i] stands for frames[i] in error messages. apex_index empty = spot it.
  // onset_landmarks, when given, are the onset frame's landmarks (frame pixels) and replace
  // detection and fitting: for frames occluded by `mer occlude`, whose clean onset landmarks
  // are known while a detector may not find the masked face.
  // Throws DataError "<apex name>: no face in the apex frame where the onset frame (...) has
  // one (...)" when the apex crop is blank or unlike the onset's (correlation below 0.3).
  PreparedClip process_frames(const std::vector<cv::Mat>& frames,
                              const std::vector<std::string>& names,
                              std::optional<int> apex_index,
                              const std::optional<Landmarks>& onset_landmarks = std::nullopt);

  // Failure modes of all three: mer::DataError naming the file and the reason for a missing
  // file, an undecodable image, a frame whose size differs from the onset's, and
  // "no face found in <onset file>" (callers preparing a dataset may skip such a clip).

  const ClipPreprocessorOptions& options() const { return options_; }
  const std::shared_ptr<const LandmarkModel>& landmark_model() const { return model_; }

 private:
  ClipPreprocessorOptions options_;
  std::shared_ptr<const LandmarkModel> model_;
  FaceDetector detector_;
};

}  // namespace mer::face
