#include "mer/engine/folds.h"

#include <algorithm>
#include <map>
#include <set>

#include "mer/core/error.h"
#include "mer/core/rng.h"

namespace mer::engine {

std::vector<Fold> make_loso_folds(const data::Dataset& dataset, const FoldOptions& options) {
  if (options.validation_fraction < 0.0 || options.validation_fraction >= 1.0) {
    throw ConfigError("inner validation fraction must be in [0, 1)");
  }
  std::map<std::string, std::vector<int64_t>> by_subject;
  for (int64_t i = 0; i < dataset.size(); ++i) by_subject[dataset.samples[i].fold_key()].push_back(i);
  if (by_subject.size() < 2) {
    throw DataError("LOSO needs at least two subjects; the dataset has " +
                    std::to_string(by_subject.size()));
  }
  std::vector<std::string> keys;
  for (const auto& [key, indices] : by_subject) keys.push_back(key);

  std::vector<Fold> folds;
  for (size_t f = 0; f < keys.size(); ++f) {
    Fold fold;
    fold.index = static_cast<int64_t>(f);
    fold.key = keys[f];
    fold.test = by_subject[keys[f]];
    std::vector<std::string> others;
    for (const auto& key : keys) {
      if (key != fold.key) others.push_back(key);
    }
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
      const auto key = dataset.samples[i].fold_key();
      if (key == fold.key) continue;
      (held_out.count(key) ? fold.validation : fold.train).push_back(i);
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
                        std::to_string(folds.size()) + " (the number of subjects)");
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
      throw ConfigError("--folds: no subject '" + key + "' in the data (keys look like '" +
                        folds.front().key + "')");
    }
    if (std::any_of(out.begin(), out.end(), [&](const Fold& f) { return f.key == key; })) {
      throw ConfigError("--folds: subject '" + key + "' is given twice (each fold is trained "
                        "and counted once)");
    }
    out.push_back(*it);
    start = comma + 1;
  }
  return out;
}

void check_fold_invariants(const data::Dataset& dataset, const std::vector<Fold>& folds,
                           bool complete) {
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
    for (auto i : fold.test) {
      MER_CHECK(dataset.samples[i].fold_key() == fold.key,
                "fold " + fold.key + ": test set holds another subject");
      ++tested[i];
    }
    for (const auto* set : {&fold.train, &fold.validation}) {
      for (auto i : *set) {
        MER_CHECK(dataset.samples[i].fold_key() != fold.key,
                  "fold " + fold.key + ": the test subject is in its own training data");
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
