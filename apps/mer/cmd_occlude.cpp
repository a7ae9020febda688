#include "cmd_occlude.h"

#include <algorithm>
#include <iostream>
#include <thread>

#include "mer/core/error.h"

namespace mer::cli {

OccludeCommand::OccludeCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "occlude", "Occluded copies of a database's frames (face mask, glasses, black block placed "
                 "from the landmarks, one occluder per clip) or of a prepared flow-only folder "
                 "(the flow map occluded where the occluder lies)");
  auto* c = command_;
  const std::string g_frames = "Frame data (then `mer prepare --root OUT`)",
                    g_prepared = "Prepared flow-only data", g_occ = "Occluder", g_run = "Execution";
  auto* dataset = c->add_option("--dataset", frames_.dataset(), "database adapter: casme2, samm, smic, casme3, mmew")
                      ->check(CLI::IsMember(data::database_names()))->group(g_frames);
  auto* root = c->add_option("--root", frames_.frames_root(), "root of the frame folders")
                   ->check(CLI::ExistingDirectory)->group(g_frames);
  auto* annotations = c->add_option("--annotations", frames_.annotations(), "the database's annotation sheet")
                          ->check(CLI::ExistingFile)->group(g_frames);
  c->add_option("--sheet", sheet_, "xlsx worksheet to read (default: the first)")->group(g_frames);
  c->add_option("--only", only_, "occlude only these clips: SUBJECT/CLIP (comma-separated)")
      ->delimiter(',')->group(g_frames);
  auto* data = c->add_option("--data", data_, "prepared folder (labels.csv, flow/, face/), e.g. ../shared/data/megc2019")
                   ->check(CLI::ExistingDirectory)->group(g_prepared);
  c->add_option("--landmarks", landmarks_,
                "landmarks of the face crops (`mer landmarks`; default DATA/landmarks.csv)")
      ->check(CLI::ExistingFile)->group(g_prepared);
  noise_opt_ = c->add_option("--boundary-noise", boundary_noise_,
                "noise (0..255 units) on the flow pixels at the occluder's edge")
      ->capture_default_str()->check(CLI::Range(0, 128))->group(g_prepared);
  c->add_option("--out", out_, "output folder")->required()->group("Input and output");

  c->add_option("--kind", options_.kind(),
                "mask, glasses, block, or mixed (one of mask/glasses/block 30% per clip)")
      ->required()->check(CLI::IsMember(pipeline::occlusion_kind_names()))->group(g_occ);
  block_ratio_opt_ = c->add_option("--block-ratio", options_.block_ratio(),
                "block area / face box area: 0.05, 0.10, ..., 0.50")
      ->capture_default_str()->group(g_occ);
  c->add_option("--seed", options_.seed(), "with each clip's key, decides asset and position")
      ->capture_default_str()->group(g_occ);
  c->add_option("--occluders", options_.occluders(),
                "folder with masks/*.png and glasses/*.png (RGBA), e.g. ../shared/data/occluders")
      ->check(CLI::ExistingDirectory)->group(g_occ);
  c->add_option("--landmark-model", options_.landmark_model(), "dlib 68-point shape predictor")
      ->capture_default_str()->check(CLI::ExistingFile)->group(g_occ);
  c->add_option("--jpeg-quality", options_.jpeg_quality(), "JPEG quality of written frames/crops")
      ->capture_default_str()->check(CLI::Range(1, 100))->group(g_run);
  c->add_option("--jobs", jobs_, "clips in parallel (default: all cores)")
      ->check(CLI::Range(1, 256))->group(g_run);
  c->add_flag("--quiet", options_.quiet(), "no progress bar")->group(g_run);
  c->add_flag("--strict", strict_, "exit with code 1 when any clip was skipped")->group(g_run);
  data->excludes(dataset)->excludes(root)->excludes(annotations);
  c->footer(
      "Examples:\n"
      "  mer occlude --dataset casme2 --root ../shared/data/casme2/frames \\\n"
      "      --annotations ../shared/data/casme2/CASME2-coding-20190701.xlsx \\\n"
      "      --kind mask --occluders ../shared/data/occluders --out data/casme2-mask-frames\n"
      "  mer prepare --dataset casme2 --root data/casme2-mask-frames --annotations ... --out data/casme2-mask\n"
      "  mer occlude --data ../shared/data/megc2019 --landmarks runs/megc2019-landmarks.csv \\\n"
      "      --kind block --block-ratio 0.3 --out data/megc2019-block30\n"
      "Output: the occluded frames (or prepared folder), occlusions.csv (kind, asset, placement "
      "per clip), occlusion/<key>.png coverage masks (255 = occluded), skipped.csv, manifest.json.");
}

int OccludeCommand::run() {
  if (block_ratio_opt_->count() > 0 && options_.kind() != "block") {
    throw ConfigError("--block-ratio applies to --kind block only (mixed uses 0.30)");
  }
  if (noise_opt_->count() > 0 && data_.empty()) {
    throw ConfigError("--boundary-noise applies to --data (flow-map occlusion) only");
  }
  options_.flow().boundary_noise(boundary_noise_);
  options_.jobs(jobs_ > 0 ? jobs_ : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  pipeline::OccludeReport report;
  if (!data_.empty()) {
    report = pipeline::occlude_prepared(data_, landmarks_, options_, out_);
  } else {
    if (frames_.frames_root().empty() || frames_.annotations().empty()) {
      throw ConfigError("mer occlude needs either --data PREPARED or --dataset, --root and "
                        "--annotations (frame data)");
    }
    if (!landmarks_.empty()) throw ConfigError("--landmarks applies to --data (prepared data) only");
    frames_.adapter().sheet(sheet_);
    for (const auto& text : only_) {
      const auto slash = text.find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) {
        throw ConfigError("--only " + text + ": expected SUBJECT/CLIP");
      }
      frames_.only().push_back({"", text.substr(0, slash), text.substr(slash + 1)});
    }
    report = pipeline::occlude_frames(frames_, options_, out_);
  }
  std::cout << pipeline::format_report(report);
  return strict_ && !report.skipped.empty() ? 1 : 0;
}

}  // namespace mer::cli
