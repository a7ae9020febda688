#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "mer/core/error.h"
#include "mer/data/landmarks_io.h"
#include "mer/data/prepared_io.h"
#include "mer/data/synthetic.h"

namespace fs = std::filesystem;

namespace mer::data {
namespace {

// A small synthetic dataset (flows 28 px, faces 224 px) and its landmarks file in face pixels.
class LandmarksFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mer_test_landmarks_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    dataset_ = make_synthetic(SyntheticOptions().subjects(2).samples_per_subject(3).face_size(0));
    file_ = (dir_ / "landmarks.csv").string();
    write_landmarks(file_, landmark_rows(dataset_, 224.0, "detected"));
    std::ifstream in(file_);
    for (std::string line; std::getline(in, line);) lines_.push_back(line);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void rewrite(const std::vector<std::string>& lines) {
    std::ofstream out(file_, std::ios::trunc);
    for (const auto& l : lines) out << l << "\n";
  }
  // `lines` (default: the file as written) with field `index` of line `line` (0 = header)
  // replaced.
  std::vector<std::string> with_field(size_t line, size_t index, const std::string& value) {
    return with_field(lines_, line, index, value);
  }
  static std::vector<std::string> with_field(std::vector<std::string> lines, size_t line,
                                             size_t index, const std::string& value) {
    std::vector<std::string> fields;
    std::stringstream ss(lines[line]);
    for (std::string f; std::getline(ss, f, ',');) fields.push_back(f);
    fields.at(index) = value;
    std::string joined;
    for (size_t i = 0; i < fields.size(); ++i) joined += (i ? "," : "") + fields[i];
    lines[line] = joined;
    return lines;
  }
  void expect_error(const std::vector<std::string>& fragments) {
    try {
      read_landmarks(file_, dataset_);
      FAIL() << "expected DataError";
    } catch (const DataError& e) {
      for (const auto& f : fragments) {
        EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
            << "message '" << e.what() << "' lacks '" << f << "'";
      }
    }
  }

  fs::path dir_;
  std::string file_;
  Dataset dataset_;
  std::vector<std::string> lines_;
};

}  // namespace

TEST_F(LandmarksFile, RoundTripThroughFacePixels) {
  ASSERT_EQ(lines_.size(), static_cast<size_t>(dataset_.size()) + 1);
  EXPECT_EQ(lines_[0].rfind("dataset,subject,sample,face_size,x0,y0,x1,y1,", 0), 0u);
  EXPECT_NE(lines_[0].find(",x67,y67,source"), std::string::npos);
  const auto read = read_landmarks(file_, dataset_);
  EXPECT_EQ(read.sizes(), dataset_.landmarks.sizes());
  EXPECT_LT((read - dataset_.landmarks).abs().max().item<double>(), 1e-4);
}

TEST_F(LandmarksFile, ScalesPixelCentresOntoPixelCentres) {
  // Face pixel centre 111.5 of 224 (the middle) -> 13.5 of 28; face pixel 0 -> -0.4375; the
  // last face pixel 223 -> 27.4375.
  auto lines = with_field(1, 4, "111.5");  // x0 of the first sample
  lines = with_field(lines, 1, 5, "0");    // y0
  lines = with_field(lines, 1, 6, "223");  // x1
  rewrite(lines);
  const auto read = read_landmarks(file_, dataset_);
  EXPECT_FLOAT_EQ(read[0][0][0].item<float>(), 13.5f);
  EXPECT_FLOAT_EQ(read[0][0][1].item<float>(), -0.4375f);
  EXPECT_FLOAT_EQ(read[0][1][0].item<float>(), 27.4375f);
}

TEST_F(LandmarksFile, RowsMayComeInAnyOrderAndCarryMoreColumns) {
  auto lines = lines_;
  std::reverse(lines.begin() + 1, lines.end());
  for (auto& l : lines) l += ",extra";
  rewrite(lines);
  EXPECT_LT((read_landmarks(file_, dataset_) - dataset_.landmarks).abs().max().item<double>(), 1e-4);
}

TEST_F(LandmarksFile, BadFilesFailNamingFileAndLine) {
  fs::remove(file_);
  expect_error({file_, "not found"});

  rewrite(with_field(0, 3, "size"));
  expect_error({file_, ":1:", "missing column 'face_size'"});

  auto lines = lines_;
  lines[2] += ",1";
  rewrite(lines);
  expect_error({file_ + ":3:", "expected", "fields"});

  rewrite(with_field(2, 10, "abc"));
  expect_error({file_ + ":3:", "'x3'", "not a finite number"});

  rewrite(with_field(2, 10, "nan"));
  expect_error({file_ + ":3:", "not a finite number"});

  rewrite(with_field(1, 3, "0"));
  expect_error({file_ + ":2:", "face_size", "positive"});

  rewrite(with_field(1, 2, "clip99"));
  expect_error({file_ + ":2:", "synth/s01/clip99", "not in the dataset"});

  lines = lines_;
  lines.push_back(lines_[1]);
  rewrite(lines);
  expect_error({file_ + ":" + std::to_string(lines.size()) + ":", "duplicate sample",
                "first on line 2"});

  lines = lines_;
  lines.erase(lines.begin() + 2);
  rewrite(lines);
  expect_error({file_, "no landmarks for 1 sample", dataset_.samples[1].sample});
}

TEST_F(LandmarksFile, PreparedDatasetsReadTheirLandmarks) {
  if (!has_image_io()) GTEST_SKIP() << "built without OpenCV: no image files";
  const auto folder = dir_ / "prepared";
  // write_prepared writes landmarks.csv (in the faces' pixels) for a dataset with landmarks;
  // read_prepared reads it.
  const auto with_faces =
      make_synthetic(SyntheticOptions().subjects(2).samples_per_subject(3).face_size(64));
  ASSERT_TRUE(torch::equal(with_faces.landmarks, dataset_.landmarks));
  write_prepared(with_faces, folder.string());
  ASSERT_TRUE(fs::is_regular_file(folder / kLandmarksFile));
  const auto read = read_prepared(folder.string());
  ASSERT_TRUE(read.landmarks.defined());
  EXPECT_LT((read.landmarks - dataset_.landmarks).abs().max().item<double>(), 1e-4);
  EXPECT_EQ(read.checksum(), dataset_.checksum());  // landmarks are not part of the data hash
  EXPECT_FALSE(read.landmarks_checksum().empty());
  // Not wanted: none read.
  EXPECT_FALSE(read_prepared(folder.string(), PreparedReadOptions().landmarks(false))
                   .landmarks.defined());
  // An explicit file wins over the folder's; a missing explicit file is an error.
  auto shifted = dataset_;
  shifted.landmarks = dataset_.landmarks + 1.0;
  const auto other = (dir_ / "other.csv").string();
  write_landmarks(other, landmark_rows(shifted, 28.0, ""));
  const auto explicit_read =
      read_prepared(folder.string(), PreparedReadOptions().landmarks_file(other));
  EXPECT_LT((explicit_read.landmarks - shifted.landmarks).abs().max().item<double>(), 1e-4);
  EXPECT_NE(explicit_read.landmarks_checksum(), read.landmarks_checksum());
  EXPECT_THROW(read_prepared(folder.string(),
                             PreparedReadOptions().landmarks_file((dir_ / "nope.csv").string())),
               DataError);
  // Without the file there are no landmarks.
  fs::remove(folder / kLandmarksFile);
  EXPECT_FALSE(read_prepared(folder.string()).landmarks.defined());
}

TEST(DatasetLandmarks, ValidateChecksShapeAndValues) {
  auto d = make_synthetic(SyntheticOptions().subjects(2).samples_per_subject(3).face_size(0));
  EXPECT_NO_THROW(d.validate());
  auto bad = d;
  bad.landmarks = d.landmarks.slice(1, 0, 67);
  EXPECT_THROW(bad.validate(), DataError);
  bad.landmarks = d.landmarks.to(torch::kFloat64);
  EXPECT_THROW(bad.validate(), DataError);
  bad.landmarks = d.landmarks.clone();
  bad.landmarks[0][3][1] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(bad.validate(), DataError);
  bad.landmarks = torch::Tensor();
  EXPECT_NO_THROW(bad.validate());
  EXPECT_TRUE(bad.landmarks_checksum().empty());
}

}  // namespace mer::data
