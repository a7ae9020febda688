#pragma once
// Leave-one-group-out folds: one fold per (dataset part, subject), the default, or one per
// dataset part (leave one database out, the MEGC2018 hold-out-database protocol: train on the
// other parts of a composite, test on the held-out one). A fold's test group never appears in
// its training or validation indices; inner validation always holds out whole training
// subjects.
#include <cstdint>
#include <string>
#include <vector>

#include "mer/data/dataset.h"

namespace mer::engine {

// What one fold holds out: a subject ("casme2/sub01") or a whole dataset part ("casme2").
enum class Grouping { kSubject, kDataset };
std::string grouping_name(Grouping grouping);         // "subject" | "dataset"
Grouping parse_grouping(const std::string& name);     // throws ConfigError
// The key of the fold that tests this sample: its fold_key() or its dataset part.
std::string group_key(const data::SampleInfo& sample, Grouping grouping);
// The distinct group keys of the data, sorted (the fold keys of make_loso_folds).
std::vector<std::string> group_keys(const data::Dataset& dataset, Grouping grouping);

struct Fold {
  int64_t index = 0;          // position among all folds of the dataset (sorted by key)
  std::string key;            // "dataset/subject" of the test subject, or "dataset" (by part)
  std::vector<int64_t> test;  // sample indices of the test subject
  std::vector<int64_t> train;
  // Inner validation subjects (taken from the training subjects; empty unless requested).
  std::vector<int64_t> validation;
  std::vector<std::string> validation_subjects;
};

struct FoldOptions {
  // Fraction of the training subjects held out for inner validation (0 = none). At least
  // one subject is held out when > 0.
  double validation_fraction = 0.0;
  uint64_t seed = 1;
  Grouping group_by = Grouping::kSubject;
};

// All folds in key order. Deterministic given the dataset and options. Throws DataError when
// the data has fewer than two groups.
std::vector<Fold> make_loso_folds(const data::Dataset& dataset, const FoldOptions& options = {});

// Picks folds by spec: "" = all; "N" = the first N; otherwise a comma-separated list of fold
// keys ("casme2/sub01,smic/s3"). Throws ConfigError on an unknown key or out-of-range N.
std::vector<Fold> select_folds(const std::vector<Fold>& folds, const std::string& spec);

// Throws mer::Error if any invariant is broken: no test subject in its fold's train or
// validation set, disjoint sets, every sample tested exactly once over `folds` (when
// `complete` is true).
void check_fold_invariants(const data::Dataset& dataset, const std::vector<Fold>& folds,
                           bool complete, Grouping group_by = Grouping::kSubject);

}  // namespace mer::engine
