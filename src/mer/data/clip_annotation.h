#pragma once
// One annotated micro-expression clip, as the dataset adapters (adapters.h) read it from an
// official sheet, whatever the database: who, which clip, its key frames, the emotion and
// AUs as coded, the sheet row it came from, and where its frames lie in the database's
// distributed folder layout.
#include <string>
#include <string_view>
#include <vector>

#include "mer/data/action_units.h"

namespace mer::data {

// Where the frames of one clip lie, relative to the database root, and how frame N is named.
// Several candidates because releases differ (CASME II "Cropped" reg_img46.jpg vs raw
// img46.jpg) and because some layouts are assumed (see adapters.h); the first folder and the
// first pattern are the preferred (documented) layout.
struct FrameLayout {
  std::vector<std::string> folders;  // relative to the database root, '/'-separated
  // File names with the frame number as "{n}" (as is) or "{n:05}" (zero-padded to 5 digits;
  // longer numbers are written in full).
  std::vector<std::string> patterns;

  // folders[0] + "/" + patterns[0] for frame `frame`; "" when the layout is empty.
  std::string path(int frame) const;
  // Every folder x pattern combination, preferred first, without duplicates.
  std::vector<std::string> candidates(int frame) const;
};

// Substitutes `frame` into a FrameLayout pattern. Throws mer::Error for a malformed
// placeholder (a programming error in an adapter).
std::string format_frame_pattern(std::string_view pattern, int frame);

struct ClipAnnotation {
  std::string dataset;  // "casme2", "samm", "smic", "casme3", "mmew"
  // Canonical names, as the MEGC2019 composite and the frame folders write them:
  // casme2 "sub01" / "EP02_01f", samm "006" / "006_1_2", smic "s01" / "s01_ne_01",
  // casme3 "spNO.1" / "a_355" (video "a", onset 355: a video holds several clips),
  // mmew "S01" / "S01-01-001". The clip is unique within (dataset, subject).
  std::string subject;
  std::string clip;
  int onset = -1;  // frame numbers as in the sheet (the number in the frame's file name)
  int apex = -1;   // -1 when the sheet gives none (SMIC-HS without smic_apex.xlsx)
  int offset = -1;
  std::string emotion;       // canonical lower case: happiness, sadness, others, ... (below)
  std::string emotion_raw;   // as written in the sheet ("Happiness", "happy", "Other")
  int objective_class = -1;  // 1..7 (= I..VII) where the sheet has the column, else -1
  ActionUnits action_units;  // parsed; action_units.text is the sheet's string
  std::string notes;         // free-text remarks of the sheet (SAMM Notes, MMEW remarks)
  // Remarks of the reader or the source: clips.csv flags, "frame order: ..." for a row kept
  // with out-of-order frame numbers (AdapterOptions::keep_out_of_order), "apex from ...".
  std::vector<std::string> flags;
  std::string source;  // the sheet read (path, plus " [sheet]" for a named xlsx sheet)
  int source_row = 0;  // its 1-based row (xlsx row number or csv line)
  FrameLayout frames;

  // "dataset/subject/clip", unique within one adapter's output.
  std::string key() const { return dataset + "/" + subject + "/" + clip; }
  // The clip's frame folder relative to the database root (preferred layout).
  std::string frame_dir() const { return frames.folders.empty() ? "" : frames.folders.front(); }
  // The file of frame `frame` relative to the database root (preferred layout).
  std::string frame_file(int frame) const { return frames.path(frame); }
  bool has_flag(std::string_view prefix) const;
};

// The path under `root` of frame `frame` of `clip`: the first of frames.candidates() that
// exists. Throws DataError naming the clip, the frame and every path tried when none does.
std::string find_frame(const std::string& root, const ClipAnnotation& clip, int frame);

// Lower case, trimmed, synonyms unified: happy -> happiness, sad -> sadness,
// other -> others, angry -> anger, surprised -> surprise, disgusted -> disgust,
// fearful / scared -> fear, contemptuous -> contempt, repressed -> repression.
std::string canonical_emotion(std::string_view raw);

}  // namespace mer::data
