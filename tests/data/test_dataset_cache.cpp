#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mer/core/error.h"
#include "mer/data/archive_file.h"
#include "mer/data/dataset_cache.h"
#include "mer/data/synthetic.h"

namespace fs = std::filesystem;

namespace mer::data {
namespace {

class DatasetCache : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = fs::temp_directory_path() /
            ("mer_test_cache_" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".pt");
    fs::remove(file_);
    dataset_ = make_synthetic(SyntheticOptions().subjects(3).samples_per_subject(4).face_size(32));
    dataset_.root = "synthetic-folder";
    // The synthetic set has faces and landmarks; give it what `mer prepare` adds too.
    dataset_.onsets = (dataset_.faces.to(torch::kInt32) + 7).remainder(256).to(torch::kUInt8);
    dataset_.aus = torch::zeros({dataset_.size(), 21});
    dataset_.aus.index_put_({torch::indexing::Slice(), 3}, 1.0);
  }
  void TearDown() override { fs::remove(file_); }

  void expect_error(const std::string& fragment) {
    try {
      read_dataset_cache(file_.string());
      FAIL() << "expected DataError";
    } catch (const DataError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(file_.string()), std::string::npos) << message;
      EXPECT_NE(message.find(fragment), std::string::npos) << message;
    }
  }

  fs::path file_;
  Dataset dataset_;
};

TEST_F(DatasetCache, RoundTripKeepsEveryTensorAndTheDataChecksum) {
  write_dataset_cache(dataset_, file_.string());
  EXPECT_TRUE(is_dataset_cache(file_.string()));
  const auto back = read_dataset_cache(file_.string());
  EXPECT_EQ(back.root, "synthetic-folder");
  EXPECT_EQ(back.class_names, dataset_.class_names);
  ASSERT_EQ(back.size(), dataset_.size());
  for (int64_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back.samples[i].fold_key(), dataset_.samples[i].fold_key());
    EXPECT_EQ(back.samples[i].sample, dataset_.samples[i].sample);
    EXPECT_EQ(back.samples[i].label, dataset_.samples[i].label);
    EXPECT_EQ(back.samples[i].flow_path, dataset_.samples[i].flow_path);
  }
  EXPECT_EQ(back.flows.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(back.flows, dataset_.flows));
  EXPECT_TRUE(torch::equal(back.faces, dataset_.faces));
  EXPECT_TRUE(torch::equal(back.onsets, dataset_.onsets));
  EXPECT_TRUE(torch::equal(back.landmarks, dataset_.landmarks));
  EXPECT_TRUE(torch::equal(back.aus, dataset_.aus));
  // Runs on the cache resume and evaluate as runs on the folder.
  EXPECT_EQ(back.checksum(), dataset_.checksum());
  EXPECT_EQ(back.landmarks_checksum(), dataset_.landmarks_checksum());
}

TEST_F(DatasetCache, OptionalTensorsStayUndefinedWhenAbsent) {
  dataset_.faces = torch::Tensor();
  dataset_.onsets = torch::Tensor();
  dataset_.landmarks = torch::Tensor();
  dataset_.aus = torch::Tensor();
  write_dataset_cache(dataset_, file_.string());
  const auto back = read_dataset_cache(file_.string());
  EXPECT_FALSE(back.faces.defined());
  EXPECT_FALSE(back.onsets.defined());
  EXPECT_FALSE(back.landmarks.defined());
  EXPECT_FALSE(back.aus.defined());
  EXPECT_EQ(back.checksum(), dataset_.checksum());
}

TEST_F(DatasetCache, FlowsThatAreNotImageValuesAreRefused) {
  dataset_.flows[0][0][0][0] = 12.5;
  EXPECT_THROW(write_dataset_cache(dataset_, file_.string()), DataError);
  EXPECT_FALSE(fs::exists(file_));
}

TEST_F(DatasetCache, AlteredOrTruncatedFilesAreRefusedNamingTheFile) {
  write_dataset_cache(dataset_, file_.string());
  // Overwrite a stretch in the middle of the file (inside the tensor data): the archive may
  // still load, but its content no longer matches the recorded hash, or it fails to load.
  const auto size = fs::file_size(file_);
  {
    std::fstream io(file_, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(size / 2));
    const std::string junk(64, '\x5a');
    io.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  expect_error("does not match its content");
  fs::resize_file(file_, size / 3);
  expect_error("checksum trailer is missing");
}

TEST_F(DatasetCache, OtherFilesAreNotCaches) {
  std::ofstream(file_) << "dataset,subject\n";
  expect_error("checksum trailer is missing");
  fs::remove(file_);
  expect_error("no such dataset cache");
  EXPECT_FALSE(is_dataset_cache(file_.string()));
  EXPECT_FALSE(is_dataset_cache(fs::temp_directory_path().string()));
  // A LibTorch archive without mer's trailer (never handed to LibTorch's loader), and one with
  // it that is not a dataset cache.
  torch::serialize::OutputArchive archive;
  archive.write("weights", torch::ones({3}));
  archive.save_to(file_.string());
  expect_error("checksum trailer is missing");
  save_archive_with_trailer_atomic(archive, file_.string());
  expect_error("not a mer dataset cache");
}

}  // namespace
}  // namespace mer::data
