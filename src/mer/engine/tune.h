#pragma once
// An honest hyper-parameter search: candidates drawn from a declared space of training
// settings and model options (a grid, or a random share of it), each scored by inner
// validation on development subjects only, never on the outer test folds it is tuning for.
//
// The outer test folds (`mer loso --folds` syntax: "4" or "casme2/sub01,samm/006", or parts
// with --group-by dataset) are set aside first; their samples are never put into any fold the
// search trains or scores, so replacing their data and labels leaves every score and the
// chosen settings identical. The remaining (development) subjects are split, by subject, into
// inner folds; a candidate trains on all but one inner fold and predicts the held-out one, and
// its score is UF1 (then UAR) pooled over the inner folds, as MEGC pools LOSO folds. The chosen
// settings are then used by `mer loso --folds <the same test folds>`.
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mer/data/dataset.h"
#include "mer/engine/metrics.h"
#include "mer/engine/trainer.h"

namespace mer::engine {

// One searched setting and the values it takes, in canonical text.
struct SearchDimension {
  std::string name;           // a training setting ("epochs", "lr", ...) or a model option
  bool model_option = false;  // true: an option of the model's spec (--model-opt)
  std::vector<std::string> values;
};

// The training settings a space may search (TrainOptions fields, as `mer loso` names them
// without the dashes): epochs, lr, batch_size, optimizer, weight_decay, lr_decay, momentum,
// class_weights, augment.
const std::vector<std::string>& searchable_training_settings();

// "name=v1,v2,..." (an integer-list option: "name=8,16;16,32") -> a dimension, validated against the training settings' ranges and the
// model's option table (type, range, choices). Throws ConfigError "--space ...: ..." naming
// the item and what is wrong (unknown name, listing the known ones; a bad or repeated value).
SearchDimension parse_search_dimension(const std::string& item, const std::string& model);

struct TuneOptions {
  // The base settings; each candidate replaces the searched ones. model_options holds the
  // user's --model-opt values (not resolved), so that the suggested command repeats them.
  TrainOptions train;
  std::vector<SearchDimension> space;
  std::string search = "grid";  // grid: every combination; random: `budget` of them
  // grid: refuse a grid larger than this (0 = no limit); random: the number of candidates
  // (required), drawn without repetition from the grid with train.seed.
  int64_t budget = 0;
  // The outer test folds (loso --folds syntax, required): never seen by the search.
  std::string test_folds;
  // Inner folds over the development subjects (subject-grouped); 0 = one per subject (a
  // nested leave-one-subject-out).
  int64_t inner_folds = 3;
  int64_t threads = 0;  // 0 = all hardware threads
  bool quiet = false;
  std::string data_label;      // how tune.json names the data
  std::string data_arguments;  // how `mer loso` is told the data ("--data DIR", "--synth-...")
};

struct TuneCandidate {
  std::map<std::string, std::string> settings;  // searched name -> value
  Metrics metrics;                              // pooled over the inner folds
  double seconds = 0;                           // training time over its inner folds
};

struct TuneResult {
  std::vector<TuneCandidate> candidates;  // in search order
  size_t chosen = 0;                      // index into candidates
  TrainOptions chosen_options;            // the base settings with the chosen ones applied
  std::vector<std::string> test_folds;    // the outer test fold keys (never seen)
  std::vector<std::string> development_subjects;
  std::string loso_command;  // `mer loso ...` with the chosen settings on the test folds
  // The searched settings' chosen values as `mer loso` arguments ("--lr", "1e-3", "--model-opt",
  // "dropout=0.5"), for scripts that add them to their own command.
  std::vector<std::string> chosen_flags;
  nlohmann::json json;       // what write_tune_json writes
};

// Runs the search. Throws ConfigError on an empty or malformed space, an oracle protocol, no
// test folds, a grid over the budget, too few development subjects for the inner folds.
TuneResult run_tune(const data::Dataset& dataset, const TuneOptions& options);

// Writes result.json to `path` (parent folders created).
void write_tune_json(const TuneResult& result, const std::string& path);

// The terminal table: every candidate's settings and inner-validation scores, the chosen one
// marked, and the `mer loso` line.
std::string format_tune_table(const TuneResult& result);

}  // namespace mer::engine
