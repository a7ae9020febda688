#pragma once
// Result files of a LOSO run: per-fold fold.json (the resume marker), predictions.csv and
// summary.json, and the results table printed to the terminal. Every file names the
// protocol; oracle results say ORACLE.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mer/data/dataset.h"
#include "mer/engine/metrics.h"
#include "mer/engine/trainer.h"

namespace mer::engine {

nlohmann::json outcome_to_json(const FoldOutcome& outcome, const data::Dataset& dataset);
// Throws Error if the JSON does not describe this dataset's samples.
FoldOutcome outcome_from_json(const nlohmann::json& json, const data::Dataset& dataset);

struct RunDescription {
  std::string model;
  TrainOptions options;
  std::string backend;
  std::string data;  // dataset folder, or "synthetic(...)"
  std::string data_checksum;
  int64_t folds_total = 0;
  int64_t threads = 1;
  double seconds = 0;
};

// Pools all outcomes (MEGC definition) and per dataset part; returns summary.json content.
nlohmann::json make_summary(const std::vector<FoldOutcome>& outcomes, const data::Dataset& dataset,
                            const RunDescription& run);

std::string predictions_csv(const std::vector<FoldOutcome>& outcomes, const data::Dataset& dataset,
                            Protocol protocol);

// Human-readable table of a summary (the same figures as summary.json).
std::string format_summary_table(const nlohmann::json& summary);

nlohmann::json metrics_to_json(const Metrics& metrics);

// The description a checkpoint of `train`'s model records beside its weights (engine/
// checkpoint.h), which `mer predict` and `mer evaluate` read back: model, resolved options,
// inputs, explanations, data and its preprocessing (null: "not known"), classes, input and
// crop size, `fold`, protocol, `epoch`, `data_checksum` (dataset.checksum(), computed once by
// the caller).
nlohmann::json checkpoint_metadata(const TrainOptions& train, const data::Dataset& dataset,
                                   const std::string& data_label, const std::string& data_checksum,
                                   const nlohmann::json& preprocessing, const std::string& fold,
                                   int64_t epoch);

}  // namespace mer::engine
