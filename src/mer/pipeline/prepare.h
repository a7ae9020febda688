#pragma once
// `mer prepare`: a database as its owners distribute it (frame folders + annotation sheet) in,
// a prepared-dataset folder out, the one `mer loso` and data::read_prepared read.
//
//   sheet --adapter (data/adapters.h)--> clips --protocol (data/protocols.h)--> selection
//   each selected clip --face::ClipPreprocessor, in parallel--> flow map, aligned crops,
//   landmarks --written atomically--> OUT/<kind>/<key>.<ext> + OUT/clips/<key>.json
//   finished clips --> OUT/labels.csv, skipped ones --> OUT/skipped.csv
//
// Output folder (key = <dataset>_<subject>_<clip>, as in the MEGC2019 composite):
//   labels.csv       dataset,subject,sample,label,emotion,flow,face (what read_prepared needs)
//                    then onset_face, landmarks, onset_frame, apex_frame (the apex used:
//                    annotated, or spotted when apex_spotted is 1), offset_frame,
//                    apex_spotted, coded_emotion (as the sheet says), action_units (the sheet's
//                    AU string), au1, au2, au4, ... au45 (the 21-AU vector of
//                    data::kActionUnitList, 0/1). Rewritten at the end of every run from all
//                    finished clips of the selection, in selection order.
//   flow/<key>.png   S x S, 3 channels, each min-max normalised to 0..255, in the MEGC2019
//                    composite's layout (OpenCV reads strain, v, u: data/dataset.h kFlow*)
//                    unless preprocessing().map().channel_order() says otherwise
//   face/<key>.jpg   aligned apex crop (crop_size square; grey unless colour crops)
//   onset/<key>.jpg  aligned onset crop, same alignment
//   landmarks/<key>.csv  68 rows x,y: onset landmarks in crop coordinates (iBUG 300-W order)
//   landmarks.csv    the same points of every clip in labels.csv, one row each, in the format
//                    of data/landmarks_io.h (face_size = the crop side, source "onset"):
//                    read_prepared loads it, so landmark models (DeRe-GRL, RRRN) place their
//                    nodes and regions on each clip's own face. Rewritten with labels.csv
//   occlusion/<key>.png  only for frames occluded by `mer occlude` (a ROOT/occlusion/<key>.png
//                        beside the frames): the clip's coverage mask (255 = occluded) warped
//                        through the clip's alignment and resized to the flow map. Such clips
//                        are aligned with the clean onset landmarks `mer occlude` recorded
//                        (ROOT/occlusion/<key>_landmarks.csv), not with a new detection
//   clips/<key>.json     per-clip record (inputs, parameters hash, apex, landmarks); written
//                        last, after every file of the clip: a clip is finished iff its record
//                        is there, readable, and names the current parameters and inputs
//   skipped.csv      dataset,subject,clip,reason,file,detail for every clip not prepared
//   manifest.json    format "mer-prepared", version kPrepareCacheVersion, the parameters
//                    (every preprocessing option) and what was read (dataset, sheet, root,
//                    protocol)
//
// Versioned cache: a rerun into the same folder skips each clip finished earlier with the
// same parameters and the same input frames (path, size, modification time); changed
// parameters or frames recompute that clip (the report says how many and why). Labels and
// the protocol do not enter the cache: preparing another protocol into the same folder reuses
// every clip and only rewrites labels.csv. Every file is written under a temporary name and
// renamed, so an interrupted run never leaves a half clip that looks finished; labels.csv is
// removed while clips are being (re)computed and written back at the end.
//
// Skipped clips never stop the run. Reasons (skipped.csv `reason`):
//   missing_frame     a key frame file does not exist (file = the preferred path)
//   unreadable_image  a frame cannot be decoded (corrupt, not an image)
//   no_face           no face found on the onset frame
//   bad_frame         frames of one clip differ in size, degenerate landmarks, ...
//   unknown_label     a sheet row whose emotion the adapter does not know (or none)
//   bad_sheet_row     any other malformed sheet row (file = sheet:row)
//   not_in_protocol   read but not selected by the protocol (its classes, the MEGC2019 list,
//                     flagged clips when excluded)
//   error             anything else (the detail says what)
// All but not_in_protocol count against the share prepared (PrepareReport::share_prepared),
// the sheet's bad rows (bad_sheet_row, unknown_label) only under protocol "all": whether
// another protocol would have selected an unreadable row cannot be known. With `only`, they
// are not reported (they lie outside the subset asked for).
//
// Thread safety: prepare_dataset() runs its own worker threads; two runs must not write into
// one folder at the same time.
#include <cstdint>
#include <map>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "mer/core/arg.h"
#include "mer/data/adapters.h"
#include "mer/data/protocols.h"
#include "mer/face/clip_preprocessor.h"
#include "mer/pipeline/preprocessing_record.h"

namespace mer::pipeline {

// Protocol names accepted by prepare: data::protocol_names() plus "all" (every clip the
// sheet has, labelled with its coded emotion; classes sorted by name).
std::vector<std::string> prepare_protocol_names();

// The preprocessing `mer prepare` and `mer predict` use unless told otherwise: the face
// library's defaults (TV-L1 at 112 px, 28x28 maps, 224 crops) with the tight framing of the
// MEGC2019 composite's crops (face::AlignmentOptions::megc2019(): eyes 0.50 of the side apart
// on row 0.31) instead of the face library's margin. The 28x28 map then spends its cells on the
// face the way the composite's maps do, and STSTNet scored better on it than with the margin
// (LOSO on the CASME II clips of the composite; docs/benchmarks.md, "From the original CASME
// II files").
face::ClipPreprocessorOptions default_preprocessing();

// Named framings (the CLI's --framing): "megc2019" (AlignmentOptions::megc2019(), the
// default), "margin" (the face library's eye framing with a margin) and "whole-frame"
// (Framing::kWholeFrame: no alignment, for frames that already are face crops; how the
// composite's CASME II maps were made). Crop size 224. ConfigError for another name.
const std::vector<std::string>& framing_names();
face::AlignmentOptions framing_by_name(const std::string& name);

struct PrepareOptions {
  // Database adapter: casme2, samm, smic, casme3, mmew (data::database_names()).
  MER_ARG(std::string, dataset) = "casme2";
  // Root of the database's frame folders (e.g. .../casme2/frames).
  MER_ARG(std::string, frames_root) = "";
  // frames_root holds one video file per clip instead of frame folders (`mer prepare
  // --video-root`): ROOT/<subject>/<clip>.<ext>, else ROOT/<clip>.<ext> or ROOT/<the clip's
  // frame folder>.<ext>, for the extensions of face::is_video_file. The sheet's frame numbers
  // then count decoded frames from the video's first frame, which is frame 0. A video that
  // cannot be opened, or a frame number past its end, skips the clip (unreadable_image /
  // missing_frame).
  MER_ARG(bool, videos) = false;
  // The annotation sheet the adapter reads.
  MER_ARG(std::string, annotations) = "";
  // One of prepare_protocol_names(). megc2019 over a single database keeps that part only.
  MER_ARG(std::string, protocol) = "all";
  MER_ARG(data::AdapterOptions, adapter) = {};
  // megc2019_list, clips to exclude, objective classes (data/protocols.h).
  MER_ARG(data::ProtocolOptions, selection) = {};
  // Leave out the clips the sheet flags (clips.csv's flags column; data::flagged_clips).
  MER_ARG(bool, exclude_flagged) = false;
  // Another sheet of the same database whose flags to use (e.g. casme2/clips.csv while the
  // labels come from the official coding xlsx); empty = the annotations sheet itself.
  MER_ARG(std::string, flags_sheet) = "";
  // Prepare only these clips of the selection (empty = all): for quick looks and tests.
  MER_ARG(std::vector<data::ClipRef>, only) = {};
  // Everything that shapes a prepared clip: flow map size (map().output_size, default 28),
  // crop size and framing (alignment()), TV-L1 settings (flow()), detector, apex spotting.
  MER_ARG(face::ClipPreprocessorOptions, preprocessing) = default_preprocessing();
  // JPEG quality of the stored crops, 1..100.
  MER_ARG(int, jpeg_quality) = 95;
  // Worker threads, 1..256 (each holds a preprocessor; the landmark model is shared).
  MER_ARG(int, jobs) = 2;
  // No progress bar or summary on stderr.
  MER_ARG(bool, quiet) = false;

 public:
  // Throws ConfigError naming the option: unknown dataset or protocol, empty paths, jobs or
  // jpeg_quality out of range, invalid preprocessing options.
  void validate() const;
};

struct SkippedClip {
  std::string dataset, subject, clip;  // empty subject/clip for an unreadable sheet row
  std::string reason;                  // one of the reasons above
  std::string file;                    // the file at fault (frame, or sheet:row)
  std::string detail;                  // the error message
};

struct PrepareReport {
  std::string out_dir;
  int64_t annotated = 0;   // clips the adapter read from the sheet
  int64_t selected = 0;    // clips to prepare (after protocol, exclusions and `only`)
  int64_t computed = 0;    // prepared in this run
  int64_t cached = 0;      // finished in an earlier run with the same parameters
  int64_t recomputed = 0;  // of `computed`: had a record from other parameters or frames
  std::vector<SkippedClip> skipped;  // in selection order, then sheet rows, then not selected
  std::vector<std::string> notes;    // e.g. "parameters changed: ...", protocol notes
  std::vector<std::string> class_names;
  double seconds = 0;          // wall time of the clip processing phase
  double clips_per_second = 0; // computed / seconds (0 when nothing was computed)
  // Process CPU time (user + system) of that phase per computed clip: what the throughput
  // would be on `jobs` otherwise idle cores is jobs / cpu_seconds_per_clip (on a shared box the
  // wall-clock figure depends on the other load).
  double cpu_seconds_per_clip = 0;
  int jobs = 1;
  bool sheet_rows_count = true;  // see failed()

  int64_t prepared() const { return computed + cached; }
  // Clips that could not be prepared: skipped for any reason but not_in_protocol; a sheet row
  // that cannot be read is a clip lost too when sheet_rows_count (protocol "all").
  int64_t failed() const;
  // prepared / (prepared + failed): the share of the clips the run should have prepared that
  // made it. 1 when there were none.
  double share_prepared() const;
  // Skipped clips counted per reason.
  std::map<std::string, int64_t> skipped_by_reason() const;
};

// Runs the whole preparation into out_dir (created if needed). Throws ConfigError for
// invalid options, an out_dir that holds something other than a mer prepare folder, or a
// cache of an unknown version; DataError for an unreadable sheet, a missing frames root or
// landmark model, or when no selected clip could be prepared at all. Per-clip problems never
// throw: they end up in the report and in skipped.csv.
PrepareReport prepare_dataset(const PrepareOptions& options, const std::string& out_dir);

// One line per fact: counts, share prepared, throughput, skipped per reason, where the
// files are. What `mer prepare` prints at the end.
std::string format_report(const PrepareReport& report);

}  // namespace mer::pipeline
