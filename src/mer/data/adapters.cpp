#include "mer/data/adapters.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>

#include "mer/core/error.h"
#include "mer/data/sheet.h"

namespace mer::data {
namespace {

// A row that cannot become a clip; caught per row and turned into a SkippedRow.
struct RowError {
  std::string reason;
};

bool all_digits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::string pad(int value, int width) {
  std::string s = std::to_string(value);
  if (static_cast<int>(s.size()) < width) s.insert(0, width - s.size(), '0');
  return s;
}

// A whole number >= 0 as sheets write frame numbers: "46", "034208" (SMIC's zero padding),
// "46.0" (Excel). nullopt for anything else.
std::optional<int> parse_whole(const std::string& text) {
  std::string s = text;
  const auto dot = s.find('.');
  if (dot != std::string::npos) {
    const std::string frac = s.substr(dot + 1);
    if (frac.empty() || !std::all_of(frac.begin(), frac.end(), [](char c) { return c == '0'; })) {
      return std::nullopt;
    }
    s = s.substr(0, dot);
  }
  if (!all_digits(s) || s.size() > 9) return std::nullopt;
  return std::stoi(s);
}

int require_frame(const std::string& text, const char* what) {
  if (text.empty()) throw RowError{std::string("no ") + what + " frame"};
  const auto value = parse_whole(text);
  if (!value) throw RowError{std::string(what) + " frame '" + text + "' is not a whole number"};
  return *value;
}

// Objective classes: "3" (SAMM, CASME II 2019) or "III" (CAS(ME)^3); -1 when blank.
int parse_objective(const std::string& text) {
  if (text.empty()) return -1;
  if (const auto n = parse_whole(text)) {
    if (*n >= 1 && *n <= 7) return *n;
  } else {
    std::string upper = text;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    static const char* const kRoman[] = {"I", "II", "III", "IV", "V", "VI", "VII"};
    for (int k = 0; k < 7; ++k) {
      if (upper == kRoman[k]) return k + 1;
    }
  }
  throw RowError{"objective class '" + text + "' is not 1..7 or I..VII"};
}

// The number in a subject written as "6", "006", "sub06", "s6", "S06", "spNO.6".
std::optional<int> subject_number(const std::string& text) {
  size_t i = text.size();
  while (i > 0 && std::isdigit(static_cast<unsigned char>(text[i - 1]))) --i;
  const std::string prefix = text.substr(0, i);
  const std::string digits = text.substr(i);
  if (digits.empty() || digits.size() > 6) return std::nullopt;
  std::string lower = prefix;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.empty() || lower == "sub" || lower == "s" || lower == "spno.") return std::stoi(digits);
  return std::nullopt;
}

// How one database's sheet maps to ClipAnnotation.
struct DatabaseRules {
  std::string dataset;
  std::vector<ColumnSpec> columns;    // keys: subject clip onset apex offset aus emotion
                                      // objective notes flags
  std::vector<std::string> emotions;  // canonical names the database uses
  // Canonical subject from the sheet's text; throws RowError.
  std::function<std::string(const std::string&)> subject;
  // Canonical clip name from the sheet's text and the canonical subject; throws RowError.
  std::function<std::string(const std::string& clip, const std::string& subject)> clip;
  // `filename`: the sheet's Filename cell (the video folder; CAS(ME)^3 clips are parts of it).
  std::function<FrameLayout(const ClipAnnotation&, const std::string& filename,
                            const AdapterOptions&)>
      frames;
  // CAS(ME)^3 part A: several micro-expressions per video, told apart by their onset.
  bool clip_includes_onset = false;
};

ColumnSpec col(std::string key, std::vector<std::string> names, bool required = true) {
  return ColumnSpec{std::move(key), std::move(names), required};
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

AnnotationSet read_with(const DatabaseRules& rules, const std::string& path,
                        const AdapterOptions& options) {
  const Table table(read_sheet(path, options.sheet()), rules.columns);
  AnnotationSet out;
  out.dataset = rules.dataset;
  out.source = table.source();
  std::map<std::string, int> seen;  // subject/clip -> row
  for (const auto& row : table.rows()) {
    try {
      ClipAnnotation a;
      a.dataset = rules.dataset;
      a.source = table.source();
      a.source_row = row.row;
      const std::string subject = table.get(row, "subject");
      if (subject.empty()) throw RowError{"no subject"};
      a.subject = rules.subject(subject);
      const std::string clip = table.get(row, "clip");
      if (clip.empty()) throw RowError{"no filename (clip name)"};
      a.clip = rules.clip(clip, a.subject);

      a.onset = require_frame(table.get(row, "onset"), "onset");
      if (rules.clip_includes_onset) a.clip += "_" + std::to_string(a.onset);
      if (table.has("apex")) a.apex = require_frame(table.get(row, "apex"), "apex");
      a.offset = require_frame(table.get(row, "offset"), "offset");
      std::string order;
      if (a.apex >= 0 && a.onset > a.apex) {
        order = "onset " + std::to_string(a.onset) + " > apex " + std::to_string(a.apex);
      } else if (a.apex >= 0 && a.apex > a.offset) {
        order = "apex " + std::to_string(a.apex) + " > offset " + std::to_string(a.offset);
      } else if (a.onset > a.offset) {
        order = "onset " + std::to_string(a.onset) + " > offset " + std::to_string(a.offset);
      }
      if (!order.empty()) {
        if (!options.keep_out_of_order()) throw RowError{"frame order: " + order};
        a.flags.push_back("frame order: " + order);
      }

      a.emotion_raw = table.get(row, "emotion");
      if (a.emotion_raw.empty()) throw RowError{"no emotion"};
      a.emotion = canonical_emotion(a.emotion_raw);
      if (std::find(rules.emotions.begin(), rules.emotions.end(), a.emotion) ==
          rules.emotions.end()) {
        throw RowError{"unknown emotion '" + a.emotion_raw + "' (" + rules.dataset + " uses " +
                       join(rules.emotions) + ")"};
      }
      if (table.has("objective")) a.objective_class = parse_objective(table.get(row, "objective"));
      if (table.has("aus"))
        a.action_units = parse_action_units(table.get(row, "aus"), options.action_units());
      if (table.has("notes")) a.notes = table.get(row, "notes");
      if (table.has("flags")) {
        const std::string flags = table.get(row, "flags");
        // clips.csv writes several flags separated by ';'.
        size_t start = 0;
        while (start < flags.size()) {
          const auto semi = flags.find(';', start);
          const std::string f = trim(
              flags.substr(start, semi == std::string::npos ? std::string::npos : semi - start));
          if (!f.empty()) a.flags.push_back(f);
          if (semi == std::string::npos) break;
          start = semi + 1;
        }
      }
      const std::string key = a.subject + "/" + a.clip;
      const auto [it, inserted] = seen.emplace(key, row.row);
      if (!inserted)
        throw RowError{"repeats clip " + key + " of row " + std::to_string(it->second)};
      a.frames = rules.frames(a, clip, options);
      out.clips.push_back(std::move(a));
    } catch (const RowError& e) {
      out.skipped.push_back({table.source(), row.row, e.reason});
    }
  }
  return out;
}

// Subject as a number with a fixed prefix and width: CASME II "01" -> "sub01".
std::function<std::string(const std::string&)> numbered_subject(std::string prefix, int width,
                                                                std::string database) {
  return [=](const std::string& text) {
    const auto n = subject_number(text);
    if (!n) throw RowError{"subject '" + text + "' is not a " + database + " subject number"};
    return prefix + pad(*n, width);
  };
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// SMIC clip names "s1_ne_01" -> MEGC2019's "s01_ne_01"; the number must be the subject's.
std::string smic_clip(const std::string& text, const std::string& subject) {
  const auto underscore = text.find('_');
  const auto n = subject_number(text.substr(0, underscore));
  if (underscore == std::string::npos || !n ||
      std::tolower(static_cast<unsigned char>(text[0])) != 's') {
    throw RowError{"clip '" + text + "' is not an SMIC clip name (s<subject>_<class>_<index>)"};
  }
  const std::string canonical = "s" + pad(*n, 2) + text.substr(underscore);
  if (canonical.substr(0, subject.size() + 1) != subject + "_") {
    throw RowError{"clip '" + text + "' does not belong to subject " + subject};
  }
  return canonical;
}

DatabaseRules casme2_rules() {
  DatabaseRules r;
  r.dataset = "casme2";
  r.columns = {col("subject", {"Subject"}),
               col("clip", {"Filename", "File name", "Clip"}),
               col("onset", {"OnsetFrame", "Onset"}),
               col("apex", {"ApexFrame", "Apex"}),
               col("offset", {"OffsetFrame", "Offset"}),
               col("aus", {"Action Units", "ActionUnits", "AU", "AUs"}),
               col("emotion", {"Estimated Emotion", "Emotion"}),
               col("objective", {"Objective Classes", "Objective Class"}, false),
               col("flags", {"flags"}, false)};
  r.emotions = {"happiness", "disgust", "repression", "surprise", "others", "sadness", "fear"};
  r.subject = numbered_subject("sub", 2, "CASME II");
  r.clip = [](const std::string& clip, const std::string&) { return clip; };
  r.frames = [](const ClipAnnotation& a, const std::string&, const AdapterOptions& o) {
    FrameLayout f;
    f.folders = {a.subject + "/" + a.clip};
    f.patterns = o.raw_frames() ? std::vector<std::string>{"img{n}.jpg", "reg_img{n}.jpg"}
                                : std::vector<std::string>{"reg_img{n}.jpg", "img{n}.jpg"};
    return f;
  };
  return r;
}

DatabaseRules samm_rules() {
  DatabaseRules r;
  r.dataset = "samm";
  r.columns = {col("subject", {"Subject"}),
               col("clip", {"Filename", "File name"}),
               col("onset", {"Onset Frame", "Onset"}),
               col("apex", {"Apex Frame", "Apex"}),
               col("offset", {"Offset Frame", "Offset"}),
               col("aus", {"Action Units", "AU"}),
               col("emotion", {"Estimated Emotion", "Emotion"}),
               col("objective", {"Objective Classes", "Objective Class"}, false),
               col("notes", {"Notes"}, false)};
  r.emotions = {"anger",     "contempt", "disgust",  "fear",
                "happiness", "sadness",  "surprise", "others"};
  r.subject = numbered_subject("", 3, "SAMM");
  r.clip = [](const std::string& clip, const std::string& subject) {
    if (clip.substr(0, subject.size() + 1) != subject + "_") {
      throw RowError{"clip '" + clip + "' does not belong to subject " + subject};
    }
    return clip;
  };
  r.frames = [](const ClipAnnotation& a, const std::string&, const AdapterOptions&) {
    FrameLayout f;
    f.folders = {a.subject + "/" + a.clip};
    f.patterns = {a.subject + "_{n:05}.jpg", a.subject + "_{n}.jpg"};
    return f;
  };
  return r;
}

DatabaseRules smic_rules() {
  DatabaseRules r;
  r.dataset = "smic";
  r.columns = {col("subject", {"Subject"}),
               col("clip", {"Filename", "File name", "clip"}),
               col("onset", {"OnsetFrame", "Onset", "onset_frame"}),
               col("apex", {"ApexFrame", "Apex", "apex_frame"}, false),
               col("offset", {"OffsetFrame", "Offset", "offset_frame"}),
               col("emotion", {"Estimated Emotion", "Emotion"})};
  r.emotions = {"negative", "positive", "surprise"};
  r.subject = numbered_subject("s", 2, "SMIC");
  r.clip = smic_clip;
  r.frames = [](const ClipAnnotation& a, const std::string&, const AdapterOptions&) {
    // The original release names folders without zero padding: s1/.../s1_ne_01.
    const int n = *subject_number(a.subject);
    const std::string s = "s" + std::to_string(n);
    const std::string original_clip = s + a.clip.substr(a.clip.find('_'));
    FrameLayout f;
    f.folders = {s + "/micro/" + a.emotion + "/" + original_clip,
                 "HS/" + s + "/micro/" + a.emotion + "/" + original_clip,
                 a.subject + "/" + original_clip,  // HS_long (smic_apex.xlsx paths)
                 s + "/" + original_clip, a.subject + "/" + a.clip};
    f.patterns = {"image{n:06}.bmp",     "reg_image{n:06}.bmp", "image{n:06}.jpg",
                  "reg_image{n:06}.jpg", "image{n}.bmp",        "image{n}.jpg"};
    return f;
  };
  return r;
}

DatabaseRules casme3_rules() {
  DatabaseRules r;
  r.dataset = "casme3";
  r.columns = {col("subject", {"Subject"}),
               col("clip", {"Filename", "File name"}),
               col("onset", {"Onset", "OnsetFrame"}),
               col("apex", {"Apex", "ApexFrame"}),
               col("offset", {"Offset", "OffsetFrame"}),
               col("aus", {"AU", "Action Units"}),
               col("emotion", {"emotion", "Estimated Emotion"}),
               col("objective", {"Objective class", "Objective Classes"}, false)};
  r.emotions = {"happiness", "sadness", "disgust", "surprise", "fear", "anger", "others"};
  r.subject = [](const std::string& text) {
    // The sheet writes "spNO.1"; a bare number is the same subject.
    const auto n = subject_number(text);
    if (!n) throw RowError{"subject '" + text + "' is not a CAS(ME)^3 subject (spNO.<n>)"};
    return "spNO." + std::to_string(*n);
  };
  r.clip = [](const std::string& clip, const std::string&) { return clip; };
  r.clip_includes_onset = true;
  r.frames = [](const ClipAnnotation& a, const std::string& filename, const AdapterOptions&) {
    FrameLayout f;
    f.folders = {a.subject + "/" + filename + "/color", a.subject + "/" + filename};
    f.patterns = {"{n}.jpg", "{n}.png"};
    return f;
  };
  return r;
}

DatabaseRules mmew_rules() {
  DatabaseRules r;
  r.dataset = "mmew";
  r.columns = {col("subject", {"Subject"}),
               col("clip", {"Filename", "File name"}),
               col("onset", {"OnsetFrame", "Onset"}),
               col("apex", {"ApexFrame", "Apex"}),
               col("offset", {"OffsetFrame", "Offset"}),
               col("aus", {"Action Units", "AU"}),
               col("emotion", {"Estimated Emotion", "Emotion"}),
               col("notes", {"remarks", "Notes"}, false)};
  r.emotions = {"happiness", "surprise", "disgust", "fear", "sadness", "anger", "others"};
  r.subject = numbered_subject("S", 2, "MMEW");
  r.clip = [](const std::string& clip, const std::string& subject) {
    if (lower(clip.substr(0, subject.size() + 1)) != lower(subject + "-")) {
      throw RowError{"clip '" + clip + "' does not belong to subject " + subject};
    }
    return clip;
  };
  r.frames = [](const ClipAnnotation& a, const std::string&, const AdapterOptions&) {
    FrameLayout f;
    f.folders = {a.emotion + "/" + a.clip, "Micro_Expression/" + a.emotion + "/" + a.clip, a.clip};
    f.patterns = {"{n}.jpg", "{n:03}.jpg", "{n}.bmp"};
    return f;
  };
  return r;
}

void merge_smic_apex(AnnotationSet& set, const std::string& path) {
  const Table table(read_sheet(path), {col("subject", {"subject", "Subject"}, false),
                                       col("clip", {"clip", "Filename"}),
                                       col("onset", {"onset_frame", "OnsetFrame", "Onset"}, false),
                                       col("apex", {"apex_frame", "ApexFrame", "Apex"})});
  std::map<std::string, ClipAnnotation*> by_clip;
  for (auto& c : set.clips) by_clip[c.clip] = &c;
  for (const auto& row : table.rows()) {
    const std::string where = table.where(row) + ": ";
    const std::string clip_text = table.get(row, "clip");
    std::string clip;
    try {
      const auto n = subject_number(clip_text.substr(0, clip_text.find('_')));
      if (!n) throw RowError{};
      clip = smic_clip(clip_text, "s" + pad(*n, 2));
    } catch (const RowError&) {
      set.notes.push_back(where + "clip '" + clip_text +
                          "' is not an SMIC clip name; apex not used");
      continue;
    }
    const auto it = by_clip.find(clip);
    if (it == by_clip.end()) {
      set.notes.push_back(where + "clip " + clip +
                          " is not among the SMIC clips read; apex not used");
      continue;
    }
    ClipAnnotation& a = *it->second;
    const auto apex = parse_whole(table.get(row, "apex"));
    if (!apex) {
      set.notes.push_back(where + "apex '" + table.get(row, "apex") + "' of " + clip +
                          " is not a whole number; apex not used");
      continue;
    }
    if (*apex < a.onset || *apex > a.offset) {
      set.notes.push_back(where + "apex " + std::to_string(*apex) + " of " + clip +
                          " is outside its " + std::to_string(a.onset) + ".." +
                          std::to_string(a.offset) + "; apex not used");
      continue;
    }
    a.apex = *apex;
    a.flags.push_back("apex from " + table.where(row));
  }
}

}  // namespace

const ClipAnnotation* AnnotationSet::find(const std::string& subject,
                                          const std::string& clip) const {
  for (const auto& c : clips) {
    if (c.subject == subject && c.clip == clip) return &c;
  }
  return nullptr;
}

void AdapterOptions::validate(const std::string& database) const {
  const auto& names = database_names();
  if (std::find(names.begin(), names.end(), database) == names.end()) {
    throw ConfigError("unknown database '" + database + "' (known: " + join(names) + ")");
  }
  if (raw_frames_ && database != "casme2") {
    throw ConfigError("raw_frames applies to casme2 only, not to " + database);
  }
  if (!smic_apex_sheet_.empty() && database != "smic") {
    throw ConfigError("smic_apex_sheet applies to smic only, not to " + database);
  }
}

const std::vector<std::string>& database_names() {
  static const std::vector<std::string> kNames = {"casme2", "samm", "smic", "casme3", "mmew"};
  return kNames;
}

AnnotationSet read_casme2(const std::string& path, const AdapterOptions& options) {
  options.validate("casme2");
  return read_with(casme2_rules(), path, options);
}

AnnotationSet read_samm(const std::string& path, const AdapterOptions& options) {
  options.validate("samm");
  return read_with(samm_rules(), path, options);
}

AnnotationSet read_smic(const std::string& path, const AdapterOptions& options) {
  options.validate("smic");
  AnnotationSet set = read_with(smic_rules(), path, options);
  if (!options.smic_apex_sheet().empty()) merge_smic_apex(set, options.smic_apex_sheet());
  return set;
}

AnnotationSet read_casme3(const std::string& path, const AdapterOptions& options) {
  options.validate("casme3");
  return read_with(casme3_rules(), path, options);
}

AnnotationSet read_mmew(const std::string& path, const AdapterOptions& options) {
  options.validate("mmew");
  return read_with(mmew_rules(), path, options);
}

AnnotationSet read_annotations(const std::string& database, const std::string& path,
                               const AdapterOptions& options) {
  options.validate(database);  // before dispatching: an unknown name must not reach read_mmew
  if (database == "casme2") return read_casme2(path, options);
  if (database == "samm") return read_samm(path, options);
  if (database == "smic") return read_smic(path, options);
  if (database == "casme3") return read_casme3(path, options);
  return read_mmew(path, options);
}

}  // namespace mer::data
