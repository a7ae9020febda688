#include "mer/data/protocols.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/data/sheet.h"

namespace mer::data {
namespace {

const std::vector<std::string> kMegc2019Classes = {"negative", "positive", "surprise"};

// Two CASME II clips that the rule selects but the official MEGC2019 list lacks (both
// disgust; the challenge did not say why).
const ClipRef kMegc2019Casme2Absent[] = {{"casme2", "sub04", "EP12_01f"},
                                         {"casme2", "sub05", "EP09_05f"}};

std::optional<int> trailing_number(const std::string& text) {
  size_t i = text.size();
  while (i > 0 && std::isdigit(static_cast<unsigned char>(text[i - 1]))) --i;
  if (i == text.size() || text.size() - i > 6) return std::nullopt;
  return std::stoi(text.substr(i));
}

// SMIC clip names as MEGC2019 writes them: "s1_ne_01" -> "s01_ne_01".
std::string smic_canonical_clip(const std::string& clip) {
  const auto underscore = clip.find('_');
  if (underscore == std::string::npos) return clip;
  const auto n = trailing_number(clip.substr(0, underscore));
  if (!n) return clip;
  std::string number = std::to_string(*n);
  if (number.size() < 2) number.insert(0, 2 - number.size(), '0');
  return "s" + number + clip.substr(underscore);
}

int64_t megc2019_rule(const ClipAnnotation& a) {
  const std::string& e = a.emotion;
  if (e == "happiness" || e == "positive") return 1;
  if (e == "surprise") return 2;
  if (a.dataset == "casme2") return (e == "disgust" || e == "repression") ? 0 : -1;
  if (a.dataset == "samm") {
    return (e == "anger" || e == "contempt" || e == "disgust" || e == "fear" || e == "sadness")
               ? 0
               : -1;
  }
  return e == "negative" ? 0 : -1;
}

bool excluded_by_caller(const ClipAnnotation& a, const ProtocolOptions& options) {
  return std::any_of(options.exclude().begin(), options.exclude().end(),
                     [&](const ClipRef& r) { return r.matches(a); });
}

ExcludedClip exclusion(const ClipAnnotation& a, std::string reason) {
  return {a.dataset, a.subject, a.clip, std::move(reason)};
}

ProtocolSample make_sample(const ClipAnnotation& a, int64_t label,
                           const std::vector<std::string>& names) {
  return ProtocolSample{a.dataset, a.subject, a.clip, label, names[static_cast<size_t>(label)], a};
}

void require_dataset(const std::vector<ClipAnnotation>& clips, const std::string& dataset,
                     const std::string& protocol) {
  for (const auto& c : clips) {
    if (c.dataset != dataset) {
      throw ConfigError(protocol + " takes " + dataset + " clips, got " + c.key());
    }
  }
}

// Selection by a fixed emotion -> class table over one database.
Selection by_emotion(const std::string& protocol, const std::vector<ClipAnnotation>& clips,
                     const std::string& dataset, const std::vector<std::string>& class_names,
                     const std::vector<std::pair<std::string, std::string>>& emotion_to_class,
                     const ProtocolOptions& options) {
  options.validate();
  require_dataset(clips, dataset, protocol);
  Selection s;
  s.protocol = protocol;
  s.class_names = class_names;
  for (const auto& a : clips) {
    if (excluded_by_caller(a, options)) {
      s.excluded.push_back(exclusion(a, "on the exclusion list (flagged, --exclude-flagged)"));
      continue;
    }
    int64_t label = -1;
    for (const auto& [emotion, cls] : emotion_to_class) {
      if (a.emotion == emotion) {
        label = std::find(class_names.begin(), class_names.end(), cls) - class_names.begin();
      }
    }
    if (label < 0) {
      s.excluded.push_back(exclusion(a, "emotion " + a.emotion + " is not one of the classes"));
      continue;
    }
    s.samples.push_back(make_sample(a, label, class_names));
  }
  return s;
}

std::string roman(int n) {
  static const char* const kRoman[] = {"I", "II", "III", "IV", "V", "VI", "VII"};
  return kRoman[n - 1];
}

}  // namespace

bool ClipRef::matches(const ClipAnnotation& a) const {
  return (dataset.empty() || dataset == a.dataset) && subject == a.subject && clip == a.clip;
}

std::vector<int64_t> Selection::class_counts() const {
  std::vector<int64_t> counts(class_names.size(), 0);
  for (const auto& s : samples) ++counts[static_cast<size_t>(s.label)];
  return counts;
}

std::vector<std::string> Selection::fold_keys() const {
  std::set<std::string> keys;
  for (const auto& s : samples) keys.insert(s.fold_key());
  return {keys.begin(), keys.end()};
}

std::vector<const ProtocolSample*> Selection::part(const std::string& dataset) const {
  std::vector<const ProtocolSample*> out;
  for (const auto& s : samples) {
    if (s.dataset == dataset) out.push_back(&s);
  }
  return out;
}

void ProtocolOptions::validate() const {
  if (objective_classes_.empty()) throw ConfigError("objective_classes: no class selected");
  std::set<int> seen;
  for (const int c : objective_classes_) {
    if (c < 1 || c > 7) {
      throw ConfigError("objective_classes: " + std::to_string(c) +
                        " is not a class 1..7 (I..VII)");
    }
    if (!seen.insert(c).second) {
      throw ConfigError("objective_classes: class " + std::to_string(c) + " is listed twice");
    }
  }
}

const std::vector<std::string>& protocol_names() {
  static const std::vector<std::string> kNames = {"megc2019", "casme2-5class", "samm-5class",
                                                  "objective"};
  return kNames;
}

std::vector<Megc2019Entry> read_megc2019_list(const std::string& path) {
  std::vector<Megc2019Entry> entries;
  for (const auto& row : csv::read_file(path)) {
    const std::string where = path + ":" + std::to_string(row.line) + ": ";
    if (row.fields.size() != 4) {
      throw DataError(where + "expected 4 fields (dataset, subject, clip, label), found " +
                      std::to_string(row.fields.size()));
    }
    Megc2019Entry e;
    e.dataset = trim(row.fields[0]);
    e.subject = trim(row.fields[1]);
    e.clip = trim(row.fields[2]);
    e.row = row.line;
    if (e.dataset != "casme2" && e.dataset != "samm" && e.dataset != "smic") {
      throw DataError(where + "unknown dataset '" + e.dataset + "' (casme2, samm or smic)");
    }
    const std::string label = trim(row.fields[3]);
    if (label != "0" && label != "1" && label != "2") {
      throw DataError(where + "label '" + label + "' is not 0, 1 or 2");
    }
    e.label = label[0] - '0';
    if (e.subject.empty() || e.clip.empty()) throw DataError(where + "empty subject or clip");
    entries.push_back(std::move(e));
  }
  return entries;
}

Selection select_megc2019(const std::vector<ClipAnnotation>& casme2,
                          const std::vector<ClipAnnotation>& samm,
                          const std::vector<ClipAnnotation>& smic, const ProtocolOptions& options) {
  options.validate();
  require_dataset(casme2, "casme2", "megc2019");
  require_dataset(samm, "samm", "megc2019");
  require_dataset(smic, "smic", "megc2019");
  Selection s;
  s.protocol = "megc2019";
  s.class_names = kMegc2019Classes;
  // The list's order: CASME II, SMIC, SAMM.
  std::vector<const ClipAnnotation*> all;
  for (const auto* part : {&casme2, &smic, &samm}) {
    for (const auto& a : *part) all.push_back(&a);
  }
  std::vector<bool> used(all.size(), false);
  auto leave_out = [&](size_t k, const std::string& reason) {
    s.excluded.push_back(exclusion(*all[k], reason));
    used[k] = true;
  };
  for (size_t k = 0; k < all.size(); ++k) {
    if (excluded_by_caller(*all[k], options)) leave_out(k, "on the exclusion list (flagged, --exclude-flagged)");
  }

  if (options.megc2019_list().empty()) {
    for (size_t k = 0; k < all.size(); ++k) {
      if (used[k]) continue;
      const ClipAnnotation& a = *all[k];
      const int64_t label = megc2019_rule(a);
      if (label < 0) {
        leave_out(k, "emotion " + a.emotion + " is not in the MEGC2019 classes");
        continue;
      }
      const bool absent =
          std::any_of(std::begin(kMegc2019Casme2Absent), std::end(kMegc2019Casme2Absent),
                      [&](const ClipRef& r) { return r.matches(a); });
      if (absent) {
        leave_out(k, "not in the official MEGC2019 list");
        continue;
      }
      s.samples.push_back(make_sample(a, label, s.class_names));
      used[k] = true;
    }
    return s;
  }

  const std::string& list = options.megc2019_list();
  for (const auto& e : read_megc2019_list(list)) {
    const auto subject = trailing_number(e.subject);
    const std::string clip = e.dataset == "smic" ? smic_canonical_clip(e.clip) : e.clip;
    long found = -1;
    for (size_t k = 0; k < all.size() && found < 0; ++k) {
      const ClipAnnotation& a = *all[k];
      if (a.dataset == e.dataset && a.clip == clip && subject &&
          trailing_number(a.subject) == subject) {
        found = static_cast<long>(k);
      }
    }
    const std::string where =
        list + ":" + std::to_string(e.row) + ": " + e.dataset + " " + e.subject + "/" + e.clip;
    if (found < 0) {
      s.notes.push_back(where + " is in the MEGC2019 list but not among the clips read");
      continue;
    }
    if (used[found]) {
      // Excluded by the caller, or listed twice.
      if (excluded_by_caller(*all[found], options)) continue;
      s.notes.push_back(where + " is listed twice; the first entry is kept");
      continue;
    }
    const ClipAnnotation& a = *all[found];
    const int64_t rule = megc2019_rule(a);
    if (rule != e.label) {
      s.notes.push_back(where + ": the list's label " + kMegc2019Classes[e.label] +
                        " is kept; the sheet's emotion " + a.emotion + " would give " +
                        (rule < 0 ? std::string("no class") : kMegc2019Classes[rule]));
    }
    s.samples.push_back(make_sample(a, e.label, s.class_names));
    used[found] = true;
  }
  for (size_t k = 0; k < all.size(); ++k) {
    if (used[k]) continue;
    const ClipAnnotation& a = *all[k];
    leave_out(k, megc2019_rule(a) < 0 ? "emotion " + a.emotion + " is not in the MEGC2019 classes"
                                      : "not in the MEGC2019 list " + list);
  }
  return s;
}

Selection select_casme2_5class(const std::vector<ClipAnnotation>& casme2,
                               const ProtocolOptions& options) {
  return by_emotion("casme2-5class", casme2, "casme2",
                    {"happiness", "disgust", "repression", "surprise", "others"},
                    {{"happiness", "happiness"},
                     {"disgust", "disgust"},
                     {"repression", "repression"},
                     {"surprise", "surprise"},
                     {"others", "others"}},
                    options);
}

Selection select_samm_5class(const std::vector<ClipAnnotation>& samm,
                             const ProtocolOptions& options) {
  return by_emotion("samm-5class", samm, "samm",
                    {"anger", "contempt", "happiness", "surprise", "other"},
                    {{"anger", "anger"},
                     {"contempt", "contempt"},
                     {"happiness", "happiness"},
                     {"surprise", "surprise"},
                     {"others", "other"}},
                    options);
}

Selection select_objective(const std::vector<ClipAnnotation>& clips,
                           const ProtocolOptions& options) {
  options.validate();
  Selection s;
  s.protocol = "objective";
  for (const int c : options.objective_classes()) s.class_names.push_back(roman(c));
  for (const auto& a : clips) {
    if (excluded_by_caller(a, options)) {
      s.excluded.push_back(exclusion(a, "on the exclusion list (flagged, --exclude-flagged)"));
      continue;
    }
    if (a.objective_class < 0) {
      s.excluded.push_back(exclusion(a, "no objective class in " + a.source));
      continue;
    }
    const auto& classes = options.objective_classes();
    const auto it = std::find(classes.begin(), classes.end(), a.objective_class);
    if (it == classes.end()) {
      s.excluded.push_back(
          exclusion(a, "objective class " + roman(a.objective_class) + " is not selected"));
      continue;
    }
    s.samples.push_back(make_sample(a, it - classes.begin(), s.class_names));
  }
  return s;
}

Selection select_protocol(const std::string& name,
                          const std::map<std::string, std::vector<ClipAnnotation>>& parts,
                          const ProtocolOptions& options) {
  auto need = [&](const std::string& dataset) -> const std::vector<ClipAnnotation>& {
    const auto it = parts.find(dataset);
    if (it == parts.end()) {
      throw ConfigError("protocol " + name + " needs the " + dataset + " annotations");
    }
    return it->second;
  };
  if (name == "megc2019")
    return select_megc2019(need("casme2"), need("samm"), need("smic"), options);
  if (name == "casme2-5class") return select_casme2_5class(need("casme2"), options);
  if (name == "samm-5class") return select_samm_5class(need("samm"), options);
  if (name == "objective") {
    if (parts.empty())
      throw ConfigError("protocol objective needs at least one database's annotations");
    std::vector<ClipAnnotation> all;
    for (const auto& [dataset, clips] : parts) all.insert(all.end(), clips.begin(), clips.end());
    return select_objective(all, options);
  }
  std::string names;
  for (const auto& n : protocol_names()) names += (names.empty() ? "" : ", ") + n;
  throw ConfigError("unknown protocol '" + name + "' (known: " + names + ")");
}

std::vector<ClipRef> flagged_clips(const std::vector<ClipAnnotation>& clips) {
  std::vector<ClipRef> out;
  for (const auto& a : clips) {
    const bool source_flag = std::any_of(a.flags.begin(), a.flags.end(), [](const std::string& f) {
      return f.rfind("frame order", 0) != 0 && f.rfind("apex from", 0) != 0;
    });
    if (source_flag) out.push_back({a.dataset, a.subject, a.clip});
  }
  return out;
}

}  // namespace mer::data
