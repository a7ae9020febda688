#include "cmd_predict.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "engine/checkpoint.h"
#include "engine/inference.h"
#include "models/model_spec.h"
#include "predict/clip_batch.h"
#include "pipeline/clip_analysis.h"
#include "pipeline/prepare.h"
#include "report/prediction_figure.h"

namespace fs = std::filesystem;

namespace mer::cli {

PredictCommand::PredictCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "predict", "Classify a new clip with a trained model: probabilities, and a picture of the "
                 "face, its motion and the regions that moved most");
  auto* c = command_;
  const std::string g_in = "Input", g_out = "Output", g_pre = "Preprocessing";
  c->add_option("--checkpoint", checkpoint_,
                "a model.pt of `mer loso` (e.g. runs/st/folds/casme2__sub01/model.pt)")
      ->required()->group(g_in);
  auto* onset = c->add_option("--onset", onset_, "onset frame file")->group(g_in);
  auto* apex = c->add_option("--apex", apex_, "apex frame file")->group(g_in);
  auto* clip = c->add_option("--clip", clip_,
                             "folder of the clip's frames, onset first (ordered by the number "
                             "in the file name); the apex is spotted")
                   ->group(g_in);
  onset->needs(apex);
  apex->needs(onset);
  clip->excludes(onset)->excludes(apex);
  c->add_flag("--json", json_, "print the result as JSON")->group(g_out);
  c->add_option("--png", png_, "write the picture to this PNG file")->group(g_out);
  c->add_option("--top", top_, "how many of the regions that moved most to highlight")
      ->capture_default_str()->check(CLI::Range(0, 9))->group(g_out);
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
      "  mer predict --checkpoint CKPT --clip FRAMES/sub01/EP02_01f --json\n"
      "The flow map size is the checkpoint's; use a checkpoint of a fold trained without the "
      "clip's subject.");
}

int PredictCommand::run() {
  if (clip_.empty() && onset_.empty()) {
    throw ConfigError("give --onset and --apex, or --clip (a folder of frames)");
  }
  const auto checkpoint = engine::load_checkpoint(checkpoint_);
  const int64_t size = checkpoint.meta.value("input_size", int64_t{0});
  const auto inputs = engine::checkpoint_inputs(checkpoint);
  if (inputs.action_units == models::ModelInputs::ActionUnits::kAlways && aus_.empty()) {
    throw ConfigError(checkpoint_ + ": the model reads the clip's FACS action units (an oracle "
                      "input); give them with --aus, e.g. --aus 1,2,12");
  }

  // How the clip is prepared: --like's manifest, the explicit flags, or what the checkpoint
  // recorded of its training data (else prepare's defaults).
  int jpeg_quality = 0;
  face::ClipPreprocessorOptions options = predict::preprocessing_for(checkpoint, &jpeg_quality);
  const bool flags_given = command_->count("--framing") + command_->count("--flow-size") +
                               command_->count("--flow-quality") > 0;
  std::string preprocessing_source =
      checkpoint.meta.value("preprocessing", nlohmann::json()).is_object()
          ? "as the checkpoint's training data"
          : "mer prepare's defaults";
  if (!like_.empty()) {
    options = pipeline::read_preprocessing(like_);
    if (options.map().output_size() != size) {
      throw ConfigError(like_ + " holds " + std::to_string(options.map().output_size()) +
                        "x" + std::to_string(options.map().output_size()) +
                        " flow maps but the checkpoint takes " + std::to_string(size) + "x" +
                        std::to_string(size));
    }
    preprocessing_source = "as " + like_;
  } else if (flags_given) {
    options = pipeline::default_preprocessing();
    options.alignment(pipeline::framing_by_name(framing_));
    options.flow(flow_quality_ == "full" ? face::TvL1Options::full_quality()
                                         : face::TvL1Options().working_size(flow_size_));
    options.map().output_size(static_cast<int>(size));
    preprocessing_source = "as given";
  }
  face::ClipPreprocessor preprocessor(options);
  const auto analysis =
      clip_.empty()
          ? pipeline::analyse_clip(preprocessor, {onset_, apex_}, 1)
          : pipeline::analyse_clip(preprocessor, pipeline::list_clip_frames(clip_), std::nullopt);
  const auto& prepared = analysis.clip;

  // Every input the model reads, as `mer prepare` stores it and `mer loso` reads it back.
  const auto batch = predict::clip_batch(
      prepared, inputs,
      predict::ClipBatchOptions()
          .crop_side(engine::checkpoint_crop_side(checkpoint))
          .jpeg_quality(jpeg_quality)
          .action_units(aus_.empty() ? std::vector<float>() : predict::action_unit_vector(aus_)));
  const auto result = engine::infer(checkpoint, batch);

  const std::string model = checkpoint.meta.value("model", std::string("?"));
  const std::string fold = checkpoint.meta.value("fold", std::string());
  const std::string apex_how =
      prepared.apex_spotted ? "spotted, frame " + std::to_string(prepared.apex_index + 1) + " of " +
                                  std::to_string(analysis.frames.size())
                            : "given";

  if (!png_.empty()) {
    report::PredictionFigureInput in;
    char title[256];
    std::snprintf(title, sizeof title, "predicted: %s (%.3f)",
                  result.class_names.at(static_cast<size_t>(result.prediction)).c_str(),
                  result.probabilities.at(static_cast<size_t>(result.prediction)));
    in.title = title;
    in.subtitle = fs::path(analysis.onset_file).filename().string() + " -> " +
                  fs::path(analysis.apex_file).filename().string() + " (apex " + apex_how +
                  "), model " + model + (fold.empty() ? "" : ", fold " + fold) + ", " +
                  fs::path(checkpoint_).filename().string();
    in.class_names = result.class_names;
    in.probabilities = result.probabilities;
    in.face = prepared.apex_crop;
    in.flow = prepared.flow_map;
    in.magnitude = analysis.motion.magnitude;
    in.regions = analysis.motion.regions;
    in.landmarks.assign(prepared.landmarks.begin(), prepared.landmarks.end());
    in.highlighted = top_;
    in.explain = result.explain;
    in.explain_kinds = report::explanation_kinds_of(model, checkpoint.meta.value("explanations", nlohmann::json()));
    in.model_info = checkpoint.model->explain_info();
    const auto image = report::render_prediction(in);
    if (!png_.empty() && fs::path(png_).has_parent_path()) {
      fs::create_directories(fs::path(png_).parent_path());
    }
    std::vector<uchar> bytes;
    if (!cv::imencode(".png", image, bytes)) throw DataError(png_ + ": cannot encode the PNG");
    write_file_atomic(png_, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }

  if (json_) {
    nlohmann::json probs = nlohmann::json::object(), regions = nlohmann::json::array();
    for (size_t k = 0; k < result.class_names.size(); ++k) {
      probs[result.class_names[k]] = std::round(result.probabilities[k] * 1e6) / 1e6;
    }
    for (const auto& r : analysis.motion.regions) {
      regions.push_back({{"rank", r.rank}, {"name", r.name},
                         {"motion", std::round(r.motion * 1e4) / 1e4}, {"pixels", r.pixels}});
    }
    const auto& shift = analysis.motion.global_shift;
    nlohmann::json out = {
        {"prediction", result.class_names.at(static_cast<size_t>(result.prediction))},
        {"label", result.prediction},
        {"probabilities", probs},
        {"class_names", result.class_names},
        {"onset", analysis.onset_file},
        {"apex", analysis.apex_file},
        {"apex_spotted", prepared.apex_spotted},
        {"apex_index", prepared.apex_index},
        {"regions", regions},
        {"global_shift_px", {std::round(shift.x * 1e4) / 1e4, std::round(shift.y * 1e4) / 1e4}},
        {"checkpoint", checkpoint_},
        {"model", model},
        {"fold", fold},
        {"preprocessing", nlohmann::json::parse(pipeline::describe_preprocessing(options))},
        {"preprocessing_source", preprocessing_source},
        {"inputs", inputs.names()},
        {"png", png_.empty() ? nlohmann::json(nullptr) : nlohmann::json(png_)}};
    if (!result.explain.empty()) out["explain"] = result.explain;
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("clip: %s -> %s (apex %s)\n", analysis.onset_file.c_str(),
              analysis.apex_file.c_str(), apex_how.c_str());
  std::printf("preprocessing: %s; model inputs: %s\n", preprocessing_source.c_str(),
              [&] {
                std::string list;
                for (const auto& n : inputs.names()) list += (list.empty() ? "" : ", ") + n;
                return list;
              }().c_str());
  std::printf("model: %s%s\n", model.c_str(),
              fold.empty() ? "" : (", fold " + fold + " (trained without that subject)").c_str());
  std::printf("prediction: %s (%.3f)\n",
              result.class_names.at(static_cast<size_t>(result.prediction)).c_str(),
              result.probabilities.at(static_cast<size_t>(result.prediction)));
  for (size_t k = 0; k < result.class_names.size(); ++k) {
    std::printf("  %-12s %.4f\n", result.class_names[k].c_str(), result.probabilities[k]);
  }
  std::printf("regions that moved most (mean residual motion, px of the %dx%d crop):\n",
              prepared.apex_crop.cols, prepared.apex_crop.rows);
  for (const auto& r : analysis.motion.regions) {
    if (r.rank > std::max(top_, 3)) break;
    std::printf("  %d. %-12s %.3f\n", r.rank, r.name.c_str(), r.motion);
  }
  if (!png_.empty()) std::printf("figure: %s\n", png_.c_str());
  return 0;
}

}  // namespace mer::cli
