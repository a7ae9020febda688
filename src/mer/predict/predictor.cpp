#include "mer/predict/predictor.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <opencv2/core.hpp>
#include <thread>

#include "mer/core/error.h"
#include "mer/face/video_io.h"
#include "mer/pipeline/prepare.h"
#include "mer/predict/clip_batch.h"

namespace fs = std::filesystem;

namespace mer::predict {

namespace {

std::vector<engine::LoadedCheckpoint> load_all(const std::vector<std::string>& paths) {
  if (paths.empty()) throw ConfigError("no checkpoint to predict with");
  std::vector<engine::LoadedCheckpoint> out;
  out.reserve(paths.size());
  for (const auto& p : paths) out.push_back(engine::load_checkpoint(p));
  // An ensemble averages probabilities class by class over one preprocessing: its members
  // must be the same model trained on the same kind of data.
  const auto& a = out.front().meta;
  for (size_t i = 1; i < out.size(); ++i) {
    const auto& b = out[i].meta;
    for (const char* key : {"model", "class_names", "input_size", "inputs", "preprocessing", "crop_side"}) {
      if (a.value(key, nlohmann::json()) != b.value(key, nlohmann::json())) {
        throw ConfigError(paths[i] + ": its " + key + " (" + b.value(key, nlohmann::json()).dump() +
                          ") differs from " + paths.front() + "'s (" +
                          a.value(key, nlohmann::json()).dump() + "); an ensemble needs one kind of model");
      }
    }
  }
  return out;
}

std::vector<std::string> frames_between(const std::vector<std::string>& files, const std::string& dir,
                                        int64_t onset, std::optional<int64_t> apex) {
  std::vector<std::string> out;
  std::string apex_file;
  for (const auto& f : files) {
    const auto n = pipeline::clip_frame_number(f);
    if (n == onset && out.empty()) out.push_back(f);
    if (apex && n == *apex && apex_file.empty()) apex_file = f;  // may be the onset itself
    if (!apex && !out.empty() && n > onset) out.push_back(f);
  }
  const auto first = pipeline::clip_frame_number(files.front());
  const auto last = pipeline::clip_frame_number(files.back());
  const auto missing = [&](int64_t n) {
    return DataError(dir + ": no frame numbered " + std::to_string(n) + " (its frames are numbered " +
                     std::to_string(first) + ".." + std::to_string(last) + ")");
  };
  if (out.empty()) throw missing(onset);
  if (apex) {
    if (apex_file.empty()) throw missing(*apex);
    out.push_back(apex_file);
  } else if (out.size() < 2) {
    throw DataError(dir + ": no frame after the onset " + std::to_string(onset) + " to spot the apex in");
  }
  return out;
}

}  // namespace

std::string ClipSource::name() const {
  if (!path.empty()) return path;
  if (files.size() == 2) return files[0] + " -> " + files[1];
  return "(no clip)";
}

std::vector<std::string> run_checkpoints(const std::string& run_dir) {
  const fs::path dir(run_dir);
  if (!fs::is_directory(dir)) throw ConfigError(run_dir + ": run folder not found");
  std::vector<std::string> out;
  if (fs::is_directory(dir / "folds")) {
    for (const auto& entry : fs::directory_iterator(dir / "folds")) {
      if (entry.is_directory() && fs::is_regular_file(entry.path() / "model.pt")) {
        out.push_back((entry.path() / "model.pt").string());
      }
    }
    std::sort(out.begin(), out.end());
  }
  if (out.empty() && fs::is_regular_file(dir / "model.pt")) out.push_back((dir / "model.pt").string());
  if (out.empty()) {
    throw ConfigError(run_dir + ": neither a `mer loso` run (folds/*/model.pt) nor a `mer train` "
                      "folder (model.pt)");
  }
  return out;
}

Predictor::Predictor(const std::vector<std::string>& checkpoints, const PredictorOptions& options)
    : paths_(checkpoints),
      checkpoints_(load_all(checkpoints)),
      options_(options),
      inputs_(engine::checkpoint_inputs(checkpoints_.front())),
      prototype_([&] {
        const auto& first = checkpoints_.front();
        face::ClipPreprocessorOptions pre;
        if (options.preprocessing()) {
          pre = *options.preprocessing();
          pre.map().output_size(static_cast<int>(first.meta.value("input_size", int64_t{0})));
          jpeg_quality_ = options.jpeg_quality();
          preprocessing_source_ = "as given";
        } else {
          pre = preprocessing_for(first, &jpeg_quality_);
          preprocessing_source_ = first.meta.value("preprocessing", nlohmann::json()).is_object()
                                      ? "as the checkpoint's training data"
                                      : "mer prepare's defaults";
        }
        return face::ClipPreprocessor(pre);
      }()) {
  MER_CHECK(options.no_motion_threshold() >= 0, "the no-motion threshold must be >= 0");
  class_names_ = checkpoints_.front().meta.value("class_names", std::vector<std::string>());
}

ClipPrediction Predictor::predict(const ClipSource& clip, face::ClipPreprocessor& worker) const {
  const auto start = std::chrono::steady_clock::now();
  if (clip.apex && !clip.onset) {
    throw ConfigError(clip.name() + ": an apex frame needs an onset frame too");
  }
  if (inputs_.action_units == models::ModelInputs::ActionUnits::kAlways && clip.aus.empty()) {
    throw ConfigError(clip.name() + ": the model reads the clip's FACS action units (an oracle "
                      "input); give them (--aus, or an aus column)");
  }
  const face::ImageMode mode =
      worker.options().colour_crops() ? face::ImageMode::kColour : face::ImageMode::kGrey;
  ClipPrediction out;
  std::optional<int> apex_index;
  std::vector<int64_t> numbers;  // frame number of each frame analysed
  if (!clip.files.empty()) {
    if (clip.files.size() != 2) throw ConfigError("a clip given by files needs an onset and an apex file");
    if (clip.onset || clip.apex) {
      throw ConfigError(clip.name() + ": frame numbers apply to a frame folder or a video, not to files");
    }
    out.analysis = pipeline::analyse_clip(worker, clip.files, 1);
    for (const auto& f : clip.files) numbers.push_back(pipeline::clip_frame_number(f));
  } else if (face::is_video_file(clip.path)) {
    std::vector<cv::Mat> images;
    if (clip.onset && clip.apex) {
      numbers = {*clip.onset, *clip.apex};
      images = face::read_video_frames_at(clip.path, mode, numbers);
      apex_index = 1;
    } else {
      const int64_t first = clip.onset.value_or(0);
      images = face::read_video_frames(clip.path, mode, first, -1);
      for (size_t i = 0; i < images.size(); ++i) numbers.push_back(first + static_cast<int64_t>(i));
      if (images.size() < 2) {
        throw DataError(clip.path + ": no frame after frame " + std::to_string(first) +
                        " to spot the apex in");
      }
    }
    std::vector<std::string> names;
    for (auto n : numbers) names.push_back(face::video_frame_name(clip.path, n));
    out.analysis = pipeline::analyse_frames(worker, images, names, apex_index);
  } else {
    if (!fs::exists(clip.path)) throw DataError(clip.path + ": clip folder not found");
    if (!fs::is_directory(clip.path)) {
      throw DataError(clip.path + ": neither a frame folder nor a video file (known extensions: "
                      ".avi .mp4 .mov .mkv .m4v .mpg .mpeg .wmv .webm)");
    }
    auto files = pipeline::list_clip_frames(clip.path);
    if (clip.onset) {
      files = frames_between(files, clip.path, *clip.onset, clip.apex);
      if (clip.apex) apex_index = 1;
    }
    for (const auto& f : files) numbers.push_back(pipeline::clip_frame_number(f));
    out.analysis = pipeline::analyse_clip(worker, files, apex_index);
  }
  const auto& prepared = out.analysis.clip;
  out.apex_spotted = prepared.apex_spotted;
  out.onset_frame = numbers.front();
  out.apex_frame = numbers.at(static_cast<size_t>(prepared.apex_index));
  out.motion_px = out.analysis.motion.regions.empty() ? 0.0 : out.analysis.motion.regions.front().motion;
  out.no_motion = out.motion_px < options_.no_motion_threshold();

  const auto batch = clip_batch(
      prepared, inputs_,
      ClipBatchOptions()
          .crop_side(engine::checkpoint_crop_side(checkpoints_.front()))
          .jpeg_quality(jpeg_quality_)
          .action_units(clip.aus.empty() ? std::vector<float>() : action_unit_vector(clip.aus)));
  {
    std::lock_guard<std::mutex> lock(model_mutex_);
    for (const auto& checkpoint : checkpoints_) {
      auto r = engine::infer(checkpoint, batch);
      out.member_probabilities.push_back(r.probabilities);
      if (out.member_probabilities.size() == 1) out.result = std::move(r);
    }
  }
  if (checkpoints_.size() > 1) {
    auto& probs = out.result.probabilities;
    std::fill(probs.begin(), probs.end(), 0.0);
    for (const auto& row : out.member_probabilities) {
      for (size_t k = 0; k < probs.size(); ++k) probs[k] += row[k] / static_cast<double>(checkpoints_.size());
    }
    out.result.prediction =
        static_cast<int64_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
    out.result.explain = nlohmann::json::object();
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

std::vector<ClipOutcome> Predictor::predict_all(const std::vector<ClipSource>& clips, int jobs,
                                                const std::function<void(size_t)>& on_done) const {
  MER_CHECK(jobs >= 1, "predict_all needs at least one job");
  std::vector<ClipOutcome> out(clips.size());
  // The clips are the parallelism: OpenCV's and torch's own threads would oversubscribe.
  const int cv_threads = cv::getNumThreads();
  const int torch_threads = at::get_num_threads();
  cv::setNumThreads(1);
  at::set_num_threads(1);
  std::atomic<size_t> next{0};
  auto work = [&] {
    face::ClipPreprocessor worker = make_worker();
    for (size_t i = next++; i < clips.size(); i = next++) {
      try {
        out[i].prediction = predict(clips[i], worker);
      } catch (const c10::Error& e) {
        out[i].error = "LibTorch: " + e.msg().substr(0, e.msg().find('\n'));
      } catch (const std::exception& e) {
        out[i].error = e.what();
      }
      if (on_done) on_done(i);
    }
  };
  const int n = std::max(1, std::min<int>(jobs, static_cast<int>(clips.size())));
  std::vector<std::thread> threads;
  for (int t = 1; t < n; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  cv::setNumThreads(cv_threads);
  at::set_num_threads(torch_threads);
  return out;
}

}  // namespace mer::predict
