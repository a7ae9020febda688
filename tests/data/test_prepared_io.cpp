#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "mer/core/error.h"
#include "mer/data/action_units.h"
#include "mer/data/prepared_io.h"
#include "mer/data/synthetic.h"

namespace fs = std::filesystem;

namespace mer::data {
namespace {

// A valid prepared folder written from a small synthetic set, rewritten per test.
class PreparedFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!has_image_io()) GTEST_SKIP() << "built without OpenCV: no image files";
    dir_ = fs::temp_directory_path() /
           ("mer_test_prepared_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    dataset_ = make_synthetic(SyntheticOptions().subjects(3).samples_per_subject(4).face_size(32));
    write_prepared(dataset_, dir_.string());
    std::ifstream in(dir_ / "labels.csv");
    for (std::string line; std::getline(in, line);) lines_.push_back(line);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void rewrite(const std::vector<std::string>& lines) {
    std::ofstream out(dir_ / "labels.csv", std::ios::trunc);
    for (const auto& l : lines) out << l << "\n";
  }
  // Expects read_prepared to fail with a DataError whose message holds every fragment.
  void expect_error(const std::vector<std::string>& fragments) {
    try {
      read_prepared(dir_.string());
      FAIL() << "expected DataError";
    } catch (const DataError& e) {
      for (const auto& f : fragments) {
        EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
            << "message '" << e.what() << "' lacks '" << f << "'";
      }
    }
  }

  fs::path dir_;
  Dataset dataset_;
  std::vector<std::string> lines_;
};

}  // namespace

TEST_F(PreparedFolder, RoundTripIsExact) {
  const auto read = read_prepared(dir_.string());
  EXPECT_EQ(read.size(), dataset_.size());
  EXPECT_EQ(read.class_names, dataset_.class_names);
  EXPECT_TRUE(torch::equal(read.flows, dataset_.flows));
  EXPECT_TRUE(torch::equal(read.labels(), dataset_.labels()));
  EXPECT_EQ(read.checksum(), dataset_.checksum());
  EXPECT_EQ(read.samples[2].flow_path, dataset_.samples[2].flow_path);
}

TEST_F(PreparedFolder, CropsAndActionUnitsOfAPrepareFolder) {
  // Without crops or AU columns: neither is read.
  auto plain = read_prepared(dir_.string(), PreparedReadOptions().crops(true).crop_side(16));
  EXPECT_FALSE(plain.onsets.defined());
  EXPECT_FALSE(plain.aus.defined());
  ASSERT_TRUE(plain.faces.defined());
  EXPECT_EQ(plain.faces.sizes(), (std::vector<int64_t>{dataset_.size(), 16, 16}));  // resized
  EXPECT_FALSE(read_prepared(dir_.string()).faces.defined());  // only when asked

  // A `mer prepare` labels.csv: onset_face plus the 21 AU columns (here the onset crop is the
  // face file again, and sample 0 has AU1, AU2 and AU4: the vector of "AU1+2+R4").
  std::vector<std::string> lines = lines_;
  lines[0] += ",onset_face";
  for (int au : kActionUnitList) lines[0] += ",au" + std::to_string(au);
  for (size_t r = 1; r < lines.size(); ++r) {
    lines[r] += "," + dataset_.samples[r - 1].face_path;
    for (int au : kActionUnitList) lines[r] += (r == 1 && (au == 1 || au == 2 || au == 4)) ? ",1" : ",0";
  }
  rewrite(lines);
  const auto read = read_prepared(dir_.string(), PreparedReadOptions().crops(true).crop_side(32));
  ASSERT_TRUE(read.onsets.defined());
  EXPECT_TRUE(torch::equal(read.onsets, read.faces));
  EXPECT_EQ(read.faces.sizes(), (std::vector<int64_t>{dataset_.size(), 32, 32}));
  ASSERT_TRUE(read.aus.defined());
  EXPECT_EQ(read.aus.sizes(), (std::vector<int64_t>{dataset_.size(), 21}));
  EXPECT_EQ(read.aus[0].sum().item<float>(), 3.0f);
  EXPECT_EQ(read.aus[0][0].item<float>(), 1.0f);  // AU1
  EXPECT_EQ(read.aus[0][1].item<float>(), 1.0f);  // AU2
  EXPECT_EQ(read.aus[0][2].item<float>(), 1.0f);  // AU4
  EXPECT_EQ(read.aus.slice(0, 1).sum().item<float>(), 0.0f);
  // select_parts keeps them.
  const auto part = select_parts(read, read.parts());
  EXPECT_TRUE(torch::equal(part.aus, read.aus));
  EXPECT_TRUE(torch::equal(part.onsets, read.onsets));

  lines[1].back() = '2';  // an AU value that is no bit
  rewrite(lines);
  expect_error({"labels.csv:2", "au45", "expected 0 or 1"});
}

TEST_F(PreparedFolder, MissingFolderAndLabelsFile) {
  EXPECT_THROW(read_prepared((dir_ / "nope").string()), DataError);
  fs::remove(dir_ / "labels.csv");
  expect_error({"labels.csv", "not found"});
}

TEST_F(PreparedFolder, MissingColumn) {
  auto lines = lines_;
  lines[0] = "dataset,subject,sample,label,emotion,flow,facecrop";
  rewrite(lines);
  expect_error({"labels.csv:1", "missing column 'face'"});
}

TEST_F(PreparedFolder, MalformedRowNamesItsLine) {
  auto lines = lines_;
  lines[3] = "synth,s01,clip99,0,negative";
  rewrite(lines);
  expect_error({"labels.csv:4", "expected 7 fields, found 5"});
}

TEST_F(PreparedFolder, UnknownLabel) {
  for (const std::string bad : {"x", "-1", "1.5", ""}) {
    auto lines = lines_;
    std::stringstream row(lines[2]);
    std::vector<std::string> f;
    for (std::string s; std::getline(row, s, ',');) f.push_back(s);
    f[3] = bad;
    lines[2] = f[0] + "," + f[1] + "," + f[2] + "," + f[3] + "," + f[4] + "," + f[5] + "," + f[6];
    rewrite(lines);
    expect_error({"labels.csv:3"});
  }
}

TEST_F(PreparedFolder, LabelWhoseNameDisagrees) {
  auto lines = lines_;
  // Give row 2's label a different class name.
  const auto comma = [](const std::string& s, int n) {
    size_t p = 0;
    for (int i = 0; i < n; ++i) p = s.find(',', p) + 1;
    return p;
  };
  const size_t start = comma(lines[2], 4), end = lines[2].find(',', start);
  lines[2] = lines[2].substr(0, start) + "joy" + lines[2].substr(end);
  rewrite(lines);
  expect_error({"labels.csv:", "is named"});
}

TEST_F(PreparedFolder, DuplicateSample) {
  auto lines = lines_;
  lines.push_back(lines[1]);
  rewrite(lines);
  expect_error({"labels.csv:" + std::to_string(lines.size()), "duplicate sample", "first on line 2"});
}

TEST_F(PreparedFolder, MissingFlowFile) {
  fs::remove(dir_ / dataset_.samples[1].flow_path);
  expect_error({"labels.csv:3", dataset_.samples[1].flow_path, "does not exist"});
}

TEST_F(PreparedFolder, CorruptImage) {
  std::ofstream(dir_ / dataset_.samples[0].flow_path, std::ios::trunc) << "\x89PNG garbage";
  expect_error({"labels.csv:2", "cannot decode", dataset_.samples[0].flow_path});
}

TEST_F(PreparedFolder, LabelsMustBeContiguousClassIndices) {
  std::vector<std::string> lines = {lines_[0]};
  for (size_t i = 1; i < lines_.size(); ++i) {
    if (dataset_.samples[i - 1].label != 1) lines.push_back(lines_[i]);
  }
  rewrite(lines);
  expect_error({"label 1 never occurs"});
}

TEST(RealData, Megc2019CompositeReadsWithItsKnownCounts) {
  const fs::path dir = fs::path(MER_SHARED_DATA) / "megc2019";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " not present (licensed data lives in ../shared)";
  if (!has_image_io()) GTEST_SKIP() << "built without OpenCV";
  const auto d = read_prepared(dir.string());
  EXPECT_EQ(d.size(), 442);
  EXPECT_EQ(d.fold_keys().size(), 68u);
  EXPECT_EQ(d.class_names, megc2019_class_names());
  EXPECT_EQ(d.flow_side(), 28);
  std::map<std::string, int> per_part;
  std::vector<int> per_class(3, 0);
  for (const auto& s : d.samples) {
    ++per_part[s.dataset];
    ++per_class[s.label];
  }
  EXPECT_EQ(per_part["casme2"], 145);
  EXPECT_EQ(per_part["samm"], 133);
  EXPECT_EQ(per_part["smic"], 164);
  EXPECT_EQ(per_class, (std::vector<int>{250, 109, 83}));
  EXPECT_EQ(d.samples[0].sample, "EP02_01f");
  EXPECT_EQ(d.samples[0].label, 1);
  EXPECT_GE(d.flows.min().item<float>(), 0.f);
  EXPECT_LE(d.flows.max().item<float>(), 255.f);
}

}  // namespace mer::data
