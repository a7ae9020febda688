#include "mer/face/clip_preprocessor.h"

#include <chrono>
#include <cstdio>
#include <opencv2/imgproc.hpp>

#include "mer/core/error.h"
#include "mer/face/image_io.h"

namespace mer::face {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

void ClipPreprocessorOptions::validate() const {
  if (landmark_model().empty()) throw ConfigError("clip preprocessor: landmark_model is empty");
  detector().validate();
  alignment().validate();
  flow().validate();
  map().validate();
  apex().validate();
}

ClipPreprocessor::ClipPreprocessor(const ClipPreprocessorOptions& options)
    : ClipPreprocessor(options, (options.validate(), LandmarkModel::load(options.landmark_model()))) {}

ClipPreprocessor::ClipPreprocessor(const ClipPreprocessorOptions& options,
                                   std::shared_ptr<const LandmarkModel> model)
    : options_(options), model_(std::move(model)), detector_(options.detector()) {
  options_.validate();
  MER_CHECK(model_ != nullptr, "ClipPreprocessor needs a landmark model");
}

PreparedClip ClipPreprocessor::process(const std::string& onset_path,
                                       const std::string& apex_path) {
  const auto start = Clock::now();
  const ImageMode mode = options_.colour_crops() ? ImageMode::kColour : ImageMode::kGrey;
  std::vector<cv::Mat> frames = {read_image(onset_path, mode), read_image(apex_path, mode)};
  const double read_ms = ms_since(start);
  PreparedClip clip = process_frames(frames, {onset_path, apex_path}, 1);
  clip.timing.read_ms = read_ms;
  clip.timing.total_ms += read_ms;
  return clip;
}

PreparedClip ClipPreprocessor::process_sequence(const std::vector<std::string>& frame_paths) {
  if (frame_paths.size() < 2) {
    throw DataError("clip preprocessor: a frame sequence needs at least 2 frames, got " +
                    std::to_string(frame_paths.size()) +
                    (frame_paths.empty() ? std::string() : " (" + frame_paths[0] + ")"));
  }
  const auto start = Clock::now();
  const ImageMode mode = options_.colour_crops() ? ImageMode::kColour : ImageMode::kGrey;
  std::vector<cv::Mat> frames;
  frames.reserve(frame_paths.size());
  for (const auto& path : frame_paths) frames.push_back(read_image(path, mode));
  const double read_ms = ms_since(start);
  PreparedClip clip = process_frames(frames, frame_paths, std::nullopt);
  clip.timing.read_ms = read_ms;
  clip.timing.total_ms += read_ms;
  return clip;
}

namespace {

// Below this, the apex crop is not the onset's face: the same face a fraction of a second
// later correlates far higher; a black, blank or foreign frame near 0.
constexpr double kMinApexCorrelation = 0.3;

// Only the onset is searched for a face; the apex is cut at the onset's face box. A clip's
// apex shows the same face a fraction of a second later, so its aligned crop correlates
// strongly with the onset's; a blank, black or unrelated apex frame (no face where the onset
// had one, or a broken alignment) does not, and must not become a flow map.
void check_apex_face(const cv::Mat& onset, const cv::Mat& apex, const std::string& onset_name,
                     const std::string& apex_name) {
  cv::Scalar onset_mean, onset_sd, apex_mean, apex_sd;
  cv::meanStdDev(onset, onset_mean, onset_sd);
  cv::meanStdDev(apex, apex_mean, apex_sd);
  const double sd_onset = onset_sd[0], sd_apex = apex_sd[0];
  if (sd_onset < 1.0) return;  // a flat onset crop: nothing to compare against
  double correlation = 0.0;
  if (sd_apex >= 1.0) {
    cv::Mat a, b;
    onset.convertTo(a, CV_64F, 1.0, -onset_mean[0]);
    apex.convertTo(b, CV_64F, 1.0, -apex_mean[0]);
    correlation = a.dot(b) / (static_cast<double>(a.total()) * sd_onset * sd_apex);
  }
  if (sd_apex < 0.1 * sd_onset || correlation < kMinApexCorrelation) {
    char detail[160];
    std::snprintf(detail, sizeof detail,
                  "its aligned crop correlates %.2f with the onset's, contrast %.1f vs %.1f",
                  correlation, sd_apex, sd_onset);
    throw DataError(apex_name + ": no face in the apex frame where the onset frame (" + onset_name +
                    ") has one (" + detail + ")");
  }
}

}  // namespace

PreparedClip ClipPreprocessor::process_frames(const std::vector<cv::Mat>& frames,
                                              const std::vector<std::string>& names,
                                              std::optional<int> apex_index,
                                              const std::optional<Landmarks>& onset_landmarks) {
  const auto start = Clock::now();
  MER_CHECK(frames.size() >= 2 && names.size() == frames.size(),
            "process_frames needs at least 2 frames and one name per frame");
  for (size_t i = 0; i < frames.size(); ++i) {
    const cv::Mat& f = frames[i];
    if (f.empty() || f.depth() != CV_8U || (f.channels() != 1 && f.channels() != 3)) {
      throw DataError(names[i] + ": not an 8-bit grey or colour image");
    }
    if (f.size() != frames[0].size()) {
      throw DataError(names[i] + ": frame size " + std::to_string(f.cols) + "x" +
                      std::to_string(f.rows) + " differs from the onset frame's " +
                      std::to_string(frames[0].cols) + "x" + std::to_string(frames[0].rows) +
                      " (" + names[0] + ")");
    }
  }
  if (apex_index && (*apex_index < 0 || *apex_index >= static_cast<int>(frames.size()))) {
    throw ConfigError("clip preprocessor: apex index " + std::to_string(*apex_index) +
                      " outside the " + std::to_string(frames.size()) + " frames given");
  }

  PreparedClip clip;
  auto t = Clock::now();
  const cv::Mat onset_grey = to_grey(frames[0]);
  Landmarks onset_points;
  if (onset_landmarks) {
    onset_points = *onset_landmarks;
  } else {
    const cv::Rect face = detector_.detect_largest(onset_grey, names[0]);
    clip.timing.detect_ms = ms_since(t);
    t = Clock::now();
    onset_points = model_->fit(onset_grey, face);
    clip.timing.landmarks_ms = ms_since(t);
  }

  t = Clock::now();
  clip.alignment = compute_alignment(onset_points, options_.alignment(), onset_grey.size());
  clip.landmarks = clip.alignment.apply(onset_points);
  // Grey crops of the frames the flow or the spotting needs; colour ones only for output.
  std::vector<cv::Mat> grey_crops;
  if (apex_index) {
    grey_crops = {clip.alignment.apply(onset_grey),
                  clip.alignment.apply(to_grey(frames[static_cast<size_t>(*apex_index)]))};
  } else {
    grey_crops.reserve(frames.size());
    grey_crops.push_back(clip.alignment.apply(onset_grey));
    for (size_t i = 1; i < frames.size(); ++i) {
      grey_crops.push_back(clip.alignment.apply(to_grey(frames[i])));
    }
  }
  clip.timing.align_ms = ms_since(t);

  if (apex_index) {
    clip.apex_index = *apex_index;
  } else {
    t = Clock::now();
    ApexSpot spot = spot_apex(grey_crops, bounding_box(clip.landmarks), options_.apex());
    clip.timing.spot_ms = ms_since(t);
    clip.apex_index = spot.index;
    clip.apex_spotted = true;
    clip.apex_scores = std::move(spot.scores);
    grey_crops = {grey_crops.front(), grey_crops[static_cast<size_t>(spot.index)]};
  }

  check_apex_face(grey_crops[0], grey_crops[1], names[0],
                  names[static_cast<size_t>(clip.apex_index)]);

  t = Clock::now();
  if (options_.colour_crops() && frames[0].channels() == 3) {
    clip.onset_crop = clip.alignment.apply(frames[0]);
    clip.apex_crop = clip.alignment.apply(frames[static_cast<size_t>(clip.apex_index)]);
  } else if (options_.colour_crops()) {
    cv::Mat onset_bgr, apex_bgr;
    cv::cvtColor(grey_crops[0], onset_bgr, cv::COLOR_GRAY2BGR);
    cv::cvtColor(grey_crops[1], apex_bgr, cv::COLOR_GRAY2BGR);
    clip.onset_crop = onset_bgr;
    clip.apex_crop = apex_bgr;
  } else {
    clip.onset_crop = grey_crops[0];
    clip.apex_crop = grey_crops[1];
  }
  clip.timing.align_ms += ms_since(t);

  t = Clock::now();
  clip.flow = tvl1_flow(grey_crops[0], grey_crops[1], options_.flow());
  clip.timing.flow_ms = ms_since(t);

  t = Clock::now();
  clip.flow_map = motion_map(clip.flow, options_.map());
  clip.timing.map_ms = ms_since(t);
  clip.timing.total_ms = ms_since(start);
  return clip;
}

}  // namespace mer::face
