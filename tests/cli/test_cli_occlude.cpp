// `mer occlude` through the real binary: flow-map occlusion of a small synthetic prepared
// folder (coverage masks, occluded pixels only under them, labels kept), bad invocations,
// evaluating a clean-trained run on the occluded copy, and (RealData) frame occlusion of a
// few CASME II clips followed by `mer prepare`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <sstream>

#include "cli/cli_runner.h"
#include "pipeline/pipeline_fixtures.h"

namespace fs = std::filesystem;
using mer::pipeline::testing::FakeCasme;
using mer::pipeline::testing::read_csv_rows;

namespace {

CliRun mer(const std::string& args) { return run_mer_binary(args); }

fs::path temp(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("mer_occ_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Two opaque RGBA occluders of each kind.
fs::path write_occluders(const fs::path& dir) {
  for (const std::string kind : {"masks", "glasses"}) {
    fs::create_directories(dir / kind);
    for (int i = 1; i <= 2; ++i) {
      cv::Mat bgra(40, 80, CV_8UC4, cv::Scalar(0, 0, 0, 0));
      bgra(cv::Rect(4, 4, 72, 32)).setTo(cv::Scalar(50 * i, 100, 200, 255));
      cv::imwrite((dir / kind / (std::to_string(i) + ".png")).string(), bgra);
    }
  }
  return dir;
}

class CliOcclude : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = temp("data");
    occluders_ = write_occluders(temp("occluders"));
    const auto r = mer("synth --out " + data_.string() + " --synth-subjects 3 --synth-samples 4");
    ASSERT_EQ(r.code, 0) << r.output;
    ASSERT_TRUE(fs::exists(data_ / "landmarks.csv"));
  }
  void TearDown() override {
    for (const auto& dir : cleanup_) fs::remove_all(dir);
    fs::remove_all(data_);
    fs::remove_all(occluders_);
  }
  fs::path out(const std::string& name) {
    cleanup_.push_back(temp(name));
    return cleanup_.back();
  }
  fs::path data_, occluders_;
  std::vector<fs::path> cleanup_;
};

TEST_F(CliOcclude, FlowMapOcclusionChangesOnlyCoveredPixels) {
  for (const std::string kind : {"mask", "glasses", "block"}) {
    const auto occluded = out("flow_" + kind);
    const auto r = mer("occlude --data " + data_.string() + " --kind " + kind + " --occluders " +
                       occluders_.string() + " --quiet --out " + occluded.string());
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(read_text(occluded / "labels.csv"), read_text(data_ / "labels.csv"));
    EXPECT_TRUE(fs::exists(occluded / "landmarks.csv"));
    const auto labels = read_csv_rows(data_ / "labels.csv");
    const auto table = read_csv_rows(occluded / "occlusions.csv");
    ASSERT_EQ(table.size(), labels.size());  // header + one row per sample
    const int c_kind = mer::pipeline::testing::column(table[0], "kind");
    const int c_flow = mer::pipeline::testing::column(labels[0], "flow");
    int64_t covered_total = 0;
    for (size_t i = 1; i < labels.size(); ++i) {
      EXPECT_EQ(table[i][static_cast<size_t>(c_kind)], kind);
      const std::string key = labels[i][0] + "_" + labels[i][1] + "_" + labels[i][2];
      const cv::Mat coverage = cv::imread((occluded / "occlusion" / (key + ".png")).string(), cv::IMREAD_GRAYSCALE);
      const std::string flow_rel = labels[i][static_cast<size_t>(c_flow)];
      const cv::Mat clean = cv::imread((data_ / flow_rel).string(), cv::IMREAD_COLOR);
      const cv::Mat occ = cv::imread((occluded / flow_rel).string(), cv::IMREAD_COLOR);
      ASSERT_FALSE(coverage.empty()) << key;
      ASSERT_EQ(coverage.size(), clean.size());
      covered_total += cv::countNonZero(coverage);
      for (int y = 0; y < clean.rows; ++y) {
        for (int x = 0; x < clean.cols; ++x) {
          if (coverage.at<uint8_t>(y, x) == 0) {
            ASSERT_EQ(clean.at<cv::Vec3b>(y, x), occ.at<cv::Vec3b>(y, x)) << key << " at " << x << "," << y;
          }
        }
      }
    }
    EXPECT_GT(covered_total, 0) << kind;
  }
  // Mixed: each sample gets one of the three kinds; the same seed gives the same folder.
  const auto mixed = out("mixed"), again = out("mixed_again");
  ASSERT_EQ(mer("occlude --data " + data_.string() + " --kind mixed --seed 3 --occluders " +
                occluders_.string() + " --quiet --out " + mixed.string()).code, 0);
  ASSERT_EQ(mer("occlude --data " + data_.string() + " --kind mixed --seed 3 --occluders " +
                occluders_.string() + " --quiet --out " + again.string()).code, 0);
  EXPECT_EQ(read_text(mixed / "occlusions.csv"), read_text(again / "occlusions.csv"));
  std::set<std::string> kinds;
  const auto table = read_csv_rows(mixed / "occlusions.csv");
  for (size_t i = 1; i < table.size(); ++i) kinds.insert(table[i][3]);
  EXPECT_GE(kinds.size(), 2u);
  for (const auto& k : kinds) EXPECT_TRUE(k == "mask" || k == "glasses" || k == "block") << k;
}

TEST_F(CliOcclude, BadInvocationsFailClearly) {
  const auto o = out("bad");
  auto r = mer("occlude --data " + data_.string() + " --kind block --block-ratio 0.33 --out " + o.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("0.05, 0.10"), std::string::npos) << r.output;
  r = mer("occlude --data " + data_.string() + " --kind mask --out " + o.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("occluders"), std::string::npos) << r.output;
  r = mer("occlude --data /nonexistent/prepared --kind block --out " + o.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("/nonexistent/prepared"), std::string::npos) << r.output;
  r = mer("occlude --data " + data_.string() + " --kind glasses --block-ratio 0.2 --occluders " +
          occluders_.string() + " --out " + o.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--block-ratio applies to --kind block"), std::string::npos) << r.output;
  r = mer("occlude --data " + data_.string() + " --kind scarf --out " + o.string());
  EXPECT_NE(r.code, 0);
  r = mer("occlude --kind block --out " + o.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--data"), std::string::npos) << r.output;
  // No landmarks: says how to get them.
  fs::remove(data_ / "landmarks.csv");
  r = mer("occlude --data " + data_.string() + " --kind block --out " + o.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("mer landmarks"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
}

TEST_F(CliOcclude, CleanRunEvaluatedOnOccludedData) {
  const auto run = out("run"), occluded = out("eval_block"), eval = out("eval_out");
  auto r = mer("loso --data " + data_.string() + " --folds 2 --epochs 2 --batch-size 8 --quiet --out " +
               run.string());
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_EQ(mer("occlude --data " + data_.string() + " --kind block --block-ratio 0.5 --quiet --out " +
                occluded.string()).code, 0);
  // Without the flag the checksum check refuses the other data.
  r = mer("evaluate --run " + run.string() + " --data " + occluded.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("not on the data given"), std::string::npos) << r.output;
  r = mer("evaluate --run " + run.string() + " --data " + occluded.string() + " --out " + eval.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--on-other-data"), std::string::npos) << r.output;

  r = mer("evaluate --run " + run.string() + " --data " + occluded.string() +
          " --on-other-data --out " + eval.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("tested on " + occluded.string()), std::string::npos) << r.output;
  std::ifstream in(eval / "summary.json");
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["tested_on"], occluded.string());
  EXPECT_EQ(summary["trained_on"], data_.string());
  EXPECT_EQ(summary["folds"], 2);
  EXPECT_TRUE(summary.contains("uf1"));
  EXPECT_NE(summary["evaluation"].get<std::string>().find("trained on"), std::string::npos);
  EXPECT_TRUE(fs::exists(eval / "predictions.csv"));
  // Other data may order the samples differently and lack some: matched by key, the missing
  // ones left out and counted.
  {
    const auto rows = read_csv_rows(occluded / "labels.csv");
    const auto predicted = read_csv_rows(run / "predictions.csv");
    const std::string dropped = predicted[1][0] + "," + predicted[1][1] + "," + predicted[1][2] + ",";
    std::ifstream in_labels(occluded / "labels.csv");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in_labels, line);) lines.push_back(line);
    ASSERT_GT(lines.size(), 2u);
    std::ofstream out_labels(occluded / "labels.csv", std::ios::trunc);
    out_labels << lines[0] << "\n";
    for (size_t i = lines.size() - 1; i >= 1; --i) {
      if (lines[i].rfind(dropped, 0) != 0) out_labels << lines[i] << "\n";
    }
    (void)rows;
    fs::remove(occluded / "landmarks.csv");  // it would name the dropped sample (ststnet needs none)
  }
  const auto partial = out("eval_partial");
  r = mer("evaluate --run " + run.string() + " --data " + occluded.string() +
          " --on-other-data --out " + partial.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 test samples of the run are not in"), std::string::npos) << r.output;
  {
    std::ifstream in_partial(partial / "summary.json");
    const auto s = nlohmann::json::parse(in_partial);
    EXPECT_EQ(s["missing_samples"], 1);
    EXPECT_EQ(s["n"].get<int>(), summary["n"].get<int>() - 1);
  }
  // The clean data through the same path gives the run's own predictions.
  const auto same = out("eval_same");
  r = mer("evaluate --run " + run.string() + " --data " + data_.string() + " --on-other-data --out " +
          same.string());
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in_run(run / "summary.json"), in_same(same / "summary.json");
  EXPECT_EQ(nlohmann::json::parse(in_run)["uf1"], nlohmann::json::parse(in_same)["uf1"]);
}

TEST(CliOccludeFrames, RealDataCasmeFramesOccludedThenPrepared) {
  MER_REQUIRE_REAL_DATA();
  const std::string occluders = MER_SHARED_DATA "/occluders";
  if (!fs::exists(occluders)) GTEST_SKIP() << "no occluder images at " << occluders;
  FakeCasme db("occlude");
  const auto rows = mer::pipeline::testing::good_clips();
  for (size_t i = 0; i < 4; ++i) db.add(rows[i]);
  db.blank(rows[3], rows[3].onset);  // no face on this clip's onset: skipped, not fatal
  const auto frames = db.out("occluded_frames");
  auto r = mer("occlude --dataset casme2 --root " + db.frames_root() + " --annotations " + db.sheet() +
               " --kind mask --occluders " + occluders + " --jobs 2 --quiet --out " + frames.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("no_face 1"), std::string::npos) << r.output;
  const auto table = read_csv_rows(frames / "occlusions.csv");
  EXPECT_EQ(table.size(), 1u + 3u);
  const auto skipped = read_csv_rows(frames / "skipped.csv");
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_EQ(skipped[1][2], rows[3].clip);
  EXPECT_EQ(skipped[1][3], "no_face");
  // Same layout: the onset and apex of each occluded clip, and its coverage mask.
  for (size_t i = 0; i < 3; ++i) {
    const auto dir = frames / rows[i].subject / rows[i].clip;
    EXPECT_TRUE(fs::exists(dir / FakeCasme::frame_name(rows[i].onset)));
    EXPECT_TRUE(fs::exists(dir / FakeCasme::frame_name(rows[i].apex)));
    const cv::Mat coverage = cv::imread(
        (frames / "occlusion" / ("casme2_" + rows[i].subject + "_" + rows[i].clip + ".png")).string(),
        cv::IMREAD_GRAYSCALE);
    ASSERT_FALSE(coverage.empty());
    EXPECT_EQ(read_csv_rows(frames / "occlusion" /
                            ("casme2_" + rows[i].subject + "_" + rows[i].clip + "_landmarks.csv"))
                  .size(),
              69u);  // header + 68 clean onset points
    const double share = static_cast<double>(cv::countNonZero(coverage)) / coverage.total();
    EXPECT_GT(share, 0.05);
    EXPECT_LT(share, 0.6);
  }
  // --strict turns the skipped clip into exit code 1.
  r = mer("occlude --dataset casme2 --root " + db.frames_root() + " --annotations " + db.sheet() +
          " --kind block --only sub01/EP02_01f,sub02/EP11_01 --strict --jobs 2 --quiet --out " +
          db.out("strict").string());
  EXPECT_EQ(r.code, 1) << r.output;
  // mer prepare reads the occluded frames as it reads the originals.
  const auto prepared = db.out("prepared_mask");
  r = mer("prepare --dataset casme2 --root " + frames.string() + " --annotations " + db.sheet() +
          " --jobs 2 --quiet --out " + prepared.string());
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(prepared / "labels.csv")) << r.output;
  // Each prepared clip got its coverage mask in the flow map's frame.
  for (size_t i = 0; i < 3; ++i) {
    const auto key = "casme2_" + rows[i].subject + "_" + rows[i].clip;
    // Aligned with the clean onset landmarks mer occlude recorded: no masked face is lost.
    ASSERT_TRUE(fs::exists(prepared / "flow" / (key + ".png"))) << key << "\n" << r.output;
    const cv::Mat mask = cv::imread((prepared / "occlusion" / (key + ".png")).string(), cv::IMREAD_GRAYSCALE);
    ASSERT_FALSE(mask.empty()) << key;
    EXPECT_EQ(mask.size(), cv::Size(28, 28));
    EXPECT_GT(cv::countNonZero(mask), 28 * 28 / 20) << key;
  }
  // A missing frames root fails naming it.
  r = mer("occlude --dataset casme2 --root /nonexistent/frames --annotations " + db.sheet() +
          " --kind block --out " + db.out("x").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("/nonexistent/frames"), std::string::npos) << r.output;
}

}  // namespace
