#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/engine/checkpoint.h"
#include "mer/engine/evaluate.h"
#include "mer/engine/loso.h"
#include "mer/engine/results.h"
#include "engine_fixtures.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::engine {
namespace {

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("mer_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

const data::Dataset& small_synthetic() {
  static const data::Dataset dataset =
      data::make_synthetic(data::SyntheticOptions().subjects(4).samples_per_subject(8).face_size(0));
  return dataset;
}

LosoOptions quick_options(int64_t epochs = 3) {
  LosoOptions o;
  o.train.epochs = epochs;
  o.train.batch_size = 16;
  o.train.lr = 1e-3;
  o.quiet = true;
  o.threads = 2;
  return o;
}

std::vector<std::vector<float>> all_probabilities(const LosoResult& r) {
  std::vector<std::vector<float>> out;
  for (const auto& o : r.outcomes) out.insert(out.end(), o.probabilities.begin(), o.probabilities.end());
  return out;
}

}  // namespace

TEST(Loso, HonestRunWritesSummaryPredictionsAndCheckpoints) {
  const auto dir = fresh_dir("honest");
  const auto result = run_loso(small_synthetic(), quick_options(), dir.string());
  ASSERT_TRUE(result.failures.empty());
  const auto& s = result.summary;
  for (const char* key : {"model", "protocol", "epochs", "seed", "folds", "uf1", "uar", "accuracy",
                          "per_dataset", "confusion", "seconds", "data_checksum", "version"}) {
    EXPECT_TRUE(s.contains(key)) << key;
  }
  EXPECT_EQ(s["protocol"], "honest");
  EXPECT_EQ(s["folds"], 4);
  EXPECT_TRUE(s["complete"].get<bool>());
  EXPECT_TRUE(s["per_dataset"].contains("synth"));
  // Every sample predicted exactly once, with probabilities summing to one.
  const auto rows = csv::read_file((dir / "predictions.csv").string());
  ASSERT_EQ(rows.size(), static_cast<size_t>(small_synthetic().size()) + 1);
  std::set<std::string> seen;
  for (size_t r = 1; r < rows.size(); ++r) {
    EXPECT_TRUE(seen.insert(rows[r].fields[1] + "/" + rows[r].fields[2]).second);
    const double total = std::stod(rows[r].fields[5]) + std::stod(rows[r].fields[6]) +
                         std::stod(rows[r].fields[7]);
    EXPECT_NEAR(total, 1.0, 1e-4);
    EXPECT_EQ(rows[r].fields.back(), "honest");
  }
  for (const auto& o : result.outcomes) {
    EXPECT_EQ(o.epoch_used, 3);
    EXPECT_TRUE(fs::is_regular_file(dir / "folds" / fold_folder_name(o.key) / "model.pt"));
    EXPECT_TRUE(fs::is_regular_file(dir / "folds" / fold_folder_name(o.key) / "fold.json"));
  }
  fs::remove_all(dir);
}

TEST(Loso, SameSeedGivesIdenticalResultsWhateverTheThreadCount) {
  const auto a = fresh_dir("det_a"), b = fresh_dir("det_b"), c = fresh_dir("det_c");
  auto one = quick_options();
  one.threads = 1;
  const auto r1 = run_loso(small_synthetic(), one, a.string());
  const auto r2 = run_loso(small_synthetic(), quick_options(), b.string());
  EXPECT_EQ(all_probabilities(r1), all_probabilities(r2));
  auto other_seed = quick_options();
  other_seed.train.seed = 2;
  const auto r3 = run_loso(small_synthetic(), other_seed, c.string());
  EXPECT_NE(all_probabilities(r1), all_probabilities(r3));
  for (const auto& d : {a, b, c}) fs::remove_all(d);
}

TEST(Loso, ResumeSkipsFinishedFoldsAndRetrainsPartialOnes) {
  const auto reference_dir = fresh_dir("resume_ref"), dir = fresh_dir("resume");
  const auto reference = run_loso(small_synthetic(), quick_options(), reference_dir.string());

  auto first_two = quick_options();
  first_two.folds = "2";
  const auto partial = run_loso(small_synthetic(), first_two, dir.string());
  EXPECT_EQ(partial.outcomes.size(), 2u);
  EXPECT_FALSE(partial.summary["complete"].get<bool>());

  const auto resumed = run_loso(small_synthetic(), quick_options(), dir.string());
  EXPECT_EQ(resumed.resumed, 2);
  EXPECT_EQ(all_probabilities(resumed), all_probabilities(reference));

  // A fold whose result file was cut short (killed mid-write) or lost is trained again.
  const auto fold0 = dir / "folds" / fold_folder_name(resumed.outcomes[0].key);
  const auto fold1 = dir / "folds" / fold_folder_name(resumed.outcomes[1].key);
  std::ofstream(fold0 / "fold.json", std::ios::trunc) << "{\"version\": 1, \"fold\":";
  fs::remove(fold1 / "fold.json");
  const auto again = run_loso(small_synthetic(), quick_options(), dir.string());
  EXPECT_EQ(again.resumed, 2);
  EXPECT_EQ(all_probabilities(again), all_probabilities(reference));
  fs::remove_all(reference_dir);
  fs::remove_all(dir);
}

TEST(Loso, RerunWithOtherSettingsInSameFolderIsRefused) {
  const auto dir = fresh_dir("settings");
  run_loso(small_synthetic(), quick_options(2), dir.string());
  try {
    run_loso(small_synthetic(), quick_options(3), dir.string());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("epochs 2 -> 3"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Loso, OracleProtocolIsLabelledInEveryOutput) {
  const auto dir = fresh_dir("oracle");
  auto o = quick_options(4);
  o.train.protocol = Protocol::kOracle;
  const auto result = run_loso(small_synthetic(), o, dir.string());
  EXPECT_EQ(result.summary["protocol"], "oracle");
  EXPECT_NE(result.summary["protocol_note"].get<std::string>().find("ORACLE"), std::string::npos);
  EXPECT_TRUE(result.summary.contains("honest_last_epoch"));
  EXPECT_NE(format_summary_table(result.summary).find("ORACLE"), std::string::npos);
  // Class names are never cut in the confusion matrix.
  auto renamed = result.summary;
  renamed["class_names"] = {"negative", "repression", "happiness_and_more"};
  const auto table = format_summary_table(renamed);
  EXPECT_NE(table.find("repression"), std::string::npos) << table;
  EXPECT_NE(table.find("happiness_and_more"), std::string::npos) << table;
  const auto rows = csv::read_file((dir / "predictions.csv").string());
  for (size_t r = 1; r < rows.size(); ++r) EXPECT_EQ(rows[r].fields.back(), "oracle");
  std::ifstream run_json(dir / "run.json");
  EXPECT_NE(std::string(std::istreambuf_iterator<char>(run_json), {}).find("oracle"),
            std::string::npos);
  // The oracle epoch is the best test accuracy seen over the epochs.
  for (const auto& outcome : result.outcomes) {
    const double best = *std::max_element(outcome.selection_score.begin(), outcome.selection_score.end());
    EXPECT_DOUBLE_EQ(outcome.selection_score[outcome.epoch_used - 1], best);
  }
  fs::remove_all(dir);
}

// The strongest form of "no test-subject sample influences its fold's training": replace the
// test subject's data and labels by anything else and the trained model is bit-identical.
class NoLeakage : public ::testing::TestWithParam<std::tuple<std::string, std::string, Protocol>> {};

TEST_P(NoLeakage, TestSubjectDataDoesNotChangeTheTrainedModel) {
  const auto [model, backend, protocol] = GetParam();
  TrainOptions options;
  options.model = model;
  options.epochs = 3;
  options.batch_size = 16;
  options.lr = 1e-3;
  options.backend = backend;
  options.protocol = protocol;
  options.validation_fraction = 0.34;
  options.class_weights = "balanced";
  const auto& clean = small_synthetic();
  FoldOptions fold_options;
  if (protocol == Protocol::kInnerVal) fold_options.validation_fraction = 0.34;
  const auto fold = make_loso_folds(clean, fold_options)[1];
  data::Dataset tampered = clean;
  tampered.flows = clean.flows.clone();
  for (auto i : fold.test) {
    auto flow = tampered.flows[i];
    flow.copy_(255.0f - flow.clone());
    tampered.samples[i].label = (tampered.samples[i].label + 1) % 3;
  }
  models::ModelPtr model_clean, model_tampered;
  FoldTrainer(clean, options).run(fold, model_clean);
  FoldTrainer(tampered, options).run(fold, model_tampered);
  const auto pa = model_clean->named_parameters(), pb = model_tampered->named_parameters();
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  const auto ba = model_clean->named_buffers(), bb = model_tampered->named_buffers();
  for (const auto& item : ba) EXPECT_TRUE(torch::equal(item.value(), bb[item.key()])) << item.key();
}

INSTANTIATE_TEST_SUITE_P(
    ModelsBackendsAndHonestProtocols, NoLeakage,
    ::testing::Values(std::make_tuple("ststnet", "fused", Protocol::kHonest),
                      std::make_tuple("ststnet", "fused", Protocol::kInnerVal),
                      std::make_tuple("ststnet", "torch", Protocol::kHonest),
                      std::make_tuple("ststnet", "torch", Protocol::kInnerVal),
                      std::make_tuple("fr", "torch", Protocol::kHonest),
                      std::make_tuple("fr", "torch", Protocol::kInnerVal)));

TEST(Loso, InnerValSelectsEpochOnValidationSubjects) {
  const auto dir = fresh_dir("innerval");
  auto o = quick_options(6);
  o.train.protocol = Protocol::kInnerVal;
  o.train.validation_fraction = 0.34;
  o.train.patience = 2;
  const auto result = run_loso(small_synthetic(), o, dir.string());
  ASSERT_TRUE(result.failures.empty());
  EXPECT_EQ(result.summary["protocol"], "inner-val");
  for (const auto& outcome : result.outcomes) {
    EXPECT_GE(outcome.epoch_used, 1);
    EXPECT_LE(outcome.epoch_used, outcome.epochs_run);
    EXPECT_EQ(outcome.selection_score.size(), static_cast<size_t>(outcome.epochs_run));
    // Early stopping: never more than `patience` epochs past the selected one.
    EXPECT_LE(outcome.epochs_run - outcome.epoch_used, 2);
  }
  fs::remove_all(dir);
}

// Torch-backend folds train concurrently on the CPU (one per thread), each drawing dropout
// from its own generator: results must not depend on the thread count or timing.
TEST(Loso, TorchBackendIsDeterministicWhateverTheThreadCount) {
  for (const std::string model : {"ststnet", "fr"}) {
    const auto a = fresh_dir("torch_a"), b = fresh_dir("torch_b"), c = fresh_dir("torch_c");
    auto o = quick_options(2);
    o.train.model = model;
    o.train.backend = "torch";
    o.folds = "3";
    o.threads = 1;
    const auto r1 = run_loso(small_synthetic(), o, a.string());
    o.threads = 2;
    const auto r2 = run_loso(small_synthetic(), o, b.string());
    const auto r3 = run_loso(small_synthetic(), o, c.string());
    EXPECT_EQ(all_probabilities(r1), all_probabilities(r2)) << model;
    EXPECT_EQ(all_probabilities(r2), all_probabilities(r3)) << model;
    for (const auto& d : {a, b, c}) fs::remove_all(d);
  }
}

// End-to-end parity of the fused kernel with the plain LibTorch module: without dropout the
// two backends see the same initial weights and the same batches, so after many optimiser
// steps they must still agree up to float rounding.
TEST(Loso, FusedAndTorchBackendsTrainTheSameModelWithoutDropout) {
  const auto a = fresh_dir("parity_fused"), b = fresh_dir("parity_torch");
  auto o = quick_options(40);
  o.train.model_options["dropout"] = "0";
  o.folds = "2";
  o.train.backend = "fused";
  const auto fused = run_loso(small_synthetic(), o, a.string());
  o.train.backend = "torch";
  const auto torch_run = run_loso(small_synthetic(), o, b.string());
  const auto pf = all_probabilities(fused), pt = all_probabilities(torch_run);
  ASSERT_EQ(pf.size(), pt.size());
  for (size_t i = 0; i < pf.size(); ++i) {
    for (size_t k = 0; k < pf[i].size(); ++k) EXPECT_NEAR(pf[i][k], pt[i][k], 2e-3);
  }
  // Training accuracy per epoch (the report's curves): the fused kernel reads it off its
  // logit gradient, the torch backend off the logits; they agree up to a sample on a tie.
  for (size_t f = 0; f < fused.outcomes.size(); ++f) {
    const auto& x = fused.outcomes[f].train_accuracy;
    const auto& y = torch_run.outcomes[f].train_accuracy;
    ASSERT_EQ(x.size(), 40u);
    ASSERT_EQ(y.size(), 40u);
    for (size_t e = 0; e < x.size(); ++e) {
      EXPECT_GE(x[e], 0.0);
      EXPECT_LE(x[e], 1.0);
      EXPECT_NEAR(x[e], y[e], 0.05) << "epoch " << e + 1;
    }
    EXPECT_GT(x.back(), x.front());  // it learns
  }
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Loso, OptionValidation) {
  TrainOptions o;
  o.epochs = 0;
  EXPECT_THROW(o.validate(), ConfigError);
  o = {};
  o.model = "nope";
  EXPECT_THROW(o.validate(), ConfigError);
  o = {};
  o.optimizer = "rmsprop";
  EXPECT_THROW(o.validate(), ConfigError);
  o = {};
  o.backend = "fused";
  o.device = "cuda";
  EXPECT_THROW(o.validate(), ConfigError);
  o = {};
  o.protocol = Protocol::kInnerVal;
  o.validation_fraction = 0.0;
  EXPECT_THROW(o.validate(), ConfigError);
}

}  // namespace mer::engine

namespace mer::engine {

// Landmark models: the engine hands each batch its samples' landmarks (training, prediction,
// explanations, re-evaluation), the run records which landmarks it used, and re-evaluation
// with other landmarks is refused instead of silently predicting differently.
TEST(Loso, LandmarksReachTheModelAndAreRecorded) {
  const auto dir = fresh_dir("dere_landmarks");
  auto options = quick_options(2);
  options.train.model = "dere-grl";
  options.folds = "2";
  options.landmarks_label = "synthetic generator";
  const auto& dataset = small_synthetic();
  ASSERT_TRUE(dataset.landmarks.defined());
  const auto result = run_loso(dataset, options, dir.string());
  ASSERT_TRUE(result.failures.empty());
  EXPECT_EQ(result.summary["landmarks"], "synthetic generator");
  EXPECT_EQ(result.summary["landmarks_checksum"], dataset.landmarks_checksum());
  std::ifstream run_in(dir / "run.json");
  const auto run = nlohmann::json::parse(run_in);
  EXPECT_EQ(run["settings"]["landmarks_checksum"], dataset.landmarks_checksum());

  // Explanations carry the landmarks the model used (the dataset's) and the model's info.
  std::ifstream explain_in(dir / "explain.json");
  const auto explain = nlohmann::json::parse(explain_in);
  ASSERT_TRUE(explain.contains("model_info"));
  EXPECT_EQ(explain["model_info"]["components"].size(), 8u);
  const auto& first = explain["samples"][0];
  const auto index = first["index"].get<int64_t>();
  EXPECT_NEAR(first["explain"]["landmarks"][30][1].get<double>(),
              dataset.landmarks[index][30][1].item<double>(), 1e-4);
  EXPECT_EQ(first["explain"]["component_action"].size(), 8u);

  // Re-evaluation with the same landmarks reproduces every prediction; with others it stops.
  EXPECT_EQ(evaluate_run(dataset, dir.string()).mismatches, 0);
  auto moved = dataset;
  moved.landmarks = dataset.landmarks + 3.0;
  try {
    evaluate_run(moved, dir.string());
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("other landmarks"), std::string::npos) << e.what();
  }
  // The landmarks change the predictions (the model reads them).
  auto none = dataset;
  none.landmarks = torch::Tensor();
  const auto probe_dir = fresh_dir("dere_landmarks_none");
  options.quiet = true;
  const auto without = run_loso(none, options, probe_dir.string());
  EXPECT_NE(all_probabilities(without), all_probabilities(result));
  EXPECT_EQ(without.summary["landmarks_checksum"], "");
  fs::remove_all(dir);
  fs::remove_all(probe_dir);
}

}  // namespace mer::engine

namespace mer::engine {

// A run written before models recorded their spec version (model_options holding only what
// was given, as older mer wrote them): the rerun of its command resumes it instead of calling
// its settings different, its checkpoints load with the options they were trained with (here
// DeRe-GRL's mean pooling, since changed to max), and it re-evaluates identically.
TEST(Loso, RunsRecordedBeforeSpecVersionsResumeAndReEvaluateIdentically) {
  const auto dir = fresh_dir("legacy_record");
  auto options = quick_options(2);
  options.train.model = "dere-grl";
  options.train.model_options = {{"adm_pool", "mean"}};
  options.folds = "2";
  const auto& dataset = small_synthetic();
  const auto first = run_loso(dataset, options, dir.string());
  ASSERT_TRUE(first.failures.empty());

  // Rewrite run.json and the checkpoints as older mer wrote them: no version, no adm_pool.
  const auto strip = [](nlohmann::json& record) {
    record.erase("model_spec_version");
    record["model_options"] = nlohmann::json::object();
  };
  nlohmann::json run;
  {
    std::ifstream in(dir / "run.json");
    run = nlohmann::json::parse(in);
  }
  EXPECT_EQ(run["settings"]["model_options"]["adm_pool"], "mean");
  EXPECT_EQ(run["settings"]["model_options"].size(), models::find_model("dere-grl").options.size());
  strip(run["settings"]);
  std::ofstream(dir / "run.json", std::ios::trunc) << run.dump(2);
  for (const auto& outcome : first.outcomes) {
    const auto path = (dir / "folds" / fold_folder_name(outcome.key) / "model.pt").string();
    auto checkpoint = load_checkpoint(path);
    auto meta = checkpoint.meta;
    strip(meta);
    meta.erase("inputs");
    save_checkpoint(path, checkpoint.model, meta);
    EXPECT_EQ(load_checkpoint(path).meta["model_options"]["adm_pool"], "mean");
    // Older mer recorded no checkpoint hash in fold.json either.
    const auto fold_file = dir / "folds" / fold_folder_name(outcome.key) / "fold.json";
    nlohmann::json fold;
    {
      std::ifstream in(fold_file);
      fold = nlohmann::json::parse(in);
    }
    fold.erase("model_hash");
    std::ofstream(fold_file, std::ios::trunc) << fold.dump();
  }
  EXPECT_EQ(evaluate_run(dataset, dir.string()).mismatches, 0);

  // The same command resumes it (options given: mean) ...
  const auto again = run_loso(dataset, options, dir.string());
  EXPECT_EQ(again.resumed, 2);
  EXPECT_EQ(all_probabilities(again), all_probabilities(first));
  // ... and new defaults do not pass for it: without the option the run would be max-pooled.
  options.train.model_options.clear();
  try {
    run_loso(dataset, options, dir.string());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model_options"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// Leave one database out: folds are the dataset parts, the summary gives each held-out part
// and the pooled figures, and resume and re-evaluation follow the recorded grouping.
TEST(Loso, GroupedByDatasetHoldsOutEachPartAndResumesAndReEvaluates) {
  const auto dataset = data::make_synthetic(
      data::SyntheticOptions().subjects(6).samples_per_subject(6).face_size(0).parts(3));
  const auto dir = fresh_dir("by_part");
  auto o = quick_options(2);
  o.train.group_by = Grouping::kDataset;
  o.train.protocol = Protocol::kInnerVal;
  o.train.validation_fraction = 0.25;
  const auto result = run_loso(dataset, o, dir.string());
  ASSERT_TRUE(result.failures.empty());
  EXPECT_EQ(result.summary["group_by"], "dataset");
  EXPECT_EQ(result.summary["folds"], 3);
  for (const std::string part : {"synth1", "synth2", "synth3"}) {
    const auto count = std::count_if(dataset.samples.begin(), dataset.samples.end(),
                                     [&](const data::SampleInfo& s) { return s.dataset == part; });
    EXPECT_EQ(result.summary["per_dataset"][part]["n"], count) << part;
    EXPECT_TRUE(fs::is_regular_file(dir / "folds" / part / "fold.json")) << part;
  }
  EXPECT_EQ(result.summary["n"], dataset.size());
  EXPECT_NE(format_summary_table(result.summary).find("held-out"), std::string::npos);
  std::ifstream run_json(dir / "run.json");
  EXPECT_EQ(nlohmann::json::parse(run_json)["settings"]["group_by"], "dataset");
  EXPECT_EQ(run_loso(dataset, o, dir.string()).resumed, 3);
  EXPECT_EQ(evaluate_run(dataset, dir.string()).mismatches, 0);
  // The same folder with subject folds is another run.
  o.train.group_by = Grouping::kSubject;
  EXPECT_THROW(run_loso(dataset, o, dir.string()), ConfigError);
  fs::remove_all(dir);
}

}  // namespace mer::engine
