#pragma once
// Ensembles of finished runs: per test sample, the mean (or weighted mean) of the class
// probabilities that the members' reported models gave it, written as a run folder of its own
// (run.json naming the members, summary.json, predictions.csv, folds/*/fold.json), so that
// `mer report` reads an ensemble like any run and an ensemble may itself be a member.
//
// Honesty: the ensemble is as honest as its least honest member. It is "honest" only when
// every member is; any "oracle" member (epochs picked on the test subject) makes an ORACLE
// ensemble, labelled so in every file; otherwise (some member "inner-val") it is "inner-val".
// With `last_epoch`, every member contributes its last-epoch model and the ensemble is honest:
// one set of oracle runs gives both the oracle figure and the honest one.
// Weights are fixed in advance by the caller, never fitted on the test predictions.
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mer::engine {

struct EnsembleOptions {
  // One weight per run (> 0, finite), in the order of the runs; empty = equal weights.
  TORCH_ARG(std::vector<double>, weights) = {};
  // Average each member's last-epoch model instead of its reported one: an oracle (or
  // inner-val) run's last-epoch probabilities, an honest run's own. Nothing in the result was
  // chosen on a test subject, so the ensemble is honest. Refuses runs that did not record
  // last-epoch probabilities.
  TORCH_ARG(bool, last_epoch) = false;

 public:
  EnsembleOptions() = default;
};

struct EnsembleResult {
  nlohmann::json summary;            // also OUT/summary.json
  std::vector<std::string> members;  // the run folders, in the order given
  std::string protocol;              // "honest", "inner-val" or "oracle"
  int64_t folds = 0;
};

// Reads the finished folds (folds/*/fold.json) of every run and writes their ensemble to
// `out_dir`. Throws ConfigError on bad weights, a run given twice or an `out_dir` that is one
// of the runs or holds a `mer loso` run; DataError naming the run when a run is not a
// finished `mer loso` (or `mer ensemble`) output, or when it was trained on other data, on
// other folds (other finished fold keys, another grouping) or other classes than the first.
EnsembleResult make_ensemble(const std::vector<std::string>& runs, const std::string& out_dir,
                             const EnsembleOptions& options = {});

// The terminal table of an ensemble's summary (format_summary_table's figures).
std::string format_ensemble_table(const nlohmann::json& summary);

}  // namespace mer::engine
