#pragma once
// Leave-one-subject-out folds: one fold per (dataset part, subject). A fold's test subject
// never appears in its training or validation indices.
#include <cstdint>
#include <string>
#include <vector>

#include "mer/data/dataset.h"

namespace mer::engine {

struct Fold {
  int64_t index = 0;          // position among all folds of the dataset (sorted by key)
  std::string key;            // "dataset/subject" of the test subject
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
};

// All LOSO folds in key order. Deterministic given the dataset and options.
std::vector<Fold> make_loso_folds(const data::Dataset& dataset, const FoldOptions& options = {});

// Picks folds by spec: "" = all; "N" = the first N; otherwise a comma-separated list of fold
// keys ("casme2/sub01,smic/s3"). Throws ConfigError on an unknown key or out-of-range N.
std::vector<Fold> select_folds(const std::vector<Fold>& folds, const std::string& spec);

// Throws mer::Error if any invariant is broken: no test subject in its fold's train or
// validation set, disjoint sets, every sample tested exactly once over `folds` (when
// `complete` is true).
void check_fold_invariants(const data::Dataset& dataset, const std::vector<Fold>& folds,
                           bool complete);

}  // namespace mer::engine
