#include "cmd_predict.h"

#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "mer/core/atomic_file.h"
#include "mer/core/error.h"
#include "mer/core/progress.h"
#include "mer/engine/checkpoint.h"
#include "mer/pipeline/prepare.h"
#include "mer/predict/batch_list.h"
#include "mer/predict/prediction_json.h"
#include "mer/predict/predictor.h"
#include "mer/report/prediction_figure.h"

namespace fs = std::filesystem;

namespace mer::cli {

namespace {

std::string apex_how(const predict::ClipPrediction& p) {
  return p.apex_spotted ? "spotted, frame " + std::to_string(p.apex_frame) + ", " +
                              std::to_string(p.analysis.clip.apex_index + 1) + " of " +
                              std::to_string(p.analysis.frames.size()) + " frames"
                        : "given";
}

std::string models_text(const predict::Predictor& predictor, const std::string& run) {
  const auto& meta = predictor.first().meta;
  const std::string model = meta.value("model", std::string("?"));
  const auto n = predictor.checkpoint_paths().size();
  if (n > 1) {
    return model + ", ensemble of the " + std::to_string(n) + " fold models of " + run +
           " (mean probabilities)";
  }
  const std::string fold = meta.value("fold", std::string());
  if (fold == "all subjects") return model + ", trained on all subjects (" + predictor.checkpoint_paths()[0] + ")";
  return model + (fold.empty() ? "" : ", fold " + fold + " (trained without that subject)");
}

void write_figure(const predict::Predictor& predictor, const predict::ClipPrediction& p,
                  const std::string& png, int top, const std::string& models) {
  const auto& result = p.result;
  report::PredictionFigureInput in;
  char title[256];
  std::snprintf(title, sizeof title, "predicted: %s (%.3f)%s",
                result.class_names.at(static_cast<size_t>(result.prediction)).c_str(),
                result.probabilities.at(static_cast<size_t>(result.prediction)),
                p.no_motion ? " - no facial movement found" : "");
  in.title = title;
  in.subtitle = fs::path(p.analysis.onset_file).filename().string() + " -> " +
                fs::path(p.analysis.apex_file).filename().string() + " (apex " + apex_how(p) +
                "), model " + models;
  in.class_names = result.class_names;
  in.probabilities = result.probabilities;
  in.face = p.analysis.clip.apex_crop;
  in.flow = p.analysis.clip.flow_map;
  in.magnitude = p.analysis.motion.magnitude;
  in.regions = p.analysis.motion.regions;
  in.landmarks.assign(p.analysis.clip.landmarks.begin(), p.analysis.clip.landmarks.end());
  in.highlighted = p.no_motion ? 0 : top;  // nothing moved: highlight nothing
  in.explain = result.explain;
  const auto& meta = predictor.first().meta;
  in.explain_kinds = report::explanation_kinds_of(meta.value("model", std::string("?")),
                                                  meta.value("explanations", nlohmann::json()));
  in.explain_units = report::explanation_units_of(meta.value("model", std::string("?")));
  in.model_info = predictor.first().model->explain_info();
  const auto image = report::render_prediction(in);
  if (fs::path(png).has_parent_path()) fs::create_directories(fs::path(png).parent_path());
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", image, bytes)) throw DataError(png + ": cannot encode the PNG");
  write_file_atomic(png, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace

PredictCommand::PredictCommand(CLI::App& app) {
  no_motion_threshold_ = predict::kNoMotionThresholdPx;
  command_ = app.add_subcommand(
      "predict", "Classify new clips with trained models: probabilities, and a picture of the "
                 "face, its motion and the regions that moved most");
  auto* c = command_;
  const std::string g_model = "Model", g_in = "Input", g_out = "Output", g_pre = "Preprocessing";
  auto* checkpoint = c->add_option("--checkpoint", checkpoint_,
                                   "a model.pt of `mer train` or of one `mer loso` fold (e.g. "
                                   "runs/st/folds/casme2__sub01/model.pt)")
                         ->group(g_model);
  auto* run = c->add_option("--run", run_,
                            "every fold model of this `mer loso` run as an ensemble (mean "
                            "probabilities; for clips of subjects outside the run), or a `mer "
                            "train` folder")
                  ->check(CLI::ExistingDirectory)->group(g_model);
  checkpoint->excludes(run);
  auto* onset = c->add_option("--onset", onset_,
                              "onset frame file; with --clip or --video the onset's frame "
                              "number (a video's first frame is 0)")
                    ->group(g_in);
  auto* apex = c->add_option("--apex", apex_,
                             "apex frame file; with --clip or --video its frame number "
                             "(default: spotted after the onset)")
                   ->group(g_in);
  auto* clip = c->add_option("--clip", clip_,
                             "folder of the clip's frames, onset first, ordered by the number in "
                             "the file name (reg_img46.jpg, 006_05562.jpg, image012345.bmp, "
                             "355.jpg); the apex is spotted")
                   ->group(g_in);
  auto* video = c->add_option("--video", video_,
                              "a video file of the clip (avi, mp4, mov, ...: what OpenCV's video "
                              "backend decodes); the apex is spotted unless given")
                    ->group(g_in);
  auto* clips = c->add_option("--clips", clips_,
                              "a CSV list of clips (columns path or video, optional onset, apex, "
                              "label, aus): one results table for all, models loaded once")
                    ->check(CLI::ExistingFile)->group(g_in);
  apex->needs(onset);
  clip->excludes(video)->excludes(clips);
  video->excludes(clips);
  clips->excludes(onset)->excludes(apex);
  c->add_flag("--json", json_, "print the result as JSON")->group(g_out);
  c->add_option("--png", png_, "write the picture to this PNG file")->group(g_out);
  auto* out = c->add_option("--out", out_,
                            "--clips: folder for predictions.csv and predictions.json")
                  ->group(g_out);
  auto* figures = c->add_flag("--figures", figures_, "--clips: also a picture per clip in OUT/figures/")
                      ->group(g_out);
  auto* jobs = c->add_option("--jobs", jobs_, "--clips: clips predicted in parallel")
                   ->capture_default_str()->check(CLI::Range(1, 256))->group(g_out);
  for (auto* o : {out, figures, jobs}) o->needs(clips);
  c->add_option("--top", top_, "how many of the regions that moved most to highlight")
      ->capture_default_str()->check(CLI::Range(0, 9))->group(g_out);
  c->add_option("--no-motion-threshold", no_motion_threshold_,
                "below this largest region motion (px of the 224 crop) a clip is reported as "
                "\"no facial movement found\" (measured on CASME II: docs/benchmarks.md)")
      ->capture_default_str()->check(CLI::Range(0.0, 100.0))->group(g_out);
  c->add_option("--aus", aus_,
                "the clip's FACS action units, e.g. 1,2,12 (needed by models that read them at "
                "inference, such as cva-fpf au=oracle)")
      ->group(g_in);
  c->add_option("--like", like_,
                "preprocess as this `mer prepare` folder was (its manifest.json); default: as "
                "the checkpoint's training data was prepared (recorded in it), else prepare's "
                "defaults")
      ->check(CLI::ExistingDirectory)->group(g_pre);
  auto* framing = c->add_option("--framing", framing_,
                                "megc2019, margin or whole-frame (as mer prepare)")
                      ->capture_default_str()
                      ->check(CLI::IsMember(pipeline::framing_names()))
                      ->group(g_pre);
  auto* flow_size = c->add_option("--flow-size", flow_size_, "TV-L1 working size (as mer prepare)")
                        ->capture_default_str()->check(CLI::Range(0, 1024))->group(g_pre);
  auto* quality = c->add_option("--flow-quality", flow_quality_, "default or full (as mer prepare)")
                      ->capture_default_str()->check(CLI::IsMember({"default", "full"}))
                      ->group(g_pre);
  for (auto* o : {framing, flow_size, quality}) o->excludes("--like");
  c->footer(
      "Examples:\n"
      "  mer predict --checkpoint runs/st/folds/casme2__sub01/model.pt \\\n"
      "      --onset FRAMES/sub01/EP02_01f/reg_img46.jpg --apex FRAMES/sub01/EP02_01f/reg_img59.jpg \\\n"
      "      --png sub01_EP02_01f.png\n"
      "  mer predict --checkpoint models/st/model.pt --clip FRAMES/sub01/EP02_01f --json\n"
      "  mer predict --run runs/st --video clip.avi --onset 0 --apex 13\n"
      "  mer predict --checkpoint models/st/model.pt --clips list.csv --out results --jobs 2\n"
      "The flow map size is the checkpoint's. A fold checkpoint never saw its own subject; "
      "`mer train` models and --run ensembles are meant for subjects outside their data.");
}

int PredictCommand::run() {
  if (checkpoint_.empty() && run_.empty()) {
    throw ConfigError("give a model: --checkpoint FILE (mer train or one loso fold) or --run DIR "
                      "(every fold of a loso run)");
  }
  if (clips_.empty() && clip_.empty() && video_.empty() && (onset_.empty() || apex_.empty())) {
    throw ConfigError("give --onset and --apex, or --clip (a folder of frames), --video FILE or "
                      "--clips LIST.csv");
  }
  if (!clips_.empty() && (!png_.empty() || json_)) {
    throw ConfigError("--clips writes OUT/predictions.csv and .json (and OUT/figures/ with "
                      "--figures); --png and --json are for one clip");
  }
  // How clips are prepared: --like's manifest, the explicit flags, or what the checkpoint
  // recorded of its training data (else prepare's defaults).
  predict::PredictorOptions options;
  options.no_motion_threshold(no_motion_threshold_);
  const bool flags_given = command_->count("--framing") + command_->count("--flow-size") +
                               command_->count("--flow-quality") > 0;
  std::string preprocessing_source;
  const auto checkpoints =
      run_.empty() ? std::vector<std::string>{checkpoint_} : predict::run_checkpoints(run_);
  if (!like_.empty()) {
    options.preprocessing(pipeline::read_preprocessing(like_));
    preprocessing_source = "as " + like_;
  } else if (flags_given) {
    auto pre = pipeline::default_preprocessing();
    pre.alignment(pipeline::framing_by_name(framing_));
    pre.flow(flow_quality_ == "full" ? face::TvL1Options::full_quality()
                                     : face::TvL1Options().working_size(flow_size_));
    options.preprocessing(pre);
  }
  const predict::Predictor predictor(checkpoints, options);
  if (!like_.empty()) {
    const int64_t size = predictor.first().meta.value("input_size", int64_t{0});
    const int like_size = pipeline::read_preprocessing(like_).map().output_size();
    if (like_size != size) {
      throw ConfigError(like_ + " holds " + std::to_string(like_size) + "x" + std::to_string(like_size) +
                        " flow maps but the checkpoint takes " + std::to_string(size) + "x" +
                        std::to_string(size));
    }
  }
  if (preprocessing_source.empty()) preprocessing_source = predictor.preprocessing_source();
  if (!clips_.empty()) return run_list(predictor);

  predict::ClipSource source;
  source.aus = aus_;
  if (!clip_.empty() || !video_.empty()) {
    source.path = clip_.empty() ? video_ : clip_;
    if (!onset_.empty()) {
      source.onset = predict::parse_frame_number(onset_, "with --clip or --video, --onset");
    }
    if (!apex_.empty()) {
      source.apex = predict::parse_frame_number(apex_, "with --clip or --video, --apex");
    }
  } else {
    source.files = {onset_, apex_};
  }
  auto worker = predictor.make_worker();
  const auto p = predictor.predict(source, worker);
  const auto& result = p.result;
  const auto& prepared = p.analysis.clip;
  const auto& meta = predictor.first().meta;
  const std::string model = meta.value("model", std::string("?"));
  const std::string models = models_text(predictor, run_);
  const auto inputs = predictor.inputs();
  if (!png_.empty()) write_figure(predictor, p, png_, top_, models);

  if (json_) {
    auto out = predict::clip_prediction_json(p, predictor);
    out["preprocessing_source"] = preprocessing_source;
    out["png"] = png_.empty() ? nlohmann::json(nullptr) : nlohmann::json(png_);
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("clip: %s -> %s (apex %s)\n", p.analysis.onset_file.c_str(),
              p.analysis.apex_file.c_str(), apex_how(p).c_str());
  std::printf("preprocessing: %s; model inputs: %s\n", preprocessing_source.c_str(), [&] {
    std::string list;
    for (const auto& n : inputs.names()) list += (list.empty() ? "" : ", ") + n;
    return list;
  }().c_str());
  std::printf("model: %s\n", models.c_str());
  if (p.no_motion) {
    std::printf("no facial movement found: the regions moved at most %.3f px between onset and "
                "apex (threshold %.2f px); the probabilities below describe no expression\n",
                p.motion_px, predictor.no_motion_threshold());
  }
  std::printf("prediction: %s (%.3f)\n",
              result.class_names.at(static_cast<size_t>(result.prediction)).c_str(),
              result.probabilities.at(static_cast<size_t>(result.prediction)));
  for (size_t k = 0; k < result.class_names.size(); ++k) {
    std::printf("  %-12s %.4f\n", result.class_names[k].c_str(), result.probabilities[k]);
  }
  std::printf("regions that moved most (mean residual motion, px of the %dx%d crop):\n",
              prepared.apex_crop.cols, prepared.apex_crop.rows);
  for (const auto& r : p.analysis.motion.regions) {
    if (r.rank > std::max(top_, 3)) break;
    std::printf("  %d. %-12s %.3f\n", r.rank, r.name.c_str(), r.motion);
  }
  if (!png_.empty()) std::printf("figure: %s\n", png_.c_str());
  return 0;
}

int PredictCommand::run_list(const predict::Predictor& predictor) {
  if (out_.empty()) throw ConfigError("--clips needs --out DIR (where predictions.csv and .json go)");
  const auto entries = predict::read_clip_list(clips_);
  std::vector<predict::ClipSource> sources;
  std::vector<size_t> runnable;  // entries whose row could be read
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].error.empty()) {
      runnable.push_back(i);
      sources.push_back(entries[i].source);
    }
  }
  std::error_code ec;
  fs::create_directories(out_, ec);
  if (ec) throw ConfigError(out_ + ": cannot create output folder: " + ec.message());
  const std::string models = models_text(predictor, run_.empty() ? checkpoint_ : run_);
  std::fprintf(stderr, "model: %s\n", models.c_str());
  Progress progress("predict", static_cast<int64_t>(sources.size()));
  // The models and the landmark model are loaded by now: the clock times the clips only.
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();  // all threads of the process
  const auto done = predictor.predict_all(sources, jobs_, [&](size_t i) {
    progress.advance(1, entries[runnable[i]].given);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  progress.finish();
  std::vector<predict::ClipOutcome> outcomes(entries.size());
  for (size_t k = 0; k < runnable.size(); ++k) outcomes[runnable[k]] = done[k];
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].error.empty()) outcomes[i].error = entries[i].error;
  }
  if (figures_) {
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!outcomes[i].prediction) continue;
      const std::string stem = fs::path(entries[i].given).filename().string();
      const std::string png = (fs::path(out_) / "figures" /
                               (std::to_string(i + 1) + "_" + (stem.empty() ? "clip" : stem) + ".png"))
                                  .string();
      try {
        write_figure(predictor, *outcomes[i].prediction, png, top_, models);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "row %zu: %s\n", i + 1, e.what());
      }
    }
  }
  const auto summary = predict::summarise(entries, outcomes, predictor, seconds, cpu_seconds);
  const std::string csv_path = (fs::path(out_) / "predictions.csv").string();
  const std::string json_path = (fs::path(out_) / "predictions.json").string();
  write_file_atomic(csv_path, predict::results_csv(entries, outcomes, predictor));
  write_file_atomic(json_path, predict::results_json(entries, outcomes, predictor, summary).dump(2));
  std::printf("predicted %lld of %lld clips in %.1f s (%.1f clips/s, %d jobs; %.0f ms of CPU per "
              "clip)%s\n",
              static_cast<long long>(summary.predicted), static_cast<long long>(summary.clips),
              seconds, summary.clips_per_second, jobs_, summary.cpu_seconds_per_clip * 1e3,
              summary.no_motion > 0
                  ? (", " + std::to_string(summary.no_motion) + " with no facial movement found").c_str()
                  : "");
  if (summary.failed > 0) {
    std::printf("%lld clip(s) failed (reason in the error column):\n", static_cast<long long>(summary.failed));
    int shown = 0;
    for (size_t i = 0; i < entries.size() && shown < 10; ++i) {
      if (outcomes[i].prediction) continue;
      std::printf("  row %zu: %s\n", i + 1, outcomes[i].error.c_str());
      ++shown;
    }
  }
  if (summary.labelled > 0) {
    std::printf("on the %lld labelled clips: UF1 %.4f, UAR %.4f, accuracy %.4f\n",
                static_cast<long long>(summary.labelled), summary.metrics.uf1, summary.metrics.uar,
                summary.metrics.accuracy);
  }
  for (const auto& note : summary.label_notes) std::printf("note: %s\n", note.c_str());
  std::printf("results: %s, %s%s\n", csv_path.c_str(), json_path.c_str(),
              figures_ ? (", figures in " + out_ + "/figures/").c_str() : "");
  return 0;
}

}  // namespace mer::cli
