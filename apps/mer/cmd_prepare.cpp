#include "cmd_prepare.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <thread>

#include "mer/core/error.h"

namespace mer::cli {

namespace {

// "sub01/EP02_01f" or "casme2/sub01/EP02_01f" -> ClipRef.
data::ClipRef parse_clip_ref(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t slash; (slash = text.find('/', start)) != std::string::npos; start = slash + 1) {
    parts.push_back(text.substr(start, slash - start));
  }
  parts.push_back(text.substr(start));
  const bool empty_part =
      std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); });
  if (empty_part || parts.size() < 2 || parts.size() > 3) {
    throw ConfigError("--only " + text + ": expected SUBJECT/CLIP or DATASET/SUBJECT/CLIP");
  }
  if (parts.size() == 2) return {"", parts[0], parts[1]};
  return {parts[0], parts[1], parts[2]};
}

}  // namespace

PrepareCommand::PrepareCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "prepare", "Prepare a database from its frame folders and annotation sheet (face "
                 "alignment, TV-L1 flow + strain) into a folder `mer loso` reads");
  auto* c = command_;
  const std::string g_in = "Input and output", g_sel = "Selection", g_pre = "Preprocessing",
                    g_run = "Execution";
  c->add_option("--dataset", options_.dataset(), "database adapter: casme2, samm, smic, casme3, mmew")
      ->required()->check(CLI::IsMember(data::database_names()))->group(g_in);
  auto* root = c->add_option("--root", options_.frames_root(),
                             "root of the frame folders (casme2: the folder holding sub01/EP02_01f/...)")
                   ->check(CLI::ExistingDirectory)->group(g_in);
  c->add_option("--video-root", video_root_,
                "for databases distributed as videos: a folder with one video per clip "
                "(SUBJECT/CLIP.avi, or CLIP.mp4, ...); the sheet's frame numbers count from the "
                "video's first frame, frame 0")
      ->check(CLI::ExistingDirectory)->excludes(root)->group(g_in);
  c->add_option("--annotations", options_.annotations(),
                "the database's annotation sheet (.xlsx or .csv, as distributed)")
      ->required()->check(CLI::ExistingFile)->group(g_in);
  c->add_option("--out", out_,
                "output folder; rerunning into it skips clips finished with the same parameters")
      ->required()->group(g_in);
  c->add_option("--sheet", sheet_, "xlsx worksheet to read (default: the first)")->group(g_in);

  c->add_option("--protocol", options_.protocol(),
                "which clips and labels: all (every clip, its coded emotion), megc2019 "
                "(3 classes), casme2-5class, samm-5class, objective")
      ->capture_default_str()->check(CLI::IsMember(pipeline::prepare_protocol_names()))
      ->group(g_sel);
  c->add_option("--megc2019-list", megc2019_list_,
                "megc2019: the official sample list (megc2019_combined_3class_gt.csv); without "
                "it the MEGC2019 rule decides")
      ->check(CLI::ExistingFile)->group(g_sel);
  c->add_flag("--exclude-flagged", options_.exclude_flagged(),
              "leave out clips the sheet flags (casme2/clips.csv's flags column)")->group(g_sel);
  c->add_option("--flags-from", options_.flags_sheet(),
                "with --exclude-flagged: take the flags from this sheet of the same database "
                "(e.g. casme2/clips.csv while --annotations is the coding xlsx)")
      ->check(CLI::ExistingFile)->group(g_sel);
  c->add_option("--only", only_, "prepare only these clips: SUBJECT/CLIP (repeatable or "
                                 "comma-separated)")
      ->delimiter(',')->group(g_sel);
  c->add_flag("--keep-out-of-order", keep_out_of_order_,
              "keep sheet rows whose frame numbers are out of order (two SAMM clips of the "
              "MEGC2019 composite need it)")->group(g_sel);
  c->add_option("--smic-apex", smic_apex_, "smic: smic_apex.xlsx, to use its apex frames")
      ->check(CLI::ExistingFile)->group(g_sel);

  c->add_option("--size", size_, "side of the flow maps (u, v, optical strain)")
      ->capture_default_str()->check(CLI::Range(8, 512))->group(g_pre);
  c->add_option("--crop-size", crop_size_, "side of the aligned onset/apex face crops")
      ->capture_default_str()->check(CLI::Range(16, 1024))->group(g_pre);
  c->add_option("--framing", framing_,
                "megc2019 (eyes aligned, tight, as the MEGC2019 composite's face crops), margin "
                "(eyes aligned, the whole face with room around it) or whole-frame (no "
                "alignment, the frame stretched to the square: for frames that already are "
                "face crops, e.g. CASME II's Cropped release; how the composite's CASME II "
                "maps were made)")
      ->capture_default_str()->check(CLI::IsMember(pipeline::framing_names()))
      ->group(g_pre);
  c->add_option("--flow-size", flow_size_, "side of the image TV-L1 runs on (0 = the crop's)")
      ->capture_default_str()->check(CLI::Range(0, 1024))->group(g_pre);
  c->add_option("--flow-quality", flow_quality_,
                "default (3 scales, 3 warps: fast) or full (OpenCV's defaults on the whole crop; "
                "ignores --flow-size)")
      ->capture_default_str()->check(CLI::IsMember({"default", "full"}))->group(g_pre);
  c->add_flag("--colour", colour_, "keep the face crops in colour (default grey)")->group(g_pre);
  c->add_option("--jpeg-quality", options_.jpeg_quality(), "JPEG quality of the crops")
      ->capture_default_str()->check(CLI::Range(1, 100))->group(g_pre);

  c->add_option("--jobs", jobs_, "clips prepared in parallel (default: all cores)")
      ->check(CLI::Range(1, 256))->group(g_run);
  c->add_flag("--quiet", options_.quiet(), "no progress bar")->group(g_run);
  c->add_flag("--strict", strict_, "exit with code 1 when any selected clip was skipped")
      ->group(g_run);
  c->footer(
      "Examples:\n"
      "  mer prepare --dataset casme2 --root ../shared/data/casme2/frames \\\n"
      "      --annotations ../shared/data/casme2/CASME2-coding-20190701.xlsx --out data/casme2\n"
      "  mer prepare --dataset casme2 --video-root VIDEOS --annotations clips.csv --out data/v\n"
      "  mer prepare --dataset casme2 --root FRAMES --annotations CODING.xlsx --out data/c5 \\\n"
      "      --protocol casme2-5class --exclude-flagged --flags-from ../shared/data/casme2/clips.csv\n"
      "  mer prepare ... --protocol megc2019 --megc2019-list megc2019_combined_3class_gt.csv\n"
      "Output: labels.csv (+ onset/apex crops, landmarks, apex, AU vector), flow/, face/, "
      "onset/, landmarks/, skipped.csv (clips not prepared, with the reason), manifest.json.");
}

int PrepareCommand::run() {
  if (options_.frames_root().empty() && video_root_.empty()) {
    throw ConfigError("give --root (the frame folders) or --video-root (one video per clip)");
  }
  if (!video_root_.empty()) options_.frames_root(video_root_).videos(true);
  if (!options_.flags_sheet().empty() && !options_.exclude_flagged()) {
    throw ConfigError("--flags-from needs --exclude-flagged");
  }
  if (!megc2019_list_.empty() && options_.protocol() != "megc2019") {
    throw ConfigError("--megc2019-list applies to --protocol megc2019 only");
  }
  options_.adapter().sheet(sheet_).keep_out_of_order(keep_out_of_order_).smic_apex_sheet(smic_apex_);
  options_.selection().megc2019_list(megc2019_list_);
  for (const auto& text : only_) options_.only().push_back(parse_clip_ref(text));
  auto& pre = options_.preprocessing();
  pre.alignment(pipeline::framing_by_name(framing_).output_size(crop_size_));
  pre.map().output_size(size_);
  pre.flow(flow_quality_ == "full" ? face::TvL1Options::full_quality()
                                   : face::TvL1Options().working_size(flow_size_));
  pre.colour_crops(colour_);
  options_.jobs(jobs_ > 0 ? jobs_ : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));

  const auto report = pipeline::prepare_dataset(options_, out_);
  std::cout << pipeline::format_report(report);
  const bool failures = report.share_prepared() < 1.0;
  return strict_ && failures ? 1 : 0;
}

}  // namespace mer::cli
