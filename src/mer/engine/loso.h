#pragma once
// The leave-one-subject-out engine: builds the folds, trains them (in parallel where the
// backend allows), saves each fold's checkpoint and result as it finishes, resumes a run
// from the finished folds in its output folder, and pools the predictions into one summary.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mer/core/progress.h"
#include "mer/data/dataset.h"
#include "mer/engine/trainer.h"

namespace mer::engine {

// How the folds of one run are shared among cooperating processes (e.g. MPI ranks on several
// machines writing into one --out folder on a shared filesystem). The engine itself has no
// MPI dependency: the caller supplies the rank, the process count and a barrier.
struct FoldDistribution {
  int rank = 0;
  int size = 1;
  std::function<void()> barrier;  // required when size > 1
};

struct LosoOptions {
  TrainOptions train;
  std::string folds;       // "" = all; "N" = first N; or "casme2/sub01,samm/006"
  int64_t threads = 0;     // 0 = all hardware threads
  bool quiet = false;      // no progress output
  std::string data_label;  // how summary.json names the data (folder or synthetic spec)
  // How summary.json names the landmarks' source (file, "synthetic generator"), for models
  // that read landmarks.
  std::string landmarks_label;
  // How the data was prepared (a `mer prepare` folder's manifest), recorded in every
  // checkpoint so that `mer predict` prepares a new clip the same way; null: not known
  // (e.g. the MEGC2019 composite, the synthetic set).
  nlohmann::json preprocessing;
  FoldDistribution distribution;  // default: this process trains every fold
  // Told of every progress update (fold-epochs done of the total, fold messages), also when
  // quiet; e.g. the Python module's progress callback.
  ProgressListener on_progress;
};

struct LosoResult {
  // Also written to OUT/summary.json. With several processes only rank 0 assembles it (from
  // every rank's fold files); other ranks return it empty.
  nlohmann::json summary;
  std::vector<FoldOutcome> outcomes;  // in fold order
  std::vector<std::string> failures;  // "fold: reason" for folds that failed
  int64_t resumed = 0;                // folds taken from an earlier run in OUT
};

// Output folder layout:
//   OUT/run.json                 settings of the run (a rerun must match them to resume)
//   OUT/folds/<part>__<subject>/model.pt, fold.json   (fold.json written last: the marker)
//   OUT/predictions.csv, OUT/summary.json
// Throws ConfigError if OUT holds a run made with other settings. With a FoldDistribution of
// size N, process r trains the unfinished folds r, r+N, r+2N, ...; after a barrier, rank 0
// collects all finished folds from OUT and writes the summary.
LosoResult run_loso(const data::Dataset& dataset, const LosoOptions& options,
                    const std::string& out_dir);

// Everything that changes a fold's result, as run.json's "settings" records it (model, full
// model options, spec version, training settings, protocol, fold grouping, backend, device,
// data checksum).
nlohmann::json run_settings(const TrainOptions& options, const std::string& backend,
                            const data::Dataset& dataset);

// The output folder `mer loso` uses when none is given:
// runs/loso-MODEL-DATA-PROTOCOL[-by-dataset]-eEPOCHS-sSEED-HASH, HASH a digest of every setting that
// changes results (data checksum and resolved model options included), so that a rerun of
// the same command resumes its run and a run with other settings or data gets its own folder.
std::string default_run_folder(const TrainOptions& options, const data::Dataset& dataset,
                               const std::string& data_name);

// Folder name of a fold inside OUT/folds ("casme2/sub01" -> "casme2__sub01").
std::string fold_folder_name(const std::string& fold_key);

}  // namespace mer::engine
