#pragma once
// The leave-one-subject-out engine: builds the folds, trains them (in parallel where the
// backend allows), saves each fold's checkpoint and result as it finishes, resumes a run
// from the finished folds in its output folder, and pools the predictions into one summary.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/trainer.h"

namespace mer::engine {

struct LosoOptions {
  TrainOptions train;
  std::string folds;       // "" = all; "N" = first N; or "casme2/sub01,samm/006"
  int64_t threads = 0;     // 0 = all hardware threads
  bool quiet = false;      // no progress output
  std::string data_label;  // how summary.json names the data (folder or synthetic spec)
};

struct LosoResult {
  nlohmann::json summary;             // also written to OUT/summary.json
  std::vector<FoldOutcome> outcomes;  // in fold order
  std::vector<std::string> failures;  // "fold: reason" for folds that failed
  int64_t resumed = 0;                // folds taken from an earlier run in OUT
};

// Output folder layout:
//   OUT/run.json                 settings of the run (a rerun must match them to resume)
//   OUT/folds/<part>__<subject>/model.pt, fold.json   (fold.json written last: the marker)
//   OUT/predictions.csv, OUT/summary.json
// Throws ConfigError if OUT holds a run made with other settings.
LosoResult run_loso(const data::Dataset& dataset, const LosoOptions& options,
                    const std::string& out_dir);

// Folder name of a fold inside OUT/folds ("casme2/sub01" -> "casme2__sub01").
std::string fold_folder_name(const std::string& fold_key);

}  // namespace mer::engine
