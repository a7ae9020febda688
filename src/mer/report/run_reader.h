#pragma once
// A finished run folder read back for reporting: a `mer loso` output (summary.json,
// predictions.csv, folds/*/fold.json with the training curves, explain.json) or a
// `mer evaluate --on-other-data` output (summary.json with "tested_on", predictions.csv,
// explain.json). Nothing is recomputed here: summary.json stays the source of every figure it
// holds; predictions.csv gives what it does not (per subject, bootstrap resampling).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mer::report {

// One test sample's reported prediction (a row of predictions.csv).
struct PredictionRecord {
  std::string dataset, subject, sample;
  int64_t label = 0;
  int64_t prediction = 0;
  // The LOSO unit: "dataset/subject" (the fold key).
  std::string subject_key() const { return dataset + "/" + subject; }
};

// One fold's training curve (fold.json), per epoch 1..epochs_run.
struct FoldCurve {
  std::string fold;                     // "casme2/sub01"
  std::vector<double> train_loss;       // mean training loss
  std::vector<double> train_accuracy;   // training accuracy; empty where the run lacks it
  std::vector<double> selection_score;  // inner-val: validation UF1; oracle: TEST accuracy
  int64_t epoch_used = 0;
  int64_t epochs_run = 0;
};

enum class RunKind {
  kLoso,       // `mer loso`
  kOtherData,  // `mer evaluate --on-other-data`: a LOSO run's fold models on other data
};

struct RunRecord {
  std::string dir;   // the folder as given
  std::string name;  // its last path component (unique names are made by the report)
  RunKind kind = RunKind::kLoso;
  nlohmann::json summary;  // summary.json exactly as written
  std::string written;     // when summary.json was written, "YYYY-MM-DD HH:MM UTC"
  std::vector<PredictionRecord> predictions;  // in file order
  std::vector<FoldCurve> curves;              // kLoso only, in fold order
  bool has_explanations = false;              // DIR/explain.json exists

  std::string model() const;
  std::string protocol() const;  // "honest", "inner-val" or "oracle"
  // A LOSO run whose epochs were picked on the test subject (inflated figures). An
  // evaluation of an oracle run's saved last-epoch models is not: it tests them once.
  bool oracle() const;
  std::vector<std::string> class_names() const;
  // "fr" or "fr (attention=none, proposal_weight=0)": runs with one label are seeds of one
  // configuration in a comparison.
  // The model's options as "key=value" texts, by key (summary.json's model_options).
  std::map<std::string, std::string> option_texts() const;
  std::string model_label() const;
  // The data the predictions are on: kLoso the training data, kOtherData the tested data.
  std::string data() const;
  std::string data_checksum() const;
  // kOtherData: the LOSO run folder whose models were tested (summary "run"); else "".
  std::string source_run() const;
  // The sorted distinct subject keys of the predictions (the folds tested).
  std::vector<std::string> subjects() const;
};

// Reads DIR. Throws DataError naming the file when summary.json or predictions.csv is missing,
// unreadable, of an unknown results version, or when predictions.csv names classes outside
// summary.json's class_names.
RunRecord read_run(const std::string& dir);

}  // namespace mer::report
