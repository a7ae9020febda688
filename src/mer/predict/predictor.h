#pragma once
// Trained models applied to new clips, one or many per call: the checkpoints and the landmark
// model are loaded once, each clip's frames (a frame folder, an onset/apex pair of files, or
// a video file) are analysed exactly as `mer prepare` prepares training clips (the
// preprocessing the checkpoints recorded), and every model reads the inputs its checkpoint
// declares (predict/clip_batch.h).
//
// Several checkpoints form an ensemble: the folds of a `mer loso` run (run_checkpoints()),
// whose class probabilities are averaged. They must agree on model, classes, input size and
// preprocessing.
//
// No-motion guard: when the largest facial-region motion between onset and apex (residual
// mean flow magnitude in pixels of the 224-pixel aligned crop, pipeline/facial_regions.h)
// lies below `no_motion_threshold`, the prediction is flagged "no facial movement found"
// (the probabilities are still given). The default was measured on the CASME II frames
// (bench/predict_clips.sh, docs/benchmarks.md): two consecutive frames of a still face
// (onset, onset+1 at 200 fps: sensor noise only) move 0.089-0.135 px, identical frames 0;
// the coded clips' apexes move 0.07-8.6 px, 1% of them below 0.131. At 0.13, 7 of the 8
// still pairs and the 4 of 254 coded clips whose apex moves no more than noise (one coded with
// apex = onset) are flagged.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mer/engine/checkpoint.h"
#include "mer/engine/inference.h"
#include "mer/face/clip_preprocessor.h"
#include "mer/pipeline/clip_analysis.h"

namespace mer::predict {

// Largest region motion (crop pixels) below which a clip counts as not moving; see above.
inline constexpr double kNoMotionThresholdPx = 0.13;

// Where one clip's frames come from: exactly one of a frame folder or a video (`path`), or
// two frame files (`files` = {onset, apex}).
struct ClipSource {
  std::string path;                // frame folder or video file (face::is_video_file)
  std::vector<std::string> files;  // or {onset file, apex file}
  // Frame numbers within `path`: for a video its 0-based frame index, for a folder the
  // number in the frame's file name (reg_img46.jpg -> 46). Both given: that pair. Onset
  // only: the apex is spotted in onset..last frame. Neither: the whole clip, apex spotted.
  // An apex without an onset is refused.
  std::optional<int64_t> onset, apex;
  std::string aus;  // the clip's FACS AUs ("1,2,12") for models that read them, else ""

  // How the clip is named in results: the path, or "onset -> apex" of a pair.
  std::string name() const;
};

struct ClipPrediction {
  pipeline::ClipAnalysis analysis;  // frame names, prepared clip, region motion
  // Mean class probabilities over the models (argmax = prediction); the explanations are the
  // first model's, and only with a single model.
  engine::Inference result;
  std::vector<std::vector<double>> member_probabilities;  // one row per model
  int64_t onset_frame = -1, apex_frame = -1;  // frame numbers as in ClipSource (-1: none)
  bool apex_spotted = false;
  double motion_px = 0;     // largest region motion, crop pixels
  bool no_motion = false;   // motion_px < the threshold: "no facial movement found"
  double seconds = 0;       // wall time of this clip (decoding to probabilities)
};

// One clip of a batch: its prediction, or why there is none (the error's one line).
struct ClipOutcome {
  std::optional<ClipPrediction> prediction;
  std::string error;
};

struct PredictorOptions {
  // Preprocessing instead of the one the checkpoints recorded (e.g. `mer predict --like`);
  // the map size is set to the checkpoints' input size either way.
  TORCH_ARG(std::optional<face::ClipPreprocessorOptions>, preprocessing) = std::nullopt;
  // JPEG quality of the crops the models read when `preprocessing` is given (0: none).
  TORCH_ARG(int, jpeg_quality) = 0;
  TORCH_ARG(double, no_motion_threshold) = kNoMotionThresholdPx;
};

// The checkpoints of a run folder: a `mer loso` run's RUN/folds/*/model.pt in fold order, or
// a `mer train` folder's RUN/model.pt. Throws ConfigError naming the folder when it holds
// neither.
std::vector<std::string> run_checkpoints(const std::string& run_dir);

// Thread safety: predict() may be called from several threads at once, each with its own
// worker (make_worker()); predict_all() runs its own threads.
class Predictor {
 public:
  // Loads the checkpoints and the landmark model. Throws CheckpointError for an unreadable
  // checkpoint, ConfigError when the checkpoints disagree (model, classes, input size,
  // inputs) or `checkpoints` is empty, DataError when the landmark model cannot be loaded.
  explicit Predictor(const std::vector<std::string>& checkpoints,
                     const PredictorOptions& options = {});

  // A preprocessor for one thread (shares the loaded landmark model).
  face::ClipPreprocessor make_worker() const { return prototype_; }

  // One clip. Throws DataError naming the file for unreadable frames or videos, frame
  // numbers out of range, no face; ConfigError for a missing oracle input (AUs).
  ClipPrediction predict(const ClipSource& clip, face::ClipPreprocessor& worker) const;

  // Many clips on `jobs` threads (each with its own worker; torch and OpenCV single-threaded
  // inside). A clip that fails is an outcome with its error, never a stop. `on_done(i)` is
  // called after clip i (from the worker threads).
  std::vector<ClipOutcome> predict_all(const std::vector<ClipSource>& clips, int jobs,
                                       const std::function<void(size_t)>& on_done = {}) const;

  const std::vector<std::string>& checkpoint_paths() const { return paths_; }
  const std::vector<engine::LoadedCheckpoint>& checkpoints() const { return checkpoints_; }
  const engine::LoadedCheckpoint& first() const { return checkpoints_.front(); }
  const face::ClipPreprocessorOptions& preprocessing() const { return prototype_.options(); }
  // "as the checkpoint's training data", "mer prepare's defaults" or "as given".
  const std::string& preprocessing_source() const { return preprocessing_source_; }
  const models::ModelInputs& inputs() const { return inputs_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  double no_motion_threshold() const { return options_.no_motion_threshold(); }

 private:
  std::vector<std::string> paths_;
  std::vector<engine::LoadedCheckpoint> checkpoints_;
  PredictorOptions options_;
  models::ModelInputs inputs_;
  std::vector<std::string> class_names_;
  int jpeg_quality_ = 0;
  std::string preprocessing_source_;
  face::ClipPreprocessor prototype_;
  // Forward passes one at a time: eval() writes the module's flag, and the models are tiny
  // next to a clip's TV-L1.
  mutable std::mutex model_mutex_;
};

}  // namespace mer::predict
