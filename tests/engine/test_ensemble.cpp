#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/engine/ensemble.h"
#include "mer/engine/evaluate.h"
#include "mer/engine/loso.h"
#include "mer/engine/results.h"

namespace fs = std::filesystem;

namespace mer::engine {
namespace {

fs::path fresh_dir(const std::string& name) {
  const auto dir =
      fs::temp_directory_path() / ("mer_test_ens_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

data::Dataset synthetic(uint64_t seed = 1) {
  return data::make_synthetic(
      data::SyntheticOptions().subjects(4).samples_per_subject(8).face_size(0).seed(seed));
}

// A finished run in a fresh folder (kept for the test's lifetime by the caller).
fs::path trained_run(const std::string& name, const data::Dataset& dataset, uint64_t seed = 1,
                     Protocol protocol = Protocol::kHonest, const std::string& folds = "") {
  const auto dir = fresh_dir(name);
  LosoOptions o;
  o.train.epochs = 3;
  o.train.batch_size = 16;
  o.train.lr = 1e-3;
  o.train.seed = seed;
  o.train.protocol = protocol;
  o.quiet = true;
  o.threads = 2;
  o.folds = folds;
  run_loso(dataset, o, dir.string());
  return dir;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// predictions.csv rows without the epoch column (an ensemble has no epoch of its own).
std::vector<std::vector<std::string>> prediction_rows(const fs::path& dir) {
  std::vector<std::vector<std::string>> out;
  for (const auto& row : csv::read_file((dir / "predictions.csv").string())) {
    auto fields = row.fields;
    fields.erase(fields.end() - 2);
    out.push_back(fields);
  }
  return out;
}

template <typename F>
std::string refusal(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(not refused)";
}

}  // namespace

TEST(Ensemble, OfOneRunEqualsThatRun) {
  const auto dataset = synthetic();
  for (const auto protocol : {Protocol::kHonest, Protocol::kOracle}) {
    SCOPED_TRACE(protocol_name(protocol));
    const auto run = trained_run("one_" + protocol_name(protocol), dataset, 1, protocol);
    const auto out = fresh_dir("one_out");
    const auto result = make_ensemble({run.string()}, out.string());
    const auto original = read_json(run / "summary.json");
    for (const char* key : {"uf1", "uar", "accuracy", "n", "confusion", "per_dataset", "per_class",
                            "folds", "folds_total", "class_names", "data", "data_checksum",
                            "protocol", "epochs", "seed"}) {
      EXPECT_EQ(result.summary[key], original[key]) << key;
    }
    EXPECT_EQ(result.summary, read_json(out / "summary.json"));
    EXPECT_EQ(prediction_rows(out), prediction_rows(run));
    if (protocol == Protocol::kOracle) {
      EXPECT_EQ(result.summary["honest_last_epoch"]["uf1"], original["honest_last_epoch"]["uf1"]);
      EXPECT_NE(result.summary["protocol_note"].get<std::string>().find("ORACLE"), std::string::npos);
      EXPECT_NE(format_ensemble_table(result.summary).find("ORACLE"), std::string::npos);
    }
    // Its folds are readable as a member's: an ensemble of the ensemble is the same again.
    const auto again = fresh_dir("one_again");
    make_ensemble({out.string()}, again.string());
    EXPECT_EQ(prediction_rows(again), prediction_rows(run));
    for (const auto& d : {run, out, again}) fs::remove_all(d);
  }
}

TEST(Ensemble, LastEpochModelsOfOracleRunsMakeAnHonestEnsemble) {
  const auto dataset = synthetic();
  const auto oracle_run = trained_run("last_oracle", dataset, 1, Protocol::kOracle);
  const auto honest_run = trained_run("last_honest", dataset, 2, Protocol::kHonest);
  const auto original = read_json(oracle_run / "summary.json");

  // One oracle run's last-epoch models: honest, and exactly its own honest half.
  const auto out = fresh_dir("last_out");
  const auto result =
      make_ensemble({oracle_run.string()}, out.string(), EnsembleOptions().last_epoch(true));
  EXPECT_EQ(result.protocol, "honest");
  EXPECT_EQ(result.summary["protocol"], "honest");
  EXPECT_EQ(result.summary["uf1"], original["honest_last_epoch"]["uf1"]);
  EXPECT_EQ(result.summary["uar"], original["honest_last_epoch"]["uar"]);
  const auto rows = csv::read_file((out / "predictions.csv").string());
  ASSERT_GT(rows.size(), 1u);
  for (size_t r = 1; r < rows.size(); ++r) EXPECT_EQ(rows[r].fields.back(), "honest");
  // Its predictions are the oracle run's last-epoch predictions, sample by sample.
  for (const auto& entry : fs::directory_iterator(oracle_run / "folds")) {
    const auto fold = read_json(entry.path() / "fold.json");
    const auto mine = read_json(out / "folds" / entry.path().filename() / "fold.json");
    ASSERT_EQ(fold["samples"].size(), mine["samples"].size());
    for (size_t i = 0; i < fold["samples"].size(); ++i) {
      EXPECT_EQ(mine["samples"][i]["pred"], fold["samples"][i]["last_epoch_pred"]);
      EXPECT_EQ(mine["samples"][i]["probabilities"], fold["samples"][i]["last_epoch_probabilities"]);
    }
  }

  // Mixed with an honest run: honest too (the honest run contributes its reported model);
  // without --last-epoch the same pair is an ORACLE ensemble whose honest half agrees.
  const auto mixed = fresh_dir("last_mixed");
  const auto honest_pair = make_ensemble({oracle_run.string(), honest_run.string()}, mixed.string(),
                                         EnsembleOptions().last_epoch(true));
  EXPECT_EQ(honest_pair.protocol, "honest");
  const auto mixed_oracle = fresh_dir("last_mixed_oracle");
  const auto oracle_pair = make_ensemble({oracle_run.string(), honest_run.string()},
                                         mixed_oracle.string());
  EXPECT_EQ(oracle_pair.protocol, "oracle");
  EXPECT_EQ(oracle_pair.summary["honest_last_epoch"]["uf1"], honest_pair.summary["uf1"]);

  // A run that did not record its last-epoch probabilities is refused by name.
  const auto older = fresh_dir("last_older");
  fs::copy(oracle_run, older, fs::copy_options::recursive);
  for (const auto& entry : fs::directory_iterator(older / "folds")) {
    auto fold = read_json(entry.path() / "fold.json");
    for (auto& sample : fold["samples"]) sample.erase("last_epoch_probabilities");
    std::ofstream(entry.path() / "fold.json") << fold.dump();
  }
  const auto refused = fresh_dir("last_refused");
  const auto message = refusal([&] {
    make_ensemble({older.string()}, refused.string(), EnsembleOptions().last_epoch(true));
  });
  EXPECT_NE(message.find(older.string()), std::string::npos) << message;
  EXPECT_NE(message.find("last-epoch probabilities"), std::string::npos) << message;
  // Without --last-epoch it still makes an oracle ensemble, its honest half a vote.
  const auto voted = make_ensemble({older.string()}, refused.string());
  EXPECT_NE(voted.summary["honest_last_epoch"]["note"].get<std::string>().find("vote"),
            std::string::npos);
  for (const auto& d : {oracle_run, honest_run, out, mixed, mixed_oracle, older, refused}) {
    fs::remove_all(d);
  }
}

TEST(Ensemble, AveragesProbabilitiesWithWeightsAndTakesTheWeakestProtocol) {
  const auto dataset = synthetic();
  const auto a = trained_run("avg_a", dataset, 1), b = trained_run("avg_b", dataset, 2);
  const auto c = trained_run("avg_c", dataset, 3, Protocol::kOracle);
  const auto out = fresh_dir("avg_out");
  const auto result = make_ensemble({a.string(), b.string()}, out.string(),
                                    EnsembleOptions().weights({1.0, 3.0}));
  EXPECT_EQ(result.protocol, "honest");
  EXPECT_EQ(result.summary["ensemble"].size(), 2u);
  const auto rows_a = csv::read_file((a / "predictions.csv").string());
  const auto rows_b = csv::read_file((b / "predictions.csv").string());
  const auto rows = csv::read_file((out / "predictions.csv").string());
  ASSERT_EQ(rows.size(), rows_a.size());
  for (size_t r = 1; r < rows.size(); ++r) {
    EXPECT_EQ(rows[r].fields[2], rows_a[r].fields[2]);
    for (size_t k = 5; k < 8; ++k) {
      const double expected = (std::stod(rows_a[r].fields[k]) + 3 * std::stod(rows_b[r].fields[k])) / 4;
      EXPECT_NEAR(std::stod(rows[r].fields[k]), expected, 2e-6);
    }
  }
  const auto mixed = make_ensemble({a.string(), c.string()}, out.string());
  EXPECT_EQ(mixed.protocol, "oracle");
  EXPECT_EQ(read_json(out / "run.json")["settings"]["protocol"], "oracle");
  for (const auto& row : csv::read_file((out / "predictions.csv").string())) {
    if (row.line > 1) EXPECT_EQ(row.fields.back(), "oracle");
  }
  // An ensemble has no checkpoints to re-evaluate.
  EXPECT_NE(refusal([&] { evaluate_run(dataset, out.string()); }).find("is an ensemble"),
            std::string::npos);
  for (const auto& d : {a, b, c, out}) fs::remove_all(d);
}

TEST(Ensemble, RefusesRunsOnOtherDataOrOtherFoldsNamingThem) {
  const auto dataset = synthetic();
  const auto a = trained_run("mix_a", dataset);
  const auto other_data = trained_run("mix_data", synthetic(7));
  const auto other_folds = trained_run("mix_folds", dataset, 1, Protocol::kHonest, "2");
  const auto out = fresh_dir("mix_out");
  auto why = refusal([&] { make_ensemble({a.string(), other_data.string()}, out.string()); });
  EXPECT_NE(why.find(other_data.string() + " was trained on other data than " + a.string()),
            std::string::npos) << why;
  why = refusal([&] { make_ensemble({a.string(), other_folds.string()}, out.string()); });
  EXPECT_NE(why.find(other_folds.string() + " has other finished folds than " + a.string()),
            std::string::npos) << why;
  EXPECT_NE(why.find("it lacks synth/s03, synth/s04"), std::string::npos) << why;
  EXPECT_NE(refusal([&] { make_ensemble({a.string(), a.string()}, out.string()); }).find("twice"),
            std::string::npos);
  EXPECT_NE(refusal([&] {
              make_ensemble({a.string()}, out.string(), EnsembleOptions().weights({1.0, 2.0}));
            }).find("2 weights for 1 runs"),
            std::string::npos);
  EXPECT_NE(refusal([&] { make_ensemble({a.string()}, a.string()); }).find("one of the runs"),
            std::string::npos);
  EXPECT_NE(refusal([&] { make_ensemble({out.string()}, fresh_dir("x").string()); }).find("not a folder"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(out / "summary.json"));
  for (const auto& d : {a, other_data, other_folds, out}) fs::remove_all(d);
}

}  // namespace mer::engine
