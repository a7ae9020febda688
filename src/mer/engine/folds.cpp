#include "mer/engine/folds.h"

#include <algorithm>
#include <map>
#include <set>

#include "mer/core/error.h"
#include "mer/core/rng.h"

namespace mer::engine {

std::string grouping_name(Grouping grouping) {
  return grouping == Grouping::kDataset ? "dataset" : "subject";
}

Grouping parse_grouping(const std::string& name) {
  if (name == "subject") return Grouping::kSubject;
  if (name == "dataset") return Grouping::kDataset;
  throw ConfigError("--group-by '" + name + "': use subject (leave one subject out) or dataset "
                    "(leave one dataset part out)");
}

std::string group_key(const data::SampleInfo& sample, Grouping grouping) {
  return grouping == Grouping::kDataset ? sample.dataset : sample.fold_key();
}

std::vector<std::string> group_keys(const data::Dataset& dataset, Grouping grouping) {
  std::set<std::string> keys;
  for (const auto& s : dataset.samples) keys.insert(group_key(s, grouping));
  return {keys.begin(), keys.end()};
}

std::vector<Fold> make_loso_folds(const data::Dataset& dataset, const FoldOptions& options) {
  if (options.validation_fraction < 0.0 || options.validation_fraction >= 1.0) {
    throw ConfigError("inner validation fraction must be in [0, 1)");
  }
  const bool by_part = options.group_by == Grouping::kDataset;
  std::map<std::string, std::vector<int64_t>> by_group;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    by_group[group_key(dataset.samples[i], options.group_by)].push_back(i);
  }
  if (by_group.size() < 2) {
    if (by_part) {
      throw DataError("--group-by dataset needs at least two dataset parts; the data has " +
                      std::to_string(by_group.size()) +
                      (by_group.empty() ? std::string() : " (" + by_group.begin()->first + ")"));
    }
    throw DataError("LOSO needs at least two subjects; the dataset has " +
                    std::to_string(by_group.size()));
  }
  std::vector<std::string> keys;
  for (const auto& [key, indices] : by_group) keys.push_back(key);

  std::vector<Fold> folds;
  for (size_t f = 0; f < keys.size(); ++f) {
    Fold fold;
    fold.index = static_cast<int64_t>(f);
    fold.key = keys[f];
    fold.test = by_group[keys[f]];
    // Inner validation holds out training subjects, whatever a fold holds out.
    std::set<std::string> training_subjects;
    for (const auto& s : dataset.samples) {
      if (group_key(s, options.group_by) != fold.key) training_subjects.insert(s.fold_key());
    }
    std::vector<std::string> others(training_subjects.begin(), training_subjects.end());
    std::set<std::string> held_out;
    if (options.validation_fraction > 0.0) {
      if (others.size() < 2) {
        throw ConfigError("inner validation needs at least two training subjects per fold");
      }
      SplitMix64 rng(derive_seed(options.seed, f));
      shuffle(others, rng);
      const size_t count = std::clamp<size_t>(
          static_cast<size_t>(options.validation_fraction * others.size() + 0.5), 1,
          others.size() - 1);
      held_out.insert(others.begin(), others.begin() + count);
      fold.validation_subjects.assign(held_out.begin(), held_out.end());
    }
    for (int64_t i = 0; i < dataset.size(); ++i) {
      const auto& sample = dataset.samples[i];
      if (group_key(sample, options.group_by) == fold.key) continue;
      (held_out.count(sample.fold_key()) ? fold.validation : fold.train).push_back(i);
    }
    folds.push_back(std::move(fold));
  }
  return folds;
}

std::vector<Fold> select_folds(const std::vector<Fold>& folds, const std::string& spec) {
  if (spec.empty() || spec == "all") return folds;
  if (std::all_of(spec.begin(), spec.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const auto n = std::stoll(spec);
    if (n < 1 || n > static_cast<int64_t>(folds.size())) {
      throw ConfigError("--folds " + spec + ": must be between 1 and " +
                        std::to_string(folds.size()) + " (the number of folds)");
    }
    return {folds.begin(), folds.begin() + n};
  }
  std::vector<Fold> out;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string key = spec.substr(start, comma - start);
    auto it = std::find_if(folds.begin(), folds.end(), [&](const Fold& f) { return f.key == key; });
    if (it == folds.end()) {
      throw ConfigError("--folds: no fold '" + key + "' in the data (keys look like '" +
                        folds.front().key + "'; `mer loso --list-folds` lists them)");
    }
    if (std::any_of(out.begin(), out.end(), [&](const Fold& f) { return f.key == key; })) {
      throw ConfigError("--folds: fold '" + key + "' is given twice (each fold is trained "
                        "and counted once)");
    }
    out.push_back(*it);
    start = comma + 1;
  }
  return out;
}

void check_fold_invariants(const data::Dataset& dataset, const std::vector<Fold>& folds,
                           bool complete, Grouping group_by) {
  std::vector<int> tested(dataset.size(), 0);
  for (const auto& fold : folds) {
    std::vector<int> role(dataset.size(), 0);
    auto mark = [&](const std::vector<int64_t>& indices, int tag) {
      for (auto i : indices) {
        MER_CHECK(i >= 0 && i < dataset.size(), "fold index out of range");
        MER_CHECK(role[i] == 0, "fold " + fold.key + ": a sample is in two of train/val/test");
        role[i] = tag;
      }
    };
    mark(fold.test, 1);
    mark(fold.train, 2);
    mark(fold.validation, 3);
    std::set<std::string> test_subjects;
    for (auto i : fold.test) {
      MER_CHECK(group_key(dataset.samples[i], group_by) == fold.key,
                "fold " + fold.key + ": test set holds another subject");
      test_subjects.insert(dataset.samples[i].fold_key());
      ++tested[i];
    }
    for (const auto* set : {&fold.train, &fold.validation}) {
      for (auto i : *set) {
        MER_CHECK(group_key(dataset.samples[i], group_by) != fold.key &&
                      !test_subjects.count(dataset.samples[i].fold_key()),
                  "fold " + fold.key + ": a test subject is in its own training data");
      }
    }
  }
  if (complete) {
    for (int64_t i = 0; i < dataset.size(); ++i) {
      MER_CHECK(tested[i] == 1, "sample " + dataset.samples[i].fold_key() + "/" +
                                    dataset.samples[i].sample + " is tested " +
                                    std::to_string(tested[i]) + " times instead of once");
    }
  }
}

}  // namespace mer::engine
