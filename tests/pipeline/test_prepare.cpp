// mer::pipeline::prepare_dataset on small fake databases of real CASME II frames: the output
// is a prepared set read_prepared accepts, bad clips become skipped.csv entries with their
// reason, and the cache skips finished clips and recomputes changed ones.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "mer/core/error.h"
#include "mer/data/prepared_io.h"
#include "mer/pipeline/prepare.h"
#include "pipeline_fixtures.h"

namespace mer::pipeline {
namespace {

using testing::ClipRow;
using testing::FakeCasme;
namespace fs = std::filesystem;

PrepareOptions options_for(const FakeCasme& db) {
  return PrepareOptions()
      .dataset("casme2")
      .frames_root(db.frames_root())
      .annotations(db.sheet())
      .jobs(2)
      .quiet(true);
}

std::map<std::string, std::vector<std::string>> skipped_by_clip(const fs::path& out) {
  const auto rows = testing::read_csv_rows(out / "skipped.csv");
  EXPECT_FALSE(rows.empty());
  EXPECT_EQ(rows[0], (std::vector<std::string>{"dataset", "subject", "clip", "reason", "file", "detail"}));
  std::map<std::string, std::vector<std::string>> out_rows;
  for (size_t i = 1; i < rows.size(); ++i) out_rows[rows[i][1] + "/" + rows[i][2]] = rows[i];
  return out_rows;
}

TEST(RealDataPrepare, SixClipsGiveAPreparedSetThatReadPreparedReads) {
  MER_REQUIRE_REAL_DATA();
  FakeCasme db("six");
  for (const auto& row : testing::good_clips()) db.add(row);
  const auto out = db.out("prepared");
  const auto report = prepare_dataset(options_for(db), out.string());
  EXPECT_EQ(report.annotated, 6);
  EXPECT_EQ(report.selected, 6);
  EXPECT_EQ(report.computed, 6);
  EXPECT_EQ(report.cached, 0);
  EXPECT_TRUE(report.skipped.empty());
  EXPECT_DOUBLE_EQ(report.share_prepared(), 1.0);
  // "all": every coded emotion, sorted.
  EXPECT_EQ(report.class_names, (std::vector<std::string>{"disgust", "happiness", "surprise"}));

  const auto dataset = data::read_prepared(out.string());
  ASSERT_EQ(dataset.size(), 6);
  EXPECT_EQ(dataset.flow_side(), 28);
  EXPECT_EQ(dataset.fold_keys().size(), 3u);
  EXPECT_EQ(dataset.samples[0].sample, "EP02_01f");
  EXPECT_EQ(dataset.samples[0].emotion, "happiness");
  EXPECT_EQ(dataset.samples[0].flow_path, "flow/casme2_sub01_EP02_01f.png");

  // Extra columns: crops, landmarks, frames, AU vector.
  const auto rows = testing::read_csv_rows(out / "labels.csv");
  const auto& h = rows[0];
  for (const char* name : {"onset_face", "landmarks", "onset_frame", "apex_frame", "offset_frame",
                           "apex_spotted", "coded_emotion", "action_units", "au1", "au12", "au45"}) {
    EXPECT_GE(testing::column(h, name), 0) << name;
  }
  const auto& first = rows[1];
  EXPECT_EQ(first[testing::column(h, "apex_frame")], "59");
  EXPECT_EQ(first[testing::column(h, "apex_spotted")], "0");
  EXPECT_EQ(first[testing::column(h, "action_units")], "12");
  EXPECT_EQ(first[testing::column(h, "au12")], "1");
  EXPECT_EQ(first[testing::column(h, "au4")], "0");
  EXPECT_EQ(rows[2][testing::column(h, "au4")], "1");  // 4+L10
  EXPECT_EQ(rows[2][testing::column(h, "au10")], "1");
  const auto face = cv::imread((out / first[testing::column(h, "face")]).string(), cv::IMREAD_UNCHANGED);
  const auto onset = cv::imread((out / first[testing::column(h, "onset_face")]).string(), cv::IMREAD_UNCHANGED);
  EXPECT_EQ(face.size(), cv::Size(224, 224));
  EXPECT_EQ(onset.size(), cv::Size(224, 224));
  EXPECT_EQ(face.channels(), 1);
  const auto landmarks = testing::read_csv_rows(out / first[testing::column(h, "landmarks")]);
  ASSERT_EQ(landmarks.size(), 69u);  // header + 68 points
  // The default (MEGC2019) framing is tight: the jaw may touch or pass the border a little;
  // the eyes sit where the alignment puts them (0.50 of the side apart on row 0.31).
  for (size_t i = 1; i < landmarks.size(); ++i) {
    const double x = std::stod(landmarks[i][0]), y = std::stod(landmarks[i][1]);
    EXPECT_GT(x, -0.1 * 224);
    EXPECT_LT(x, 1.1 * 224);
    EXPECT_GT(y, -0.1 * 224);
    EXPECT_LT(y, 1.1 * 224);
  }
  double eye_y = 0;
  for (size_t i = 37; i <= 48; ++i) eye_y += std::stod(landmarks[i][1]) / 12;
  EXPECT_NEAR(eye_y, 0.31 * 224, 3.0);
  // The folder's landmarks.csv gives read_prepared each clip's own points, scaled from the
  // 224 crop to the 28 flow map (x_flow = (x + 0.5) * 28 / 224 - 0.5).
  ASSERT_TRUE(dataset.landmarks.defined());
  ASSERT_EQ(dataset.landmarks.sizes(), (std::vector<int64_t>{6, 68, 2}));
  for (size_t i = 1; i < landmarks.size(); ++i) {
    const int64_t k = static_cast<int64_t>(i) - 1;
    EXPECT_NEAR(dataset.landmarks[0][k][0].item<float>(), (std::stod(landmarks[i][0]) + 0.5) / 8 - 0.5, 0.01);
    EXPECT_NEAR(dataset.landmarks[0][k][1].item<float>(), (std::stod(landmarks[i][1]) + 0.5) / 8 - 0.5, 0.01);
  }
  EXPECT_TRUE(fs::exists(out / "manifest.json"));
  EXPECT_TRUE(fs::exists(out / "clips/casme2_sub01_EP02_01f.json"));
  EXPECT_EQ(testing::read_csv_rows(out / "skipped.csv").size(), 1u);  // the header only
  // No temporary file survives.
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  }
}

// One executable process per test: each loads the landmark model once (~1 s), so the three
// failure modes share a test.
TEST(RealDataPrepare, CorruptMissingAndFacelessFramesAreSkippedWithTheReason) {
  MER_REQUIRE_REAL_DATA();
  FakeCasme db("bad");
  for (const auto& row : testing::good_clips()) db.add(row);
  const ClipRow corrupt{"sub04", "EP12_02f", 356, 387, 406, "4+L9+14", "disgust", ""};
  const ClipRow missing{"sub05", "EP02_07", 36, 66, 101, "1+2", "surprise", ""};
  const ClipRow faceless{"sub04", "EP13_02f", 51, 81, 111, "4", "others", ""};
  for (const auto& row : {corrupt, missing, faceless}) db.add(row);
  db.add_row_only({"sub05", "EP03_01", 41, 0, 101, "14", "happiness", ""}, "/");  // no apex
  db.add_row_only({"sub05", "EP03_06", 33, 66, 83, "1", "joy", ""}, "66");  // not a CASME II emotion
  db.corrupt(corrupt, corrupt.apex);
  db.remove(missing, missing.apex);
  db.blank(faceless, faceless.onset);

  const auto out = db.out("prepared");
  const auto report = prepare_dataset(options_for(db), out.string());
  EXPECT_EQ(report.selected, 9);
  EXPECT_EQ(report.prepared(), 6);
  // Unreadable sheet rows are clips lost too (protocol "all").
  EXPECT_EQ(report.failed(), 5);
  EXPECT_NEAR(report.share_prepared(), 6.0 / 11.0, 1e-12);
  const auto counts = report.skipped_by_reason();
  EXPECT_EQ(counts.at("unreadable_image"), 1);
  EXPECT_EQ(counts.at("missing_frame"), 1);
  EXPECT_EQ(counts.at("no_face"), 1);
  EXPECT_EQ(counts.at("bad_sheet_row"), 1);
  EXPECT_EQ(counts.at("unknown_label"), 1);

  auto skipped = skipped_by_clip(out);
  ASSERT_EQ(skipped.size(), 4u);  // the two sheet rows share the key "/" (no clip)
  const auto sheet_rows = testing::read_csv_rows(out / "skipped.csv");
  std::set<std::string> row_reasons;
  for (const auto& r : sheet_rows) {
    if (r.size() > 4 && r[2].empty()) {
      row_reasons.insert(r[3]);
      EXPECT_EQ(r[4].rfind(db.sheet() + ":", 0), 0u) << r[4];  // file = sheet:row
    }
  }
  EXPECT_EQ(row_reasons, (std::set<std::string>{"bad_sheet_row", "unknown_label"}));
  skipped.erase("/");
  EXPECT_EQ(skipped.at("sub04/EP12_02f")[3], "unreadable_image");
  EXPECT_EQ(skipped.at("sub04/EP12_02f")[4], db.frame(corrupt, corrupt.apex));
  EXPECT_NE(skipped.at("sub04/EP12_02f")[5].find("cannot decode"), std::string::npos);
  EXPECT_EQ(skipped.at("sub05/EP02_07")[3], "missing_frame");
  EXPECT_EQ(skipped.at("sub05/EP02_07")[4], db.frame(missing, missing.apex));
  EXPECT_EQ(skipped.at("sub04/EP13_02f")[3], "no_face");
  EXPECT_EQ(skipped.at("sub04/EP13_02f")[4], db.frame(faceless, faceless.onset));
  // The good clips are all there; "others" has no prepared clip and is left out.
  const auto dataset = data::read_prepared(out.string());
  EXPECT_EQ(dataset.size(), 6);
  EXPECT_EQ(dataset.class_names, (std::vector<std::string>{"disgust", "happiness", "surprise"}));
  const std::string text = format_report(report);
  EXPECT_NE(text.find("prepared 6 of 11 clips to prepare"), std::string::npos) << text;
  EXPECT_NE(text.find("no_face 1"), std::string::npos) << text;
}

TEST(RealDataPrepare, RerunSkipsFinishedClipsAndChangedParametersRecompute) {
  MER_REQUIRE_REAL_DATA();
  FakeCasme db("cache");
  const auto clips = testing::good_clips();
  for (size_t i = 0; i < 4; ++i) db.add(clips[i]);
  const auto out = db.out("prepared");
  auto options = options_for(db);
  const auto first = prepare_dataset(options, out.string());
  EXPECT_EQ(first.computed, 4);
  const auto record = out / "clips/casme2_sub01_EP02_01f.json";
  const auto stamp = fs::last_write_time(record);

  const auto again = prepare_dataset(options, out.string());
  EXPECT_EQ(again.computed, 0);
  EXPECT_EQ(again.cached, 4);
  EXPECT_EQ(fs::last_write_time(record), stamp);
  EXPECT_EQ(data::read_prepared(out.string()).size(), 4);

  // A clip whose record is gone (killed before its record was written) is recomputed; a
  // replaced frame recomputes its clip too.
  fs::remove(out / "clips/casme2_sub02_EP09_01.json");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  fs::copy_file(FakeCasme::real_frame(clips[1], clips[1].apex), db.frame(clips[1], clips[1].apex),
                fs::copy_options::overwrite_existing);
  const auto repaired = prepare_dataset(options, out.string());
  EXPECT_EQ(repaired.computed, 2);
  EXPECT_EQ(repaired.recomputed, 1);
  EXPECT_EQ(repaired.cached, 2);

  // Another flow map size: every clip again, and the report says why.
  options.preprocessing().map().output_size(32);
  const auto resized = prepare_dataset(options, out.string());
  EXPECT_EQ(resized.computed, 4);
  EXPECT_EQ(resized.recomputed, 4);
  const std::string text = format_report(resized);
  EXPECT_NE(text.find("parameters changed"), std::string::npos) << text;
  EXPECT_NE(text.find("map/output_size 28 -> 32"), std::string::npos) << text;
  EXPECT_EQ(data::read_prepared(out.string()).flow_side(), 32);

  // Another framing: recomputed too, named in the report.
  options.preprocessing().alignment(framing_by_name("whole-frame"));
  const auto reframed = prepare_dataset(options, out.string());
  EXPECT_EQ(reframed.recomputed, 4);
  EXPECT_NE(format_report(reframed).find("alignment/framing \"eyes\" -> \"whole_frame\""),
            std::string::npos)
      << format_report(reframed);

  // The parameters a folder was made with come back for `mer predict --like`.
  const auto read = read_preprocessing(out.string());
  EXPECT_EQ(read.map().output_size(), 32);
  EXPECT_EQ(read.alignment().framing(), face::Framing::kWholeFrame);
  EXPECT_EQ(describe_preprocessing(read), describe_preprocessing(options.preprocessing()));
  EXPECT_THROW(framing_by_name("diagonal"), ConfigError);
}

TEST(RealDataPrepare, ProtocolsFlagsAndOnlySelectTheClips) {
  MER_REQUIRE_REAL_DATA();
  FakeCasme db("protocol");
  auto clips = testing::good_clips();
  clips[5].flags = "index_mapping_uncertain";  // sub03/EP07_04
  for (const auto& row : clips) db.add(row);
  db.add({"sub04", "EP13_02f", 51, 81, 111, "4", "sadness", ""});  // not a 5-class emotion
  const auto out = db.out("prepared");
  auto options = options_for(db).protocol("casme2-5class").exclude_flagged(true);
  const auto report = prepare_dataset(options, out.string());
  EXPECT_EQ(report.prepared(), 5);
  EXPECT_DOUBLE_EQ(report.share_prepared(), 1.0);  // left-out clips are not failures
  const auto skipped = skipped_by_clip(out);
  EXPECT_EQ(skipped.at("sub03/EP07_04")[3], "not_in_protocol");
  EXPECT_EQ(skipped.at("sub04/EP13_02f")[3], "not_in_protocol");
  // The protocol's classes, less those without a prepared clip, in protocol order.
  EXPECT_EQ(data::read_prepared(out.string()).class_names,
            (std::vector<std::string>{"happiness", "disgust", "surprise"}));

  // --only: a subset, reusing the cache.
  options.only({{"", "sub01", "EP02_01f"}, {"", "sub02", "EP11_01"}});
  const auto subset = prepare_dataset(options, out.string());
  EXPECT_EQ(subset.selected, 2);
  EXPECT_EQ(subset.cached, 2);
  EXPECT_EQ(data::read_prepared(out.string()).size(), 2);
}

TEST(Prepare, RefusesAFolderThatIsNotAPrepareFolderAndBadOptions) {
  const auto dir = fs::temp_directory_path() / ("mer_pipeline_refuse_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "frames");
  fs::create_directories(dir / "out");
  { std::ofstream(dir / "out" / "labels.csv") << "dataset\n"; }
  { std::ofstream(dir / "sheet.csv") << "subject,filename,onset,apex,offset,action_units,emotion\n"
                                        "sub01,EP02_01f,46,59,86,12,happiness\n"; }
  const auto options = PrepareOptions()
                           .frames_root((dir / "frames").string())
                           .annotations((dir / "sheet.csv").string())
                           .quiet(true);
  try {
    prepare_dataset(options, (dir / "out").string());
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("not a `mer prepare` folder"), std::string::npos) << e.what();
  }
  EXPECT_THROW(PrepareOptions(options).dataset("casme9").validate(), ConfigError);
  EXPECT_THROW(PrepareOptions(options).protocol("7class").validate(), ConfigError);
  EXPECT_THROW(PrepareOptions(options).jobs(0).validate(), ConfigError);
  EXPECT_THROW(PrepareOptions(options).frames_root("").validate(), ConfigError);
  auto bad_size = options;
  bad_size.preprocessing().map().output_size(2);
  EXPECT_THROW(bad_size.validate(), ConfigError);
  // --only matching nothing: nothing to do, said clearly.
  try {
    prepare_dataset(PrepareOptions(options).only({{"", "sub09", "nope"}}), (dir / "new").string());
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no clip to prepare"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mer::pipeline
