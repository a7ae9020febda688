#pragma once
// Dataset adapters: each reads its database's official annotation sheet (.xlsx or .csv, as
// distributed) into ClipAnnotation records.
//
// Malformed rows are not fatal: every adapter returns the good clips plus the rows it
// skipped, each with its row number and the reason (no subject or filename, a frame number
// that is not a whole number >= 0, onset > apex or apex > offset or onset > offset, an
// emotion the database does not use, an objective class outside 1..7 / I..VII, a clip name
// that contradicts the subject, a repeated clip). Fatal (DataError naming the file): the file
// is missing or unreadable, or no header row with the expected columns is found (the message
// lists them). Headers are found by name anywhere in the first 50 rows (SAMM has notes above
// its header); column names differ between releases and are matched loosely (sheet.h).
//
// Sheets and folder layouts (frame N of a clip, relative to the database root):
//   casme2  CASME2-coding-20140508.xlsx / CASME2-coding-20190701.xlsx (Subject "01",
//           Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion
//           [, Objective Classes]) and mer's shared casme2/clips.csv (subject "sub01",
//           filename, onset, apex, offset, action_units, emotion, frames, flags: its flags
//           become ClipAnnotation::flags). Emotions: happiness, disgust, repression, surprise,
//           others, sadness, fear. Frames (known): sub01/EP02_01f/reg_img46.jpg in the
//           "Cropped" release, sub01/EP02_01f/img46.jpg in the raw one (both are tried;
//           AdapterOptions::raw_frames picks which is preferred).
//   samm    SAMM_Micro_FACS_Codes_v2.xlsx, sheet MICRO_ONLY (notes above the header;
//           Subject "006", Filename "006_1_2", Onset Frame, Apex Frame, Offset Frame, Action
//           Units, Estimated Emotion, Objective Classes, Notes). Emotions: anger, contempt,
//           disgust, fear, happiness, sadness, surprise, others ("Other"). Frames (known):
//           006/006_1_2/006_05562.jpg (subject_frame, frame zero-padded to 5 digits).
//   smic    SMIC_HS_cropped.csv (Subject "1", Filename "s1_ne_01", OnsetFrame, OffsetFrame,
//           Estimated Emotion: negative / positive / surprise); no apex (-1) unless
//           AdapterOptions::smic_apex_sheet names smic_apex.xlsx (subject, clip,
//           onset_frame, apex_frame[, offset_frame]), whose apex is taken when it lies within
//           the clip's onset..offset (flag "apex from smic_apex.xlsx"); otherwise the row is
//           reported in `notes`. Names become MEGC2019's: subject "s01", clip "s01_ne_01".
//           Frames (ASSUMED, not verified on a copy): the original SMIC-HS release,
//           s1/micro/negative/s1_ne_01/image<N>.bmp with N zero-padded to 6 digits, root = its
//           HS folder. Also tried: HS/ prefixed, reg_image<N> (cropped release), .jpg, and
//           smic_apex.xlsx's HS_long layout s01/s1_ne_01/image<N>.jpg.
//   casme3  CASME3_partA_ME_label_JpgIndex_v2.xlsx, sheet "label" (Subject "spNO.1",
//           Filename "a", Onset, Apex, Offset, AU, Objective class I..VII, emotion: happy,
//           sad, disgust, surprise, fear, anger, others). A Filename is a video that holds
//           up to ~20 micro-expressions, so the clip name is "<Filename>_<onset>" ("a_355").
//           Frames (ASSUMED): part A's spNO.1/a/color/<N>.jpg (frame numbers are the jpg
//           indices, as the sheet's name says), root = the part_A folder; also tried:
//           spNO.1/a/<N>.jpg and .png.
//   mmew    MMEW_Micro_Exp.csv (Subject "1", Filename "S01-01-001", OnsetFrame, ApexFrame,
//           OffsetFrame, Action Units, Estimated Emotion, remarks). Emotions: happiness,
//           surprise, disgust, fear, sadness, anger, others. Subject becomes "S01". Frames
//           (ASSUMED): Micro_Expression/<emotion>/S01-01-001/<N>.jpg with root = the
//           Micro_Expression folder, i.e. <emotion>/S01-01-001/<N>.jpg; also tried: with the
//           Micro_Expression/ prefix, without the emotion folder, <N> zero-padded to 3, .bmp.
// find_frame() (clip_annotation.h) tries every candidate and names them all when none exists.
//
// Thread safety: the functions share no state.
#include <string>
#include <vector>

#include "mer/core/arg.h"
#include "mer/data/action_units.h"
#include "mer/data/clip_annotation.h"

namespace mer::data {

struct SkippedRow {
  std::string source;  // the sheet
  int row = 0;         // its 1-based row (xlsx row number or csv line)
  std::string reason;
};

// What an adapter read: the good clips in sheet order and the rows it left out.
struct AnnotationSet {
  std::string dataset;  // "casme2", "samm", "smic", "casme3", "mmew"
  std::string source;   // the sheet read
  std::vector<ClipAnnotation> clips;
  std::vector<SkippedRow> skipped;
  // Non-fatal remarks that concern no single kept clip (e.g. smic_apex.xlsx rows whose apex
  // was not used, with the reason).
  std::vector<std::string> notes;

  // The clip with this subject and clip name (canonical names), or nullptr.
  const ClipAnnotation* find(const std::string& subject, const std::string& clip) const;
};

struct AdapterOptions {
  // The xlsx worksheet to read; empty = the first (each official sheet has its table first).
  MER_ARG(std::string, sheet) = "";
  // Rows whose frame numbers are out of order (onset > apex, apex > offset) are skipped by
  // default; true keeps them, flagged "frame order: ...". The MEGC2019 composite includes
  // two such SAMM clips (028_4_1, 032_3_1): read SAMM with true to reproduce it.
  MER_ARG(bool, keep_out_of_order) = false;
  // CASME II only: prefer the raw release's img<N>.jpg to the Cropped release's reg_img<N>.jpg.
  MER_ARG(bool, raw_frames) = false;
  // SMIC only: smic_apex.xlsx (or a csv with its columns), to fill in the apex.
  MER_ARG(std::string, smic_apex_sheet) = "";
  // How AU strings are read (action_units.h).
  MER_ARG(ActionUnitOptions, action_units) = {};

 public:  // MER_ARG leaves the access at private
  // Throws ConfigError when an option does not apply to `database` (raw_frames for a
  // database other than casme2, smic_apex_sheet other than smic) or the database is unknown.
  void validate(const std::string& database) const;
};

// The databases with an adapter: casme2, samm, smic, casme3, mmew.
const std::vector<std::string>& database_names();

// Each reader checks options.validate(<its database>) first.
AnnotationSet read_casme2(const std::string& path, const AdapterOptions& options = {});
AnnotationSet read_samm(const std::string& path, const AdapterOptions& options = {});
AnnotationSet read_smic(const std::string& path, const AdapterOptions& options = {});
AnnotationSet read_casme3(const std::string& path, const AdapterOptions& options = {});
AnnotationSet read_mmew(const std::string& path, const AdapterOptions& options = {});

// The adapter of `database` (one of database_names(); ConfigError otherwise).
AnnotationSet read_annotations(const std::string& database, const std::string& path,
                               const AdapterOptions& options = {});

}  // namespace mer::data
