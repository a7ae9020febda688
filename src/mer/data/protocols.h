#pragma once
// Protocol selections: which annotated clips (adapters.h) a recognition protocol uses and
// with which label. Each selection returns the class names, one record per sample with the
// fields of mer::data::SampleInfo (dataset, subject, sample, label, emotion; see
// to_sample_info in protocol_samples.h) plus its ClipAnnotation, and every clip left out with
// the reason, so that counts can be checked against the papers'.
//
//   megc2019       MEGC2019 composite, 3 classes negative / positive / surprise, over CASME II
//                  + SAMM + SMIC-HS. Rule (MEGC2019): positive = happiness; surprise =
//                  surprise; negative = disgust, repression (CASME II), anger, contempt,
//                  disgust, fear, sadness (SAMM), negative (SMIC); CASME II's sadness, fear
//                  and others and SAMM's others are left out. The official sample list
//                  (megc2019_combined_3class_gt.csv, ProtocolOptions::megc2019_list) decides
//                  membership and labels; without it, the rule alone decides, minus the two
//                  CASME II clips the official list lacks (sub04/EP12_01f, sub05/EP09_05f).
//                  The rule reproduces the list exactly from the 2014 CASME II coding; the
//                  2019 coding recodes three sadness clips of sub24 as surprise, which only
//                  the list keeps out. Official: 442 samples, 68 subjects (145 / 24 CASME II,
//                  133 / 28 SAMM, 164 / 16 SMIC). Dataset parts "casme2", "samm", "smic";
//                  order: the list's; without it CASME II, SMIC, SAMM (as the list), each
//                  in sheet order.
//   casme2-5class  CASME II: happiness, disgust, repression, surprise, others (sadness and
//                  fear left out), LOSO over its 26 subjects. Pass clips.csv's flagged clips
//                  (flagged_clips()) in ProtocolOptions::exclude for accuracy figures.
//   samm-5class    SAMM: anger, contempt, happiness, surprise, other (SAMM's "Other");
//                  disgust, fear and sadness left out (136 clips in SAMM v2).
//   objective      Objective classes (Davison et al. 2018, MEGC2018): class I..VII from the
//                  sheets that have them (SAMM, CASME II 2019 coding, CAS(ME)^3 part A), by
//                  default I..V (VI and VII are left out, as in MEGC2018); class names "I",
//                  "II", ... Clips without an objective class are left out.
//
// Errors: ConfigError for an unknown protocol or options that make no sense; DataError
// (naming the file and row) for an unreadable or malformed MEGC2019 list. Nothing here keeps
// state: safe to call from several threads.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mer/core/arg.h"
#include "mer/data/adapters.h"
#include "mer/data/clip_annotation.h"

namespace mer::data {

// A clip named by (dataset, subject, clip) with canonical names (clip_annotation.h); an empty
// dataset matches any.
struct ClipRef {
  std::string dataset;
  std::string subject;
  std::string clip;
  bool matches(const ClipAnnotation& a) const;
};

// One sample of a selection. The first five fields are those of mer::data::SampleInfo.
struct ProtocolSample {
  std::string dataset;  // part of the composite ("casme2", "samm", "smic", ...)
  std::string subject;  // canonical subject, unique within its dataset part
  std::string sample;   // canonical clip name, unique within (dataset, subject)
  int64_t label = -1;   // index into Selection::class_names
  std::string emotion;  // the class name of `label`
  ClipAnnotation clip;  // what the sheet says about it

  // LOSO fold identity, as SampleInfo::fold_key(): one fold per (dataset, subject).
  std::string fold_key() const { return dataset + "/" + subject; }
};

struct ExcludedClip {
  std::string dataset;
  std::string subject;
  std::string clip;
  std::string reason;
};

struct Selection {
  std::string protocol;
  std::vector<std::string> class_names;  // index = label
  std::vector<ProtocolSample> samples;
  std::vector<ExcludedClip> excluded;  // clips read but not selected, with the reason
  // Non-fatal disagreements, e.g. an official MEGC2019 label that differs from the rule, or
  // an entry of the official list that no sheet has.
  std::vector<std::string> notes;

  // Samples per class, index = label.
  std::vector<int64_t> class_counts() const;
  // Distinct fold keys (dataset/subject), sorted.
  std::vector<std::string> fold_keys() const;
  // The samples of one dataset part.
  std::vector<const ProtocolSample*> part(const std::string& dataset) const;
};

struct ProtocolOptions {
  // megc2019: the official sample list (megc2019_combined_3class_gt.csv: dataset, subject,
  // clip, label; no header). Empty = the rule alone (see above).
  MER_ARG(std::string, megc2019_list) = "";
  // Clips to leave out whatever the protocol (e.g. flagged_clips() of clips.csv).
  MER_ARG(std::vector<ClipRef>, exclude) = {};
  // objective: the classes kept, as numbers 1..7; label = position in this list.
  MER_ARG(std::vector<int>, objective_classes) = std::vector<int>({1, 2, 3, 4, 5});

 public:  // MER_ARG leaves the access at private
  // Throws ConfigError for objective classes outside 1..7, repeated or none.
  void validate() const;
};

// The protocols: megc2019, casme2-5class, samm-5class, objective.
const std::vector<std::string>& protocol_names();

// `casme2`, `samm`, `smic`: the clips of each adapter (AnnotationSet::clips).
Selection select_megc2019(const std::vector<ClipAnnotation>& casme2,
                          const std::vector<ClipAnnotation>& samm,
                          const std::vector<ClipAnnotation>& smic,
                          const ProtocolOptions& options = {});
Selection select_casme2_5class(const std::vector<ClipAnnotation>& casme2,
                               const ProtocolOptions& options = {});
Selection select_samm_5class(const std::vector<ClipAnnotation>& samm,
                             const ProtocolOptions& options = {});
// `clips` may mix databases (e.g. CASME II 2019 coding + SAMM): folds stay per dataset.
Selection select_objective(const std::vector<ClipAnnotation>& clips,
                           const ProtocolOptions& options = {});

// The protocol `name` over adapter outputs keyed by dataset ("casme2", "samm", ...). Throws
// ConfigError for an unknown protocol or a dataset it needs that `parts` lacks.
Selection select_protocol(const std::string& name,
                          const std::map<std::string, std::vector<ClipAnnotation>>& parts,
                          const ProtocolOptions& options = {});

// Clips that carry a flag from their source (clips.csv's flags column), excluding the
// reader's own "frame order" and "apex from" remarks.
std::vector<ClipRef> flagged_clips(const std::vector<ClipAnnotation>& clips);

// One row of the MEGC2019 official list.
struct Megc2019Entry {
  std::string dataset;  // as written: "casme2", "samm", "smic"
  std::string subject;  // as written: "sub01", "6", "s01"
  std::string clip;
  int64_t label = -1;  // 0 negative, 1 positive, 2 surprise
  int row = 0;         // its line
};

// Reads megc2019_combined_3class_gt.csv (no header; CRLF or LF). Throws DataError naming the
// file and line for a row without 4 fields, an unknown dataset or a label outside 0..2.
std::vector<Megc2019Entry> read_megc2019_list(const std::string& path);

}  // namespace mer::data
