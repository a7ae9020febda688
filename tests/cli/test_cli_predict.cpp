// Deployable models and many clips per call, through the real binary: `mer train` on two
// subjects of a small fake CASME II database, `mer predict --checkpoint` and `--run` (a LOSO
// run of the same two subjects as an ensemble) on a clip of a third subject neither saw, a
// video written from CASME II frames against the same frames as a folder, `--clips` on 50
// clips with one corrupt, and the no-motion guard.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "cli/cli_runner.h"
#include "mer/pipeline/clip_analysis.h"
#include "pipeline/pipeline_fixtures.h"

namespace fs = std::filesystem;
using mer::pipeline::testing::FakeCasme;
using mer::pipeline::testing::kCasme;

namespace {

void expect_clear_failure(const CliRun& r, const std::string& expected) {
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
}

// The unseen subject's clip: sub01/EP02_01f, frames reg_img46..86, onset 46, apex 59.
const std::string kUnseenClip = kCasme + "/frames/sub01/EP02_01f";
constexpr int kOnset = 46, kApex = 59;

// Writes the frames of `dir` (in frame order) into a Motion JPEG .avi, quality 95, with
// OpenCV's own writer (always built in); mer reads it back through FFmpeg. The frames are
// JPEGs already, so this is a second lossy coding, as a camera's video would have.
void write_video(const std::string& dir, const std::string& path) {
  const auto frames = mer::pipeline::list_clip_frames(dir);
  const cv::Mat first = cv::imread(frames.front());
  cv::VideoWriter writer(path, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 30.0,
                         first.size(), true);
  ASSERT_TRUE(writer.isOpened()) << path;
  writer.set(cv::VIDEOWRITER_PROP_QUALITY, 95);
  for (const auto& f : frames) writer.write(cv::imread(f));
}

// Models that never saw sub01: `mer train` and a 2-fold `mer loso` on sub02 + sub03.
class RealDataCliPredict : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!mer::pipeline::testing::has_real_data()) return;
    db_ = new FakeCasme("predict");
    for (const auto& row : mer::pipeline::testing::good_clips()) {
      if (row.subject != "sub01") db_->add(row);
    }
    prepared_ = db_->out("prepared").string();
    train_ = db_->out("train").string();
    run_ = db_->out("run").string();
    setup_ = new std::string;
    for (const std::string& args :
         {"prepare --dataset casme2 --root " + db_->frames_root() + " --annotations " +
              db_->sheet() + " --out " + prepared_ + " --jobs 2 --quiet",
          "train --model ststnet --data " + prepared_ + " --epochs 5 --quiet --out " + train_,
          "loso --model ststnet --data " + prepared_ + " --epochs 5 --quiet --out " + run_}) {
      const auto r = run_mer_binary(args);
      *setup_ += "$ mer " + args + "\n" + r.output;
      if (r.code != 0) {
        ok_ = false;
        return;
      }
    }
    ok_ = true;
  }
  static void TearDownTestSuite() {
    delete db_;
    delete setup_;
    db_ = nullptr;
    setup_ = nullptr;
  }
  void SetUp() override {
    MER_REQUIRE_REAL_DATA();
    ASSERT_TRUE(ok_) << *setup_;
  }
  static nlohmann::json predict_json(const std::string& args) {
    const auto r = run_mer_binary("predict --json " + args, false);
    EXPECT_EQ(r.code, 0) << run_mer_binary("predict --json " + args).output;
    return r.code == 0 ? nlohmann::json::parse(r.output) : nlohmann::json();
  }

  static FakeCasme* db_;
  static std::string prepared_, train_, run_;
  static std::string* setup_;
  static bool ok_;
};

FakeCasme* RealDataCliPredict::db_ = nullptr;
std::string RealDataCliPredict::prepared_, RealDataCliPredict::train_, RealDataCliPredict::run_;
std::string* RealDataCliPredict::setup_ = nullptr;
bool RealDataCliPredict::ok_ = false;

}  // namespace

TEST_F(RealDataCliPredict, TrainWritesADeployableModelWithTrainingMetricsOnly) {
  const auto summary = nlohmann::json::parse(std::ifstream(train_ + "/summary.json"));
  EXPECT_EQ(summary.at("format"), "mer-train");
  EXPECT_TRUE(summary.at("test_subject").is_null());
  EXPECT_EQ(summary.at("training").at("samples"), 4);
  EXPECT_EQ(summary.at("training").at("subjects"), 2);
  EXPECT_EQ(summary.at("training").at("loss_per_epoch").size(), 5u);
  EXPECT_FALSE(summary.at("data_checksum").get<std::string>().empty());
  EXPECT_TRUE(fs::exists(train_ + "/run.json"));
  // The checkpoint describes itself, as fold checkpoints do.
  const auto j = predict_json("--checkpoint " + train_ + "/model.pt --clip " + kUnseenClip +
                              " --onset " + std::to_string(kOnset) + " --apex " + std::to_string(kApex));
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j.at("fold"), "all subjects");
  EXPECT_EQ(j.at("preprocessing_source"), "as the checkpoint's training data");
  EXPECT_EQ(j.at("onset_frame"), kOnset);
  EXPECT_EQ(j.at("apex_frame"), kApex);
  double sum = 0;
  for (const auto& [name, p] : j.at("probabilities").items()) sum += p.get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-4);
  EXPECT_FALSE(j.at("no_motion").get<bool>());

  const auto text = run_mer_binary("predict --checkpoint " + train_ + "/model.pt --clip " + kUnseenClip);
  ASSERT_EQ(text.code, 0) << text.output;
  EXPECT_NE(text.output.find("trained on all subjects"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("apex spotted"), std::string::npos) << text.output;

  // --like-run takes the LOSO run's settings.
  const auto like = run_mer_binary("train --data " + prepared_ + " --like-run " + run_ +
                                   " --quiet --out " + db_->out("like").string());
  ASSERT_EQ(like.code, 0) << like.output;
  const auto like_summary = nlohmann::json::parse(std::ifstream(db_->out("like/summary.json")));
  EXPECT_EQ(like_summary.at("training").at("epochs"), 5);
  EXPECT_EQ(like_summary.at("like_run"), run_);
  expect_clear_failure(run_mer_binary("train --data " + prepared_ + " --like-run " + run_ +
                                      " --epochs 3 --out " + db_->out("x").string()),
                       "excludes");
  expect_clear_failure(run_mer_binary("train --data " + prepared_), "--out");
}

TEST_F(RealDataCliPredict, RunIsAnEnsembleOfItsFoldModels) {
  const std::string clip = " --clip " + kUnseenClip + " --onset " + std::to_string(kOnset) +
                           " --apex " + std::to_string(kApex);
  const auto j = predict_json("--run " + run_ + clip);
  ASSERT_FALSE(j.is_null());
  EXPECT_TRUE(j.at("ensemble").get<bool>());
  ASSERT_EQ(j.at("models").size(), 2u);
  // Mean of the two fold models' probabilities, each of which --checkpoint gives alone.
  const auto a = predict_json("--checkpoint " + j.at("models")[0].get<std::string>() + clip);
  const auto b = predict_json("--checkpoint " + j.at("models")[1].get<std::string>() + clip);
  ASSERT_FALSE(a.is_null());
  ASSERT_FALSE(b.is_null());
  for (const auto& [name, p] : j.at("probabilities").items()) {
    EXPECT_NEAR(p.get<double>(),
                (a.at("probabilities").at(name).get<double>() + b.at("probabilities").at(name).get<double>()) / 2,
                1e-5)
        << name;
  }
  const auto text = run_mer_binary("predict --run " + run_ + clip);
  ASSERT_EQ(text.code, 0) << text.output;
  EXPECT_NE(text.output.find("ensemble of the 2 fold models of " + run_), std::string::npos) << text.output;
  expect_clear_failure(run_mer_binary("predict --run " + prepared_ + clip), "neither a `mer loso` run");
  expect_clear_failure(run_mer_binary("predict --run " + run_ + " --checkpoint " + train_ + "/model.pt" + clip),
                       "excludes");
}

// Acceptance: a video of CASME II frames predicts like the frames themselves (codec loss only).
TEST_F(RealDataCliPredict, VideoPredictsLikeItsFrames) {
  const std::string video = db_->out("EP02_01f.avi").string();
  write_video(kUnseenClip, video);
  const std::string model = "--checkpoint " + train_ + "/model.pt";
  const auto frames = predict_json(model + " --clip " + kUnseenClip + " --onset " +
                                   std::to_string(kOnset) + " --apex " + std::to_string(kApex));
  const auto from_video = predict_json(model + " --video " + video + " --onset 0 --apex " +
                                       std::to_string(kApex - kOnset));
  ASSERT_FALSE(frames.is_null());
  ASSERT_FALSE(from_video.is_null());
  EXPECT_EQ(from_video.at("prediction"), frames.at("prediction"));
  for (const auto& [name, p] : frames.at("probabilities").items()) {
    EXPECT_NEAR(from_video.at("probabilities").at(name).get<double>(), p.get<double>(), 0.05) << name;
  }
  EXPECT_EQ(from_video.at("apex_frame"), kApex - kOnset);
  EXPECT_EQ(from_video.at("apex"), video + "#" + std::to_string(kApex - kOnset));
  // Spotted in the video as in the folder.
  const auto spotted = predict_json(model + " --video " + video);
  ASSERT_FALSE(spotted.is_null());
  EXPECT_TRUE(spotted.at("apex_spotted").get<bool>());

  expect_clear_failure(run_mer_binary("predict " + model + " --video " + video + " --onset 0 --apex 500"),
                       video + ": frame 500 out of range (the video has 41 frames");
  const std::string corrupt = db_->out("corrupt.avi").string();
  { std::ofstream(corrupt) << "RIFF, but not really a video at all"; }
  expect_clear_failure(run_mer_binary("predict " + model + " --video " + corrupt), corrupt + ": ");
  expect_clear_failure(run_mer_binary("predict " + model + " --video /nonexistent/v.mp4"),
                       "/nonexistent/v.mp4: file not found");
  expect_clear_failure(run_mer_binary("predict " + model + " --video " + video + " --onset x"),
                       "frame number");
}

TEST_F(RealDataCliPredict, NoMotionIsSaid) {
  const std::string model = "--checkpoint " + train_ + "/model.pt";
  const auto still = predict_json(model + " --clip " + kUnseenClip + " --onset " +
                                  std::to_string(kOnset) + " --apex " + std::to_string(kOnset));
  ASSERT_FALSE(still.is_null());
  EXPECT_TRUE(still.at("no_motion").get<bool>());
  EXPECT_EQ(still.at("note"), "no facial movement found");
  EXPECT_LT(still.at("motion_px").get<double>(), 0.01);
  const auto text = run_mer_binary("predict " + model + " --clip " + kUnseenClip + " --onset " +
                                   std::to_string(kOnset) + " --apex " + std::to_string(kOnset));
  EXPECT_NE(text.output.find("no facial movement found"), std::string::npos) << text.output;
}

// Acceptance: 50 clips in, 50 rows out, the corrupt one with its reason; labels give UF1/UAR.
TEST_F(RealDataCliPredict, ClipsListGivesOneRowPerClip) {
  const auto rows = mer::pipeline::testing::read_csv_rows(kCasme + "/clips.csv");
  const std::string list = db_->out("list.csv").string();
  const std::string corrupt = db_->out("broken.mp4").string();
  { std::ofstream(corrupt) << "not a video"; }
  {
    std::ofstream out(list);
    out << "path,onset,apex,label\n";
    int n = 0;
    for (size_t r = 1; r < rows.size() && n < 49; ++r) {
      const auto& f = rows[r];
      if (f.size() < 7) continue;
      out << kCasme << "/frames/" << f[0] << "/" << f[1] << "," << f[2] << "," << f[3] << "," << f[6] << "\n";
      ++n;
    }
    out << corrupt << ",0,3,disgust\n";
  }
  const std::string out_dir = db_->out("results").string();
  const auto r = run_mer_binary("predict --checkpoint " + train_ + "/model.pt --clips " + list +
                                " --out " + out_dir + " --jobs 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("predicted 49 of 50 clips"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("UF1"), std::string::npos) << r.output;
  const auto table = mer::pipeline::testing::read_csv_rows(out_dir + "/predictions.csv");
  ASSERT_EQ(table.size(), 51u);  // header + 50
  const auto& header = table[0];
  const int status = mer::pipeline::testing::column(header, "status");
  const int error = mer::pipeline::testing::column(header, "error");
  ASSERT_GE(status, 0);
  ASSERT_GE(error, 0);
  for (size_t i = 1; i < 50; ++i) EXPECT_EQ(table[i][status], "ok") << i;
  EXPECT_EQ(table[50][status], "error");
  EXPECT_NE(table[50][error].find(corrupt + ": cannot open video"), std::string::npos) << table[50][error];
  const auto json = nlohmann::json::parse(std::ifstream(out_dir + "/predictions.json"));
  EXPECT_EQ(json.at("clips").size(), 50u);
  EXPECT_EQ(json.at("summary").at("failed"), 1);
  // Labels outside the model's three classes (others, repression) are noted, not scored.
  EXPECT_GT(json.at("summary").at("labelled").get<int>(), 0);
  EXPECT_LT(json.at("summary").at("labelled").get<int>(), 49);
  EXPECT_TRUE(json.at("summary").contains("label_notes"));
  EXPECT_TRUE(json.at("summary").contains("uf1"));

  expect_clear_failure(run_mer_binary("predict --checkpoint " + train_ + "/model.pt --clips " + list),
                       "--out");
}

// `mer prepare --video-root`: one video per clip, sheet frame numbers counted from frame 0
// (the clip folder holds the onset, apex and offset frames: frames 0, 1, 2 of its video).
TEST_F(RealDataCliPredict, PrepareReadsDatabasesDistributedAsVideos) {
  const fs::path videos = db_->out("videos");
  fs::create_directories(videos / "sub02");
  write_video(kCasme + "/frames/sub02/EP09_01", (videos / "sub02" / "EP09_01.avi").string());
  const std::string sheet = db_->out("video_clips.csv").string();
  {
    std::ofstream out(sheet);
    out << "subject,filename,onset,apex,offset,action_units,emotion,frames,flags\n"
        << "sub02,EP09_01,0,1,2,1+12,happiness,\"onset,apex,offset\",\n"
        << "sub02,EP11_01,0,53,90,1+L2,surprise,\"onset,apex,offset\",\n";  // no video
  }
  const std::string out = db_->out("prepared_videos").string();
  const auto r = run_mer_binary("prepare --dataset casme2 --video-root " + videos.string() +
                                " --annotations " + sheet + " --out " + out + " --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto labels = mer::pipeline::testing::read_csv_rows(out + "/labels.csv");
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels[1][mer::pipeline::testing::column(labels[0], "apex_frame")], "1");
  const auto skipped = mer::pipeline::testing::read_csv_rows(out + "/skipped.csv");
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_EQ(skipped[1][mer::pipeline::testing::column(skipped[0], "reason")], "missing_frame");
  expect_clear_failure(run_mer_binary("prepare --dataset casme2 --annotations " + sheet + " --out " + out),
                       "--video-root");
}
