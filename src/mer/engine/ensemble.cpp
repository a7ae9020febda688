#include "mer/engine/ensemble.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "mer/core/atomic_file.h"
#include "mer/core/error.h"
#include "mer/core/version.h"
#include "mer/data/dataset.h"
#include "mer/engine/loso.h"
#include "mer/engine/results.h"

namespace fs = std::filesystem;

namespace mer::engine {

namespace {

struct MemberSample {
  int64_t index = 0;  // position in the run's data (the same data for every member)
  std::string part, subject, sample;
  int64_t label = 0;
  std::vector<double> probabilities;
  int64_t last_epoch_prediction = 0;
  std::vector<double> last_epoch_probabilities;  // oracle and inner-val runs; may be absent
};

struct MemberFold {
  std::vector<MemberSample> samples;
  double seconds = 0;
};

struct Member {
  std::string dir;
  nlohmann::json settings;  // run.json "settings"
  nlohmann::json summary;   // summary.json
  std::string protocol;
  std::string group_by;
  std::map<std::string, MemberFold> folds;  // by fold key
};

nlohmann::json read_json_file(const fs::path& path, const std::string& run) {
  std::ifstream in(path);
  if (!in) {
    throw DataError(path.string() + ": not found (is " + run +
                    " a finished `mer loso` or `mer ensemble` output?)");
  }
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw DataError(path.string() + ": unreadable JSON (" + e.what() + ")");
  }
}

Member read_member(const std::string& dir) {
  if (!fs::is_directory(dir)) throw DataError(dir + ": not a folder");
  Member m;
  m.dir = dir;
  const auto run = read_json_file(fs::path(dir) / "run.json", dir);
  m.summary = read_json_file(fs::path(dir) / "summary.json", dir);
  if (run.value("version", -1) != kResultsVersion || !run.contains("settings")) {
    throw DataError(dir + "/run.json: not a run file of a results version this mer reads");
  }
  m.settings = run.at("settings");
  m.protocol = m.settings.value("protocol", std::string());
  m.group_by = m.settings.value("group_by", std::string("subject"));
  parse_protocol(m.protocol);  // throws on an unknown protocol
  const fs::path folds = fs::path(dir) / "folds";
  if (fs::is_directory(folds)) {
    for (const auto& entry : fs::directory_iterator(folds)) {
      const fs::path file = entry.path() / "fold.json";
      if (!fs::is_regular_file(file)) continue;  // an unfinished fold
      const auto j = read_json_file(file, dir);
      try {
        if (j.value("version", -1) != kResultsVersion) {
          throw DataError("unknown results version");
        }
        const auto key = j.at("fold").get<std::string>();
        MemberFold fold;
        fold.seconds = j.value("seconds", 0.0);
        for (const auto& s : j.at("samples")) {
          MemberSample sample;
          sample.index = s.at("index").get<int64_t>();
          sample.sample = s.at("sample").get<std::string>();
          sample.label = s.at("label").get<int64_t>();
          sample.probabilities = s.at("probabilities").get<std::vector<double>>();
          sample.last_epoch_prediction = s.at("last_epoch_pred").get<int64_t>();
          if (s.contains("last_epoch_probabilities")) {
            sample.last_epoch_probabilities =
                s.at("last_epoch_probabilities").get<std::vector<double>>();
          }
          // The fold key is "part/subject" when folds are subjects, the part when they are
          // databases (then each sample names its subject).
          if (m.group_by == "dataset") {
            sample.part = key;
            sample.subject = s.at("subject").get<std::string>();
          } else {
            const auto slash = key.find('/');
            sample.part = key.substr(0, slash);
            sample.subject = s.value("subject", slash == std::string::npos ? key : key.substr(slash + 1));
          }
          fold.samples.push_back(std::move(sample));
        }
        m.folds[key] = std::move(fold);
      } catch (const DataError& e) {
        throw DataError(file.string() + ": " + e.what());
      } catch (const std::exception& e) {
        throw DataError(file.string() + ": not a mer fold result (" + e.what() + ")");
      }
    }
  }
  if (m.folds.empty()) throw DataError(dir + ": no finished folds (folds/*/fold.json)");
  return m;
}

std::string listed_briefly(const std::vector<std::string>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size() && i < 5; ++i) out += (i ? ", " : "") + keys[i];
  if (keys.size() > 5) out += " and " + std::to_string(keys.size() - 5) + " more";
  return out;
}

// Refuses a member that cannot be averaged with the first: other data, classes, grouping or
// finished folds.
void check_compatible(const Member& first, const Member& m) {
  const auto data_of = [](const Member& r) {
    return r.summary.value("data", std::string("?")) + ", checksum " +
           r.settings.value("data_checksum", std::string("?"));
  };
  if (m.settings.value("data_checksum", std::string()) !=
      first.settings.value("data_checksum", std::string())) {
    throw DataError(m.dir + " was trained on other data than " + first.dir + " (" + data_of(m) +
                    " against " + data_of(first) +
                    "): an ensemble averages predictions of the same test samples");
  }
  if (m.summary.value("class_names", nlohmann::json()) !=
      first.summary.value("class_names", nlohmann::json())) {
    throw DataError(m.dir + " has other classes than " + first.dir);
  }
  if (m.group_by != first.group_by) {
    throw DataError(m.dir + " holds out one " + m.group_by + " per fold, " + first.dir +
                    " one " + first.group_by + ": an ensemble needs the same folds");
  }
  std::vector<std::string> missing, extra;
  for (const auto& [key, fold] : first.folds) {
    if (!m.folds.count(key)) missing.push_back(key);
  }
  for (const auto& [key, fold] : m.folds) {
    if (!first.folds.count(key)) extra.push_back(key);
  }
  if (!missing.empty() || !extra.empty()) {
    std::string what;
    if (!missing.empty()) what += "it lacks " + listed_briefly(missing);
    if (!extra.empty()) what += std::string(what.empty() ? "" : "; ") + "it has " + listed_briefly(extra) + " too";
    throw DataError(m.dir + " has other finished folds than " + first.dir + " (" + what +
                    "): an ensemble needs the same folds in every run (same --folds, finished)");
  }
  for (const auto& [key, fold] : first.folds) {
    const auto& other = m.folds.at(key);
    bool same = other.samples.size() == fold.samples.size();
    for (size_t i = 0; same && i < fold.samples.size(); ++i) {
      same = other.samples[i].index == fold.samples[i].index &&
             other.samples[i].sample == fold.samples[i].sample &&
             other.samples[i].probabilities.size() == fold.samples[i].probabilities.size();
    }
    if (!same) {
      throw DataError(m.dir + ": fold " + key + " holds other test samples than in " + first.dir);
    }
  }
}

std::string ensemble_protocol(const std::vector<Member>& members) {
  bool oracle = false, all_honest = true;
  for (const auto& m : members) {
    oracle = oracle || m.protocol == protocol_name(Protocol::kOracle);
    all_honest = all_honest && m.protocol == protocol_name(Protocol::kHonest);
  }
  if (oracle) return protocol_name(Protocol::kOracle);
  return all_honest ? protocol_name(Protocol::kHonest) : protocol_name(Protocol::kInnerVal);
}

std::string ensemble_note(const std::vector<Member>& members, const std::string& protocol) {
  const std::string n = std::to_string(members.size());
  if (protocol == protocol_name(Protocol::kOracle)) {
    int64_t oracles = 0;
    for (const auto& m : members) oracles += m.protocol == protocol_name(Protocol::kOracle);
    return "ORACLE ensemble: " + std::to_string(oracles) + " of its " + n +
           " runs chose their epoch by accuracy on the TEST subject; inflated, for reproducing "
           "paper tables only, not an honest estimate";
  }
  if (protocol == protocol_name(Protocol::kHonest)) {
    return "honest ensemble of " + n + " runs: mean class probabilities of their last-epoch "
           "models; no test subject was looked at";
  }
  return "inner-val ensemble of " + n + " runs: mean class probabilities of models whose epochs "
         "were fixed or chosen on inner-validation subjects; no test subject was looked at";
}

int64_t first_argmax(const std::vector<double>& values) {
  return std::max_element(values.begin(), values.end()) - values.begin();
}

// A common value of a setting over the members, or null when they differ.
nlohmann::json common_setting(const std::vector<Member>& members, const char* key) {
  const auto value = members.front().summary.value(key, nlohmann::json());
  for (const auto& m : members) {
    if (m.summary.value(key, nlohmann::json()) != value) return nullptr;
  }
  return value;
}

// The probabilities of a member's last-epoch model for a sample (its reported ones when the
// run is honest), or nullptr where the run did not record them.
const std::vector<double>* last_epoch_probabilities(const Member& m, const MemberSample& s) {
  if (m.protocol == protocol_name(Protocol::kHonest)) return &s.probabilities;
  return s.last_epoch_probabilities.empty() ? nullptr : &s.last_epoch_probabilities;
}

bool records_last_epoch_probabilities(const Member& m) {
  for (const auto& [key, fold] : m.folds) {
    for (const auto& s : fold.samples) {
      if (!last_epoch_probabilities(m, s)) return false;
    }
  }
  return true;
}

std::string run_name(const std::string& dir) {
  const fs::path p = fs::path(dir).lexically_normal();
  const auto name = p.filename().string();
  return name.empty() ? p.parent_path().filename().string() : name;
}

void prepare_out(const fs::path& out, const std::vector<Member>& members) {
  std::error_code ec;
  for (const auto& m : members) {
    if (fs::exists(out) && fs::equivalent(out, m.dir, ec)) {
      throw ConfigError("--out " + out.string() + " is one of the runs; write the ensemble to "
                        "another folder");
    }
  }
  if (fs::is_regular_file(out / "run.json")) {
    nlohmann::json previous;
    try {
      std::ifstream in(out / "run.json");
      previous = nlohmann::json::parse(in);
    } catch (const std::exception&) {
    }
    if (!previous.contains("ensemble")) {
      throw ConfigError("--out " + out.string() + " holds a run that is not an ensemble; use "
                        "another folder");
    }
    fs::remove_all(out / "folds", ec);  // an earlier ensemble's folds are replaced
  }
  fs::create_directories(out / "folds", ec);
  if (ec) throw ConfigError(out.string() + ": cannot create output folder: " + ec.message());
}

}  // namespace

EnsembleResult make_ensemble(const std::vector<std::string>& runs, const std::string& out_dir,
                             const EnsembleOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (runs.empty()) throw ConfigError("an ensemble needs at least one run");
  if (out_dir.empty()) throw ConfigError("--out: give the folder to write the ensemble to");
  std::vector<double> weights = options.weights();
  if (weights.empty()) weights.assign(runs.size(), 1.0);
  if (weights.size() != runs.size()) {
    throw ConfigError("--weights: " + std::to_string(weights.size()) + " weights for " +
                      std::to_string(runs.size()) + " runs (give one per run, in their order)");
  }
  for (double w : weights) {
    if (!(w > 0.0) || !std::isfinite(w)) {
      throw ConfigError("--weights: every weight must be a positive finite number");
    }
  }
  std::vector<Member> members;
  for (size_t i = 0; i < runs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      std::error_code ec;
      if (runs[i] == runs[j] || (fs::exists(runs[i]) && fs::equivalent(runs[i], runs[j], ec))) {
        throw ConfigError(runs[i] + " is given twice (give it once; --weights weighs a run more)");
      }
    }
    members.push_back(read_member(runs[i]));
    if (i > 0) check_compatible(members.front(), members.back());
  }
  const auto& first = members.front();
  bool every_last_epoch_recorded = true;
  for (const auto& m : members) {
    if (records_last_epoch_probabilities(m)) continue;
    every_last_epoch_recorded = false;
    if (options.last_epoch()) {
      throw DataError(m.dir + ": its folds hold no last-epoch probabilities (`mer loso` records "
                      "them under --protocol oracle and inner-val; this run is older): train it "
                      "again, or leave out --last-epoch");
    }
  }
  // Every member's last-epoch model saw no test subject in any choice: the ensemble of them
  // is honest whatever the members' own protocols.
  const std::string protocol =
      options.last_epoch() ? protocol_name(Protocol::kHonest) : ensemble_protocol(members);
  const bool oracle = protocol == protocol_name(Protocol::kOracle);
  double weight_sum = 0;
  for (double w : weights) weight_sum += w;

  // The test samples as a dataset of their own (only what results need: identity, label,
  // classes); `original` maps its indices back to the runs' data.
  data::Dataset tested;
  tested.class_names = first.summary.at("class_names").get<std::vector<std::string>>();
  const auto num_classes = static_cast<int64_t>(tested.class_names.size());
  std::vector<int64_t> original;
  std::vector<FoldOutcome> outcomes;
  for (const auto& [key, fold] : first.folds) {
    FoldOutcome outcome;
    outcome.key = key;
    for (const auto& m : members) outcome.seconds += m.folds.at(key).seconds;
    for (size_t i = 0; i < fold.samples.size(); ++i) {
      const auto& s = fold.samples[i];
      data::SampleInfo info;
      info.dataset = s.part;
      info.subject = s.subject;
      info.sample = s.sample;
      info.label = s.label;
      if (s.label < 0 || s.label >= num_classes) {
        throw DataError(first.dir + ": fold " + key + " has a label outside its classes");
      }
      info.emotion = tested.class_names[static_cast<size_t>(s.label)];
      outcome.samples.push_back(tested.size());
      tested.samples.push_back(info);
      original.push_back(s.index);
      std::vector<double> mean(static_cast<size_t>(num_classes), 0.0);
      std::vector<double> last_mean(static_cast<size_t>(num_classes), 0.0);
      std::vector<double> votes(static_cast<size_t>(num_classes), 0.0);
      for (size_t r = 0; r < members.size(); ++r) {
        const auto& ms = members[r].folds.at(key).samples[i];
        const auto* last = last_epoch_probabilities(members[r], ms);
        for (const auto* p : {&ms.probabilities, last}) {
          if (p && static_cast<int64_t>(p->size()) != num_classes) {
            throw DataError(members[r].dir + ": fold " + key + " has probabilities of " +
                            std::to_string(p->size()) + " classes, not " +
                            std::to_string(num_classes));
          }
        }
        const auto& averaged = options.last_epoch() ? *last : ms.probabilities;
        for (int64_t k = 0; k < num_classes; ++k) {
          mean[static_cast<size_t>(k)] += weights[r] * averaged[static_cast<size_t>(k)];
          if (last) last_mean[static_cast<size_t>(k)] += weights[r] * (*last)[static_cast<size_t>(k)];
        }
        if (ms.last_epoch_prediction >= 0 && ms.last_epoch_prediction < num_classes) {
          votes[static_cast<size_t>(ms.last_epoch_prediction)] += weights[r];
        }
      }
      std::vector<float> probabilities;
      for (auto& p : mean) {
        p /= weight_sum;
        probabilities.push_back(static_cast<float>(p));
      }
      // Argmax of the stored (float) values: an ensemble of one run predicts what it did.
      const std::vector<double> rounded(probabilities.begin(), probabilities.end());
      const int64_t prediction = first_argmax(rounded);
      outcome.predictions.push_back(prediction);
      outcome.probabilities.push_back(std::move(probabilities));
      // Under ORACLE members, what the same runs give honestly: the mean of their last-epoch
      // probabilities, or a weighted vote of their last-epoch predictions where older runs
      // did not record the probabilities.
      int64_t last_prediction = prediction;
      if (oracle) {
        last_prediction = every_last_epoch_recorded ? first_argmax(last_mean) : first_argmax(votes);
      }
      outcome.last_epoch_predictions.push_back(last_prediction);
    }
    outcomes.push_back(std::move(outcome));
  }

  const fs::path out(out_dir);
  prepare_out(out, members);

  nlohmann::json member_list = nlohmann::json::array();
  std::string names;
  for (size_t r = 0; r < members.size(); ++r) {
    const auto& m = members[r];
    member_list.push_back({{"run", m.dir},
                           {"model", m.summary.value("model", std::string("?"))},
                           {"model_options", m.summary.value("model_options", nlohmann::json::object())},
                           {"protocol", m.protocol},
                           {"epochs", m.summary.value("epochs", nlohmann::json())},
                           {"seed", m.summary.value("seed", nlohmann::json())},
                           {"weight", weights[r]},
                           {"uf1", m.summary.value("uf1", nlohmann::json())},
                           {"uar", m.summary.value("uar", nlohmann::json())}});
    names += (names.empty() ? "" : "+") + run_name(m.dir);
  }

  RunDescription run;
  run.model = "ensemble";
  run.options.protocol = parse_protocol(protocol);
  run.options.model_options = {{"members", names}};
  if (!options.weights().empty()) {
    std::string text;
    for (double w : weights) text += (text.empty() ? "" : ",") + nlohmann::json(w).dump();
    run.options.model_options["weights"] = text;
  }
  const auto epochs = common_setting(members, "epochs");
  const auto seed = common_setting(members, "seed");
  run.options.epochs = epochs.is_number_integer() ? epochs.get<int64_t>() : 0;
  run.options.seed = seed.is_number_unsigned() || seed.is_number_integer() ? seed.get<uint64_t>() : 0;
  run.data = first.summary.value("data", std::string());
  run.data_checksum = first.settings.value("data_checksum", std::string());
  run.folds_total = first.summary.value("folds_total", static_cast<int64_t>(outcomes.size()));
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto summary = make_summary(outcomes, tested, run);
  summary["protocol_note"] = ensemble_note(members, protocol);
  summary.erase("training");  // each member's own: see "ensemble"
  if (epochs.is_null()) summary["epochs"] = 0;  // members differ: see "ensemble"
  summary["ensemble"] = member_list;
  summary["group_by"] = first.group_by;
  if (oracle) {
    summary["honest_last_epoch"]["note"] =
        every_last_epoch_recorded
            ? "weighted mean of the members' last-epoch probabilities (what `mer ensemble "
              "--last-epoch` writes as an honest run)"
            : "weighted vote of the members' last-epoch predictions (some members did not "
              "record their last-epoch probabilities)";
  }
  if (options.last_epoch()) summary["ensemble_of"] = "the members' last-epoch models";

  nlohmann::json settings = {{"model", "ensemble"},
                             {"protocol", protocol},
                             {"last_epoch", options.last_epoch()},
                             {"data_checksum", run.data_checksum},
                             {"group_by", first.group_by},
                             {"members", member_list}};
  write_file_atomic((out / "run.json").string(),
                    nlohmann::json({{"version", kResultsVersion},
                                    {"ensemble", true},
                                    {"settings", settings}})
                        .dump(2));
  for (const auto& outcome : outcomes) {
    auto fold_json = outcome_to_json(outcome, tested);
    for (auto& s : fold_json.at("samples")) {
      const auto compact = s.at("index").get<int64_t>();
      s["index"] = original[static_cast<size_t>(compact)];
      s["subject"] = tested.samples[static_cast<size_t>(compact)].subject;
    }
    const fs::path dir = out / "folds" / fold_folder_name(outcome.key);
    fs::create_directories(dir);
    write_file_atomic((dir / "fold.json").string(), fold_json.dump());
  }
  write_file_atomic((out / "summary.json").string(), summary.dump(2));
  write_file_atomic((out / "predictions.csv").string(),
                    predictions_csv(outcomes, tested, parse_protocol(protocol)));

  EnsembleResult result;
  result.summary = std::move(summary);
  result.members = runs;
  result.protocol = protocol;
  result.folds = static_cast<int64_t>(outcomes.size());
  return result;
}

std::string format_ensemble_table(const nlohmann::json& summary) {
  auto table = format_summary_table(summary);
  // The first line describes one model's training; an ensemble's says what it averages.
  const auto& members = summary.at("ensemble");
  std::ostringstream head;
  head << "mer ensemble: " << members.size() << " run(s), protocol "
       << (summary.at("protocol") == "oracle" ? std::string("ORACLE")
                                              : summary.at("protocol").get<std::string>())
       << ", " << summary.at("folds").get<int64_t>() << "/"
       << summary.at("folds_total").get<int64_t>() << " folds\n";
  for (const auto& m : members) {
    char line[64];
    std::snprintf(line, sizeof line, "weight %.3g, UF1 %.4f", m.at("weight").get<double>(),
                  m.value("uf1", 0.0));
    head << "  " << m.at("run").get<std::string>() << " (" << m.at("model").get<std::string>()
         << ", " << m.at("protocol").get<std::string>() << ", " << line << ")\n";
  }
  return head.str() + table.substr(table.find('\n') + 1);
}

}  // namespace mer::engine
