#include "mer/engine/tune.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "mer/core/atomic_file.h"
#include "mer/core/error.h"
#include "mer/core/progress.h"
#include "mer/core/rng.h"
#include "mer/core/version.h"
#include "mer/engine/batch_source.h"
#include "mer/engine/folds.h"
#include "mer/engine/results.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::engine {

namespace {

// Grids larger than this are refused outright (a random search draws from the grid's indices).
constexpr double kMaxGridSize = 1e9;
// Stream of the random search's draws, apart from the training seeds.
constexpr uint64_t kSearchStream = 0x7475'6e65;  // "tune"
// Stream of the split of development subjects into inner folds.
constexpr uint64_t kInnerSplitStream = 0x696e'6e65;  // "inne"

std::string comma_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

double parse_number(const std::string& item, const std::string& text) {
  try {
    size_t used = 0;
    const double value = std::stod(text, &used);
    if (used == text.size() && std::isfinite(value)) return value;
  } catch (const std::exception&) {
  }
  throw ConfigError("--space " + item + ": '" + text + "' is not a finite number");
}

// Canonical text of a training setting's value; throws ConfigError when out of range.
std::string training_value(const std::string& item, const std::string& name, const std::string& text) {
  const auto fail = [&](const std::string& why) -> std::string {
    throw ConfigError("--space " + item + ": " + name + " " + why + ", got '" + text + "'");
  };
  if (name == "optimizer") {
    if (text != "adam" && text != "adamw" && text != "sgd") return fail("must be adam, adamw or sgd");
    return text;
  }
  if (name == "class_weights") {
    if (text != "none" && text != "balanced") return fail("must be none or balanced");
    return text;
  }
  if (name == "augment") {
    if (text != "none" && text != "flip") return fail("must be none or flip");
    return text;
  }
  const double value = parse_number(item, text);
  if (name == "epochs" || name == "batch_size") {
    if (value != std::floor(value) || value < 1 || value > 1e6) return fail("must be an integer >= 1");
    return std::to_string(static_cast<int64_t>(value));
  }
  if (name == "lr" && !(value > 0)) return fail("must be > 0");
  if (name == "weight_decay" && !(value >= 0)) return fail("must be >= 0");
  if (name == "lr_decay" && !(value > 0 && value <= 1)) return fail("must be in (0, 1]");
  if (name == "momentum" && !(value >= 0 && value < 1)) return fail("must be in [0, 1)");
  return nlohmann::json(value).dump();  // shortest text that reads back exactly
}

void apply_setting(TrainOptions& o, const SearchDimension& dimension, const std::string& value) {
  if (dimension.model_option) {
    o.model_options[dimension.name] = value;
    return;
  }
  const auto& n = dimension.name;
  if (n == "epochs") o.epochs = std::stoll(value);
  else if (n == "lr") o.lr = std::stod(value);
  else if (n == "batch_size") o.batch_size = std::stoll(value);
  else if (n == "optimizer") o.optimizer = value;
  else if (n == "weight_decay") o.weight_decay = std::stod(value);
  else if (n == "lr_decay") o.lr_decay = std::stod(value);
  else if (n == "momentum") o.momentum = std::stod(value);
  else if (n == "class_weights") o.class_weights = value;
  else if (n == "augment") o.augment = value;
}

// The candidates' grid indices: every one (grid) or `budget` distinct ones (random).
std::vector<uint64_t> candidate_indices(const TuneOptions& options, uint64_t grid_size) {
  std::vector<uint64_t> out;
  if (options.search == "grid") {
    if (options.budget > 0 && grid_size > static_cast<uint64_t>(options.budget)) {
      throw ConfigError("the grid has " + std::to_string(grid_size) + " candidates, more than "
                        "--budget " + std::to_string(options.budget) +
                        "; raise --budget or use --search random");
    }
    for (uint64_t i = 0; i < grid_size; ++i) out.push_back(i);
    return out;
  }
  if (options.budget < 1) {
    throw ConfigError("--search random: give --budget N, the number of candidates to draw");
  }
  const uint64_t count = std::min<uint64_t>(static_cast<uint64_t>(options.budget), grid_size);
  SplitMix64 rng(derive_seed(options.train.seed, kSearchStream));
  std::set<uint64_t> drawn;
  while (out.size() < count) {  // rejection: budgets are small against the grid
    const uint64_t i = rng.below(grid_size);
    if (drawn.insert(i).second) out.push_back(i);
  }
  return out;
}

std::map<std::string, std::string> settings_of(const std::vector<SearchDimension>& space,
                                               uint64_t index) {
  // The first dimension varies slowest, as in nested loops written in the given order.
  std::map<std::string, std::string> settings;
  for (size_t d = space.size(); d-- > 0;) {
    const auto n = space[d].values.size();
    settings[space[d].name] = space[d].values[index % n];
    index /= n;
  }
  return settings;
}

nlohmann::json training_json(const TrainOptions& o) {
  nlohmann::json j = {{"epochs", o.epochs},           {"lr", o.lr},
                      {"batch_size", o.batch_size},   {"optimizer", o.optimizer},
                      {"weight_decay", o.weight_decay}, {"lr_decay", o.lr_decay},
                      {"class_weights", o.class_weights}, {"augment", o.augment},
                      {"seed", o.seed},
                      {"protocol", protocol_name(o.protocol)},
                      {"group_by", grouping_name(o.group_by)},
                      {"model_options", o.model_options}};
  if (o.optimizer == "sgd") j["momentum"] = o.momentum;
  if (o.protocol == Protocol::kInnerVal) {
    j["val_fraction"] = o.validation_fraction;
    j["patience"] = o.patience;
  }
  return j;
}

std::string number_text(double value) { return nlohmann::json(value).dump(); }

// `mer loso` with every setting of `o` spelled out, so that it does not depend on defaults.
std::string loso_command(const TrainOptions& o, const TuneOptions& options) {
  std::ostringstream c;
  c << "mer loso --model " << o.model;
  if (!options.data_arguments.empty()) c << " " << options.data_arguments;
  c << " --folds " << options.test_folds;
  if (o.group_by != Grouping::kSubject) c << " --group-by " << grouping_name(o.group_by);
  c << " --protocol " << protocol_name(o.protocol) << " --epochs " << o.epochs << " --lr "
    << number_text(o.lr) << " --batch-size " << o.batch_size << " --optimizer " << o.optimizer
    << " --weight-decay " << number_text(o.weight_decay);
  if (o.lr_decay != 1.0) c << " --lr-decay " << number_text(o.lr_decay);
  if (o.optimizer == "sgd") c << " --momentum " << number_text(o.momentum);
  if (o.class_weights != "none") c << " --class-weights " << o.class_weights;
  if (o.augment != "none") c << " --augment " << o.augment;
  if (o.protocol == Protocol::kInnerVal) {
    c << " --val-fraction " << number_text(o.validation_fraction) << " --patience " << o.patience;
  }
  for (const auto& [key, value] : o.model_options) c << " --model-opt " << key << "=" << value;
  c << " --seed " << o.seed;
  return c.str();
}

}  // namespace

const std::vector<std::string>& searchable_training_settings() {
  static const std::vector<std::string> names = {"epochs",       "lr",       "batch_size",
                                                 "optimizer",    "weight_decay", "lr_decay",
                                                 "momentum",     "class_weights", "augment"};
  return names;
}

SearchDimension parse_search_dimension(const std::string& item, const std::string& model) {
  const auto eq = item.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
    throw ConfigError("--space " + item + ": expected name=value1,value2,... (e.g. lr=1e-4,5e-5)");
  }
  SearchDimension d;
  d.name = item.substr(0, eq);
  std::replace(d.name.begin(), d.name.end(), '-', '_');  // batch-size as the flag spells it
  const auto& spec = models::find_model(model);
  const auto& training = searchable_training_settings();
  const bool is_training = std::find(training.begin(), training.end(), d.name) != training.end();
  const models::OptionSpec* option = spec.find_option(item.substr(0, eq));
  if (is_training && option) {
    throw ConfigError("--space " + item + ": '" + d.name + "' names both a training setting and "
                      "an option of model " + model);
  }
  if (!is_training && !option) {
    std::vector<std::string> options;
    for (const auto& o : spec.options) options.push_back(o.name);
    throw ConfigError("--space " + item + ": '" + item.substr(0, eq) + "' is neither a training "
                      "setting (" + comma_list(training) + ") nor an option of model " + model + " (" +
                      (options.empty() ? std::string("it has none") : comma_list(options)) + ")");
  }
  d.model_option = option != nullptr;
  if (option) d.name = option->name;
  const std::string values = item.substr(eq + 1);
  // A list-valued option's values hold commas themselves: its values are separated by ';'.
  const char separator = option && option->type == models::OptionType::kIntList ? ';' : ',';
  size_t start = 0;
  while (start <= values.size()) {
    const size_t comma = std::min(values.find(separator, start), values.size());
    const std::string text = values.substr(start, comma - start);
    if (text.empty()) throw ConfigError("--space " + item + ": an empty value");
    std::string value;
    if (option) {
      try {
        value = models::canonical_option_text(*option, text);
      } catch (const ConfigError& e) {
        // Its message names --model-opt; here the value came from --space.
        std::string why = e.what();
        const auto colon = why.find(": ");
        throw ConfigError("--space " + item + why.substr(colon == std::string::npos ? why.size() : colon));
      }
    } else {
      value = training_value(item, d.name, text);
    }
    if (std::find(d.values.begin(), d.values.end(), value) != d.values.end()) {
      throw ConfigError("--space " + item + ": the value '" + text + "' is given twice");
    }
    d.values.push_back(value);
    start = comma + 1;
  }
  return d;
}

TuneResult run_tune(const data::Dataset& dataset, const TuneOptions& options) {
  dataset.validate();
  if (options.space.empty()) {
    throw ConfigError("--space: declare at least one setting to search (e.g. --space "
                      "lr=1e-4,5e-5)");
  }
  std::set<std::string> names;
  for (const auto& d : options.space) {
    if (!names.insert(d.name).second) throw ConfigError("--space: '" + d.name + "' is given twice");
    MER_CHECK(!d.values.empty(), "a search dimension without values");
  }
  if (options.search != "grid" && options.search != "random") {
    throw ConfigError("--search '" + options.search + "': use grid or random");
  }
  if (options.train.protocol == Protocol::kOracle) {
    throw ConfigError("--protocol oracle picks epochs on the test subject; a search scores "
                      "candidates on inner validation only (use honest or inner-val)");
  }
  if (options.test_folds.empty() || options.test_folds == "all") {
    throw ConfigError("--folds: name the outer test folds the search must never see (e.g. "
                      "--folds 4 or --folds synth/s01,synth/s02); their `mer loso` then uses the "
                      "chosen settings, the other subjects are the search's");
  }
  if (options.inner_folds < 0 || options.inner_folds == 1) {
    throw ConfigError("--inner-folds must be 0 (one per development subject) or at least 2");
  }
  options.train.validate();

  // The outer test samples: set aside before anything else, never put into an inner fold.
  FoldOptions outer;
  outer.group_by = options.train.group_by;
  const auto test_folds = select_folds(make_loso_folds(dataset, outer), options.test_folds);
  std::vector<bool> is_test(static_cast<size_t>(dataset.size()), false);
  TuneResult result;
  for (const auto& fold : test_folds) {
    result.test_folds.push_back(fold.key);
    for (auto i : fold.test) is_test[static_cast<size_t>(i)] = true;
  }
  std::map<std::string, std::vector<int64_t>> by_subject;  // development subjects
  for (int64_t i = 0; i < dataset.size(); ++i) {
    if (!is_test[static_cast<size_t>(i)]) by_subject[dataset.samples[i].fold_key()].push_back(i);
  }
  for (const auto& [subject, indices] : by_subject) result.development_subjects.push_back(subject);
  const auto subjects = static_cast<int64_t>(by_subject.size());
  const int64_t inner_count = options.inner_folds == 0 ? subjects : options.inner_folds;
  if (subjects < 2 || inner_count > subjects) {
    throw ConfigError(std::to_string(subjects) + " development subject(s) left beside the " +
                      std::to_string(test_folds.size()) + " test fold(s): too few for " +
                      std::to_string(inner_count) + " inner folds (test fewer folds or lower "
                      "--inner-folds)");
  }
  // Inner folds: development subjects shuffled with the seed, dealt round-robin.
  std::vector<std::string> order = result.development_subjects;
  SplitMix64 split_rng(derive_seed(options.train.seed, kInnerSplitStream));
  shuffle(order, split_rng);
  std::vector<std::vector<std::string>> inner_subjects(static_cast<size_t>(inner_count));
  for (size_t s = 0; s < order.size(); ++s) inner_subjects[s % inner_count].push_back(order[s]);
  std::vector<Fold> inner_folds;
  for (int64_t k = 0; k < inner_count; ++k) {
    auto& held = inner_subjects[static_cast<size_t>(k)];
    std::sort(held.begin(), held.end());
    Fold fold;
    fold.index = k;
    fold.key = "inner-" + std::to_string(k + 1);
    std::vector<std::string> training;
    for (const auto& [subject, indices] : by_subject) {
      const bool held_out = std::find(held.begin(), held.end(), subject) != held.end();
      if (held_out) {
        fold.test.insert(fold.test.end(), indices.begin(), indices.end());
      } else {
        training.push_back(subject);
      }
    }
    // inner-val candidates choose their epoch on subjects held out from this inner fold's
    // training subjects, as `mer loso --protocol inner-val` does.
    std::set<std::string> validation;
    if (options.train.protocol == Protocol::kInnerVal) {
      if (training.size() < 2) {
        throw ConfigError("--protocol inner-val needs at least two training subjects per inner "
                          "fold; test fewer folds or lower --inner-folds");
      }
      SplitMix64 rng(derive_seed(options.train.seed, static_cast<uint64_t>(k)));
      auto shuffled = training;
      shuffle(shuffled, rng);
      const size_t count = std::clamp<size_t>(
          static_cast<size_t>(options.train.validation_fraction * shuffled.size() + 0.5), 1,
          shuffled.size() - 1);
      validation.insert(shuffled.begin(), shuffled.begin() + count);
      fold.validation_subjects.assign(validation.begin(), validation.end());
    }
    for (const auto& subject : training) {
      auto& set = validation.count(subject) ? fold.validation : fold.train;
      const auto& indices = by_subject.at(subject);
      set.insert(set.end(), indices.begin(), indices.end());
    }
    std::sort(fold.train.begin(), fold.train.end());
    std::sort(fold.validation.begin(), fold.validation.end());
    inner_folds.push_back(std::move(fold));
  }

  // The candidates, each a complete and validated set of options.
  double grid = 1;
  for (const auto& d : options.space) grid *= static_cast<double>(d.values.size());
  if (grid > kMaxGridSize) throw ConfigError("--space: the grid is too large to search");
  const auto indices = candidate_indices(options, static_cast<uint64_t>(grid));
  std::vector<TrainOptions> trains;
  for (auto index : indices) {
    TuneCandidate candidate;
    candidate.settings = settings_of(options.space, index);
    TrainOptions train = options.train;
    for (const auto& d : options.space) apply_setting(train, d, candidate.settings.at(d.name));
    TrainOptions resolved = train;
    resolved.model_options =
        models::resolve_model_options(train.model, train.model_options, data_traits(dataset));
    try {
      resolved.validate();
    } catch (const ConfigError& e) {
      std::string settings;
      for (const auto& [k, v] : candidate.settings) settings += (settings.empty() ? "" : ", ") + k + "=" + v;
      throw ConfigError("candidate " + settings + ": " + e.what());
    }
    trains.push_back(std::move(resolved));
    result.candidates.push_back(std::move(candidate));
  }

  // Every (candidate, inner fold) is an independent training job.
  struct Job {
    size_t candidate, fold;
  };
  std::vector<Job> jobs;
  int64_t total_epochs = 0;
  for (size_t c = 0; c < trains.size(); ++c) {
    for (size_t f = 0; f < inner_folds.size(); ++f) {
      jobs.push_back({c, f});
      total_epochs += trains[c].epochs;
    }
  }
  std::vector<std::unique_ptr<FoldTrainer>> trainers;
  for (const auto& t : trains) trainers.push_back(std::make_unique<FoldTrainer>(dataset, t));
  std::vector<FoldOutcome> outcomes(jobs.size());
  const int64_t threads = options.threads > 0
                              ? options.threads
                              : std::max<int64_t>(1, std::thread::hardware_concurrency());
  // As in run_loso: CPU folds in parallel (each draws from its own generators), CUDA serially.
  const bool parallel = options.train.device == "cpu";
  const int64_t workers =
      parallel ? std::max<int64_t>(1, std::min<int64_t>(threads, static_cast<int64_t>(jobs.size()))) : 1;
  at::set_num_threads(parallel ? 1 : static_cast<int>(threads));
  Progress progress("tune " + options.train.model, total_epochs);
  progress.set_quiet(options.quiet);
  if (!options.quiet) {
    progress.message("tuning " + std::to_string(trains.size()) + " candidates x " +
                     std::to_string(inner_folds.size()) + " inner folds on " +
                     std::to_string(subjects) + " development subjects; " +
                     std::to_string(result.test_folds.size()) + " test fold(s) set aside");
  }
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::exception_ptr failure;
  auto work = [&] {
    for (size_t j = next++; j < jobs.size(); j = next++) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (failure) return;
      }
      const auto& job = jobs[j];
      const auto epochs = trains[job.candidate].epochs;
      int64_t reported = 0;
      try {
        models::ModelPtr model;
        outcomes[j] = trainers[job.candidate]->run(inner_folds[job.fold], model, [&](int64_t epoch) {
          progress.advance(epoch - reported, "candidate " + std::to_string(job.candidate + 1) +
                                                 " " + inner_folds[job.fold].key);
          reported = epoch;
        });
        progress.advance(epochs - reported);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int64_t w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  progress.finish();
  if (failure) std::rethrow_exception(failure);

  // Scores pooled over each candidate's inner folds; the best UF1 wins, then UAR, then the
  // earlier candidate.
  for (size_t c = 0; c < trains.size(); ++c) {
    std::vector<int64_t> labels, predictions;
    for (size_t j = 0; j < jobs.size(); ++j) {
      if (jobs[j].candidate != c) continue;
      const auto& o = outcomes[j];
      for (size_t i = 0; i < o.samples.size(); ++i) {
        labels.push_back(dataset.samples[static_cast<size_t>(o.samples[i])].label);
        predictions.push_back(o.predictions[i]);
      }
      result.candidates[c].seconds += o.seconds;
    }
    result.candidates[c].metrics = compute_metrics(labels, predictions, dataset.num_classes());
    const auto& best = result.candidates[result.chosen].metrics;
    const auto& m = result.candidates[c].metrics;
    if (m.uf1 > best.uf1 || (m.uf1 == best.uf1 && m.uar > best.uar)) result.chosen = c;
  }
  result.chosen_options = options.train;
  for (const auto& d : options.space) {
    const auto& value = result.candidates[result.chosen].settings.at(d.name);
    apply_setting(result.chosen_options, d, value);
    if (d.model_option) {
      result.chosen_flags.insert(result.chosen_flags.end(), {"--model-opt", d.name + "=" + value});
    } else {
      auto flag = "--" + d.name;
      std::replace(flag.begin(), flag.end(), '_', '-');  // batch_size as the flag spells it
      result.chosen_flags.insert(result.chosen_flags.end(), {flag, value});
    }
  }
  result.loso_command = loso_command(result.chosen_options, options);

  nlohmann::json candidates = nlohmann::json::array();
  for (size_t c = 0; c < result.candidates.size(); ++c) {
    const auto& candidate = result.candidates[c];
    candidates.push_back({{"index", c + 1},
                          {"settings", candidate.settings},
                          {"uf1", candidate.metrics.uf1},
                          {"uar", candidate.metrics.uar},
                          {"accuracy", candidate.metrics.accuracy},
                          {"n", candidate.metrics.n},
                          {"seconds", candidate.seconds}});
  }
  nlohmann::json space = nlohmann::json::object();
  for (const auto& d : options.space) {
    space[d.name] = {{"values", d.values}, {"kind", d.model_option ? "model option" : "training"}};
  }
  nlohmann::json inner = nlohmann::json::array();
  for (size_t k = 0; k < inner_folds.size(); ++k) {
    inner.push_back({{"validation_subjects", inner_subjects[k]},
                     {"epoch_selection_subjects", inner_folds[k].validation_subjects}});
  }
  const auto& chosen = result.candidates[result.chosen];
  result.json = {
      {"format", "mer-tune"},
      {"version", 1},
      {"mer_version", kVersion},
      {"model", options.train.model},
      {"data", options.data_label},
      {"data_checksum", dataset.checksum()},
      {"search", options.search},
      {"budget", options.budget},
      {"seed", options.train.seed},
      {"space", space},
      {"base", training_json(options.train)},
      {"test_folds", result.test_folds},
      {"test_note", "the test folds' samples were set aside before the search: no candidate was "
                    "trained, stopped or scored on them"},
      {"development_subjects", result.development_subjects},
      {"inner_folds", inner},
      {"score", "UF1 then UAR, pooled over the inner folds' held-out development subjects"},
      {"candidates", candidates},
      {"chosen", {{"index", result.chosen + 1},
                  {"settings", chosen.settings},
                  {"flags", result.chosen_flags},
                  {"uf1", chosen.metrics.uf1},
                  {"uar", chosen.metrics.uar},
                  {"training", training_json(result.chosen_options)}}},
      {"loso_command", result.loso_command},
  };
  return result;
}

void write_tune_json(const TuneResult& result, const std::string& path) {
  const fs::path file(path);
  std::error_code ec;
  if (file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
  if (ec) throw ConfigError("--out " + path + ": cannot create its folder: " + ec.message());
  write_file_atomic(path, result.json.dump(2));
}

std::string format_tune_table(const TuneResult& result) {
  std::ostringstream out;
  char line[96];
  out << "mer tune: " << result.candidates.size() << " candidate(s), scored on "
      << result.development_subjects.size() << " development subjects; test fold(s) "
      << comma_list(result.test_folds) << " never seen\n";
  std::snprintf(line, sizeof line, "  %4s  %7s  %7s  %8s  %s\n", "#", "UF1", "UAR", "time",
                "settings");
  out << line;
  for (size_t c = 0; c < result.candidates.size(); ++c) {
    const auto& candidate = result.candidates[c];
    std::string settings;
    for (const auto& [k, v] : candidate.settings) settings += (settings.empty() ? "" : " ") + k + "=" + v;
    std::snprintf(line, sizeof line, "%s %4zu  %7.4f  %7.4f  %8s  ", c == result.chosen ? " *" : "  ",
                  c + 1, candidate.metrics.uf1, candidate.metrics.uar,
                  format_duration(candidate.seconds).c_str());
    out << line << settings << "\n";
  }
  out << "  chosen: candidate " << result.chosen + 1 << " (best inner-validation UF1)\n";
  out << "  run the LOSO with it:\n    " << result.loso_command << "\n";
  return out.str();
}

}  // namespace mer::engine
