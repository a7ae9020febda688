#pragma once
// `mer predict --clips LIST.csv`: many clips in one call. The list names the clips, the
// results come back as one table (CSV) and one JSON document, a row per clip in list order;
// a clip that cannot be predicted is a row with its reason, never a stop.
//
// The list (RFC 4180 CSV with a header row; columns by name, any order):
//   path     a frame folder, a video file, or an image file (then `apex` names the apex image
//            file); `video` is accepted as the column's name too. Relative paths are taken
//            relative to the list file's folder.
//   onset    optional: frame number (a video's 0-based index, a folder's number in the file
//            name); empty = the first frame
//   apex     optional: frame number (or the apex image file when path is one); empty = spotted
//   label    optional: the clip's true class (one of the model's class names); with labels,
//            UF1 and UAR over the labelled clips are reported
//   aus      optional: the clip's FACS AUs ("1+2+12"), for models that read them
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mer/engine/metrics.h"
#include "mer/predict/predictor.h"

namespace mer::predict {

struct ClipListEntry {
  int line = 0;           // 1-based line of the list file
  std::string given;      // the path as written in the list
  ClipSource source;
  std::string label;      // "" when not given
  std::string error;      // a malformed row (the clip is then not run)
};

// A frame number as given on the command line or in a list (`what` names it in the message,
// e.g. "--onset" or "onset"); throws ConfigError on anything but a whole number >= 0.
int64_t parse_frame_number(const std::string& text, const std::string& what);

// Reads the list. Throws DataError naming the file when it cannot be read, has no header
// with a `path` (or `video`) column, or has no rows. A malformed row (non-numeric frame
// number, empty path) becomes an entry with its error.
std::vector<ClipListEntry> read_clip_list(const std::string& list_path);

struct BatchSummary {
  int64_t clips = 0, predicted = 0, failed = 0, no_motion = 0;
  int64_t labelled = 0;          // predicted clips with a label among the model's classes
  engine::Metrics metrics;       // over the labelled clips (n = 0 without labels)
  double seconds = 0;            // wall time of the clips (after loading)
  double clips_per_second = 0;
  // Process CPU time (all threads) of the clips per clip: on `jobs` otherwise idle cores the
  // throughput would be jobs / cpu_seconds_per_clip (on a shared machine the wall clock
  // depends on the other load).
  double cpu_seconds_per_clip = 0;
  std::vector<std::string> label_notes;  // one per label that names no class of the model
};

BatchSummary summarise(const std::vector<ClipListEntry>& entries,
                       const std::vector<ClipOutcome>& outcomes, const Predictor& predictor,
                       double seconds, double cpu_seconds = 0);

// The results table: row, clip, status (ok / error), prediction, p_<class> for every class,
// label, correct, onset_frame, apex_frame, apex_spotted, motion_px, no_motion, top_regions
// (the three regions that moved most, ';'-separated), seconds, error.
std::string results_csv(const std::vector<ClipListEntry>& entries,
                        const std::vector<ClipOutcome>& outcomes, const Predictor& predictor);

// {"format": "mer-predictions", "version": 1, "models": [...], "ensemble": bool,
//  "preprocessing": ..., "no_motion_threshold_px": ..., "summary": {...}, "clips": [...]}.
nlohmann::json results_json(const std::vector<ClipListEntry>& entries,
                            const std::vector<ClipOutcome>& outcomes, const Predictor& predictor,
                            const BatchSummary& summary);

}  // namespace mer::predict
