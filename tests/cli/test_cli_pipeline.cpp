// `mer prepare` and `mer predict` through the real binary, like a binding: prepare a small
// fake database of real CASME II frames, train one fold on it, predict a clip of the subject
// that fold left out, and every bad invocation fails with one clear line.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cli/cli_runner.h"
#include "mer/models/registry.h"
#include "pipeline/pipeline_fixtures.h"

namespace fs = std::filesystem;
using mer::pipeline::testing::FakeCasme;

namespace {

CliRun mer_run(const std::string& args, bool with_stderr = true) {
  return run_mer_binary(args, with_stderr);
}

void expect_clear_failure(const CliRun& r, const std::string& expected) {
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Aborted"), std::string::npos) << r.output;
}

// One fake database, prepared and one fold trained on it in SetUpTestSuite (a few seconds;
// under ctest each test runs in its own process and does it again).
class RealDataCliPipeline : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!mer::pipeline::testing::has_real_data()) return;
    db_ = new FakeCasme("cli");
    for (const auto& row : mer::pipeline::testing::good_clips()) db_->add(row);
    prepared_ = db_->out("prepared").string();
    run_ = db_->out("run").string();
    prepare_output_ = new CliRun(mer_run("prepare --dataset casme2 --root " + db_->frames_root() +
                                      " --annotations " + db_->sheet() + " --out " + prepared_ +
                                      " --jobs 2 --quiet"));
    train_output_ = new CliRun(mer_run("loso --model ststnet --data " + prepared_ +
                                    " --epochs 3 --folds casme2/sub01 --quiet --out " + run_));
  }
  static void TearDownTestSuite() {
    delete db_;
    delete prepare_output_;
    delete train_output_;
    db_ = nullptr;
  }
  void SetUp() override { MER_REQUIRE_REAL_DATA(); }

  static std::string checkpoint() { return run_ + "/folds/casme2__sub01/model.pt"; }
  static std::string pair_args() {
    const auto row = mer::pipeline::testing::good_clips()[0];  // sub01/EP02_01f
    return " --onset " + FakeCasme::real_frame(row, row.onset) + " --apex " +
           FakeCasme::real_frame(row, row.apex);
  }

  static FakeCasme* db_;
  static std::string prepared_, run_;
  static CliRun* prepare_output_;
  static CliRun* train_output_;
};

FakeCasme* RealDataCliPipeline::db_ = nullptr;
std::string RealDataCliPipeline::prepared_, RealDataCliPipeline::run_;
CliRun* RealDataCliPipeline::prepare_output_ = nullptr;
CliRun* RealDataCliPipeline::train_output_ = nullptr;

}  // namespace

TEST_F(RealDataCliPipeline, PrepareWritesASetThatLosoTrainsOn) {
  ASSERT_EQ(prepare_output_->code, 0) << prepare_output_->output;
  EXPECT_NE(prepare_output_->output.find("prepared 6 of 6 clips to prepare (100.0%)"), std::string::npos)
      << prepare_output_->output;
  EXPECT_NE(prepare_output_->output.find("clips/s"), std::string::npos) << prepare_output_->output;
  ASSERT_EQ(train_output_->code, 0) << train_output_->output;
  EXPECT_TRUE(fs::exists(checkpoint()));
  // A rerun computes nothing.
  const auto again = mer_run("prepare --dataset casme2 --root " + db_->frames_root() +
                             " --annotations " + db_->sheet() + " --out " + prepared_ + " --quiet");
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("0 computed, 6 cached"), std::string::npos) << again.output;
}

TEST_F(RealDataCliPipeline, PredictPrintsProbabilitiesAndWritesThePng) {
  ASSERT_TRUE(fs::exists(checkpoint())) << train_output_->output;
  const std::string png = db_->out("figure/predict.png").string();
  const auto r = mer_run("predict --checkpoint " + checkpoint() + pair_args() + " --png " + png);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* s : {"prediction:", "disgust", "happiness", "surprise", "regions that moved most",
                        "fold casme2/sub01 (trained without that subject)", "figure:"}) {
    EXPECT_NE(r.output.find(s), std::string::npos) << s << "\n" << r.output;
  }
  const cv::Mat image = cv::imread(png);
  ASSERT_FALSE(image.empty());
  EXPECT_GT(image.cols, 800);
  EXPECT_GT(image.rows, 400);

  const auto j = mer_run("predict --json --checkpoint " + checkpoint() + pair_args(), false);
  ASSERT_EQ(j.code, 0) << j.output;
  const auto json = nlohmann::json::parse(j.output);
  double sum = 0;
  for (const auto& [name, p] : json.at("probabilities").items()) sum += p.get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-4);
  EXPECT_EQ(json.at("regions").size(), 9u);
  EXPECT_EQ(json.at("regions")[0].at("rank"), 1);
  EXPECT_FALSE(json.at("apex_spotted").get<bool>());
  EXPECT_EQ(json.at("preprocessing").at("map").at("output_size"), 28);
  // Same preprocessing as prepare, same model: the probabilities LOSO recorded for this test
  // sample come back.
  const auto rows = mer::pipeline::testing::read_csv_rows(run_ + "/predictions.csv");
  bool found = false;
  for (const auto& row : rows) {
    if (row.size() < 8 || row[1] != "sub01" || row[2] != "EP02_01f") continue;
    found = true;
    const auto& header = rows[0];
    for (size_t c = 0; c < header.size(); ++c) {
      if (header[c].rfind("p_", 0) != 0) continue;
      EXPECT_NEAR(json.at("probabilities").at(header[c].substr(2)).get<double>(), std::stod(row[c]), 2e-6)
          << header[c];
    }
  }
  EXPECT_TRUE(found);

  // A frame folder: the apex is spotted; --like takes the prepared set's parameters.
  const auto c = mer_run("predict --json --checkpoint " + checkpoint() + " --clip " +
                             mer::pipeline::testing::kCasme + "/frames/sub01/EP02_01f --like " + prepared_,
                         false);
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_TRUE(nlohmann::json::parse(c.output).at("apex_spotted").get<bool>());
}

// The model contract end to end, for every registered model: a fold trained by `mer loso` on
// a prepared folder, applied by `mer predict` to a clip of the subject it left out, with every
// input the model reads built from the clip (landmarks, crops) and the preprocessing its
// checkpoint recorded, gives back the probabilities LOSO recorded for that sample.
TEST_F(RealDataCliPipeline, PredictReproducesLosoForEveryModel) {
  ASSERT_EQ(prepare_output_->code, 0) << prepare_output_->output;
  const auto rows_for = [](const std::string& run) {
    return mer::pipeline::testing::read_csv_rows(run + "/predictions.csv");
  };
  for (const auto* spec : mer::models::model_registry()) {
    SCOPED_TRACE(spec->name);
    const std::string run = db_->out("contract-" + spec->name).string();
    std::string smoke;  // the model at its smoke-check size
    for (const auto& [key, value] : spec->smoke_options) smoke += " --model-opt " + key + "=" + value;
    const auto train = mer_run("loso --model " + spec->name + smoke + " --data " + prepared_ +
                               " --epochs 1 --folds casme2/sub01 --quiet --out " + run);
    ASSERT_EQ(train.code, 0) << train.output;
    const auto j = mer_run("predict --json --checkpoint " + run + "/folds/casme2__sub01/model.pt" +
                               pair_args(),
                           false);
    ASSERT_EQ(j.code, 0) << j.output;
    const auto json = nlohmann::json::parse(j.output);
    EXPECT_EQ(json.at("preprocessing_source"), "as the checkpoint's training data");
    EXPECT_TRUE(json.contains("prediction_index"));
    const auto rows = rows_for(run);
    ASSERT_FALSE(rows.empty());
    const auto& header = rows[0];
    bool found = false;
    for (const auto& row : rows) {
      if (row.size() < header.size() || row[1] != "sub01" || row[2] != "EP02_01f") continue;
      found = true;
      for (size_t c = 0; c < header.size(); ++c) {
        if (header[c].rfind("p_", 0) != 0) continue;
        EXPECT_NEAR(json.at("probabilities").at(header[c].substr(2)).get<double>(), std::stod(row[c]),
                    1e-5)
            << header[c] << ", inputs " << json.at("inputs").dump();
      }
    }
    EXPECT_TRUE(found);
    // The clip's frame folder (apex spotted) runs too, with every input the model reads.
    const auto c = mer_run("predict --json --checkpoint " + run + "/folds/casme2__sub01/model.pt --clip " +
                               mer::pipeline::testing::kCasme + "/frames/sub01/EP02_01f",
                           false);
    ASSERT_EQ(c.code, 0) << c.output;
    const auto clip_json = nlohmann::json::parse(c.output);
    double sum = 0;
    for (const auto& [name, p] : clip_json.at("probabilities").items()) sum += p.get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-4);
  }
}

TEST_F(RealDataCliPipeline, PredictRefusesAnOracleInputItIsNotGiven) {
  ASSERT_EQ(prepare_output_->code, 0) << prepare_output_->output;
  const std::string run = db_->out("contract-au-oracle").string();
  const auto train = mer_run("loso --model cva-fpf --model-opt au=oracle --data " + prepared_ +
                             " --epochs 1 --folds casme2/sub01 --quiet --out " + run);
  ASSERT_EQ(train.code, 0) << train.output;
  const std::string ckpt = " --checkpoint " + run + "/folds/casme2__sub01/model.pt";
  expect_clear_failure(mer_run("predict" + ckpt + pair_args()), "--aus");
  const auto given = mer_run("predict --json" + ckpt + pair_args() + " --aus 12", false);
  ASSERT_EQ(given.code, 0) << given.output;
  expect_clear_failure(mer_run("predict" + ckpt + pair_args() + " --aus 99"), "AU");
}

TEST_F(RealDataCliPipeline, BadPredictInvocationsFailClearly) {
  ASSERT_TRUE(fs::exists(checkpoint())) << train_output_->output;
  const auto row = mer::pipeline::testing::good_clips()[0];
  const std::string ckpt = " --checkpoint " + checkpoint();
  const std::string onset = FakeCasme::real_frame(row, row.onset);
  // Broken frames, made in the fake database's folder.
  const std::string corrupt = db_->out("corrupt.jpg").string();
  { std::ofstream(corrupt) << "not an image"; }
  const std::string blank = db_->out("blank.png").string();
  cv::imwrite(blank, cv::Mat(280, 240, CV_8UC3, cv::Scalar(128, 128, 128)));

  expect_clear_failure(mer_run("predict" + ckpt), "give --onset and --apex, or --clip");
  expect_clear_failure(mer_run("predict" + ckpt + " --onset " + onset), "--apex");
  expect_clear_failure(mer_run("predict" + ckpt + pair_args() + " --clip /tmp"), "frame number");
  expect_clear_failure(mer_run("predict --checkpoint /nonexistent/model.pt" + pair_args()),
                       "/nonexistent/model.pt: checkpoint not found");
  expect_clear_failure(mer_run("predict" + ckpt + " --onset /nonexistent/a.jpg --apex " + onset),
                       "/nonexistent/a.jpg: file not found");
  expect_clear_failure(mer_run("predict" + ckpt + " --onset " + onset + " --apex " + corrupt),
                       corrupt + ": cannot decode image");
  expect_clear_failure(mer_run("predict" + ckpt + " --onset " + blank + " --apex " + blank),
                       "no face found in " + blank);
  expect_clear_failure(mer_run("predict" + ckpt + " --clip /nonexistent/clip"),
                       "/nonexistent/clip: clip folder not found");
  expect_clear_failure(mer_run("predict" + ckpt + pair_args() + " --like " + prepared_ +
                               " --framing megc2019"),
                       "excludes");
}

TEST_F(RealDataCliPipeline, BadPrepareInvocationsFailClearly) {
  const std::string in = " --root " + db_->frames_root() + " --annotations " + db_->sheet();
  const std::string out = " --out " + db_->out("bad").string();
  expect_clear_failure(mer_run("prepare --dataset casme9" + in + out), "--dataset");
  expect_clear_failure(mer_run("prepare --dataset casme2 --annotations " + db_->sheet() + out),
                       "--root");
  expect_clear_failure(mer_run("prepare --dataset casme2 --root /nonexistent/frames --annotations " +
                               db_->sheet() + out),
                       "/nonexistent/frames");
  expect_clear_failure(mer_run("prepare --dataset casme2" + in + out + " --size 4"), "--size");
  expect_clear_failure(mer_run("prepare --dataset casme2" + in + out + " --jobs 0"), "--jobs");
  expect_clear_failure(mer_run("prepare --dataset casme2" + in + out + " --protocol 7class"),
                       "--protocol");
  expect_clear_failure(mer_run("prepare --dataset casme2" + in + out + " --only sub01"),
                       "expected SUBJECT/CLIP");
  expect_clear_failure(mer_run("prepare --dataset casme2" + in + out + " --flags-from " + db_->sheet()),
                       "--flags-from needs --exclude-flagged");
  // Into a folder that is not a prepare folder (the loso run).
  expect_clear_failure(mer_run("prepare --dataset casme2" + in + " --out " + run_),
                       "not a `mer prepare` folder");
  const auto h = mer_run("prepare --help");
  EXPECT_EQ(h.code, 0);
  for (const char* s : {"Input and output", "Selection", "Preprocessing", "Execution", "Examples:"}) {
    EXPECT_NE(h.output.find(s), std::string::npos) << s;
  }
  const auto ph = mer_run("predict --help");
  EXPECT_EQ(ph.code, 0);
  EXPECT_NE(ph.output.find("Examples:"), std::string::npos);
}
