// mer's copies of dlib's slow-to-decode models in its cache folder (face/shape_predictor_cache.h,
// face/face_detector.cpp): a copy must hold exactly the model it stands for, and a stale or
// damaged copy must never be used.
#include <gtest/gtest.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_processing/shape_predictor.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "mer/core/cache_dir.h"
#include "mer/face/face_detector.h"
#include "mer/face/shape_predictor_cache.h"
#include "face_fixtures.h"

namespace fs = std::filesystem;

namespace mer::face {
namespace {

template <typename Model>
std::string dlib_bytes(const Model& model) {
  std::ostringstream out;
  dlib::serialize(model, out);
  return out.str();
}

// A fresh cache folder for the test, set as MER_CACHE_DIR.
fs::path fresh_cache_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("mer-test-cache-" + name);
  fs::remove_all(dir);
  ::setenv("MER_CACHE_DIR", dir.c_str(), 1);
  return dir;
}

TEST(ModelCopies, CacheFolderFollowsTheEnvironment) {
  ::setenv("MER_CACHE_DIR", "/tmp/a", 1);
  EXPECT_EQ(mer_cache_dir(), "/tmp/a");
  ::unsetenv("MER_CACHE_DIR");
  ::setenv("XDG_CACHE_HOME", "/tmp/x", 1);
  EXPECT_EQ(mer_cache_dir(), "/tmp/x/mer");
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/tmp/h", 1);
  EXPECT_EQ(mer_cache_dir(), "/tmp/h/.cache/mer");
  ::unsetenv("HOME");
  EXPECT_EQ(mer_cache_dir(), "");
  EXPECT_EQ(shape_predictor_cache_path(kDefaultLandmarkModel), "");
}

TEST(ModelCopies, ShapePredictorCopyHoldsExactlyTheModel) {
  MER_REQUIRE_MODEL();
  const fs::path dir = fresh_cache_dir("shape");
  // A private copy of the model file, so that its modification time can be changed below.
  const fs::path model = dir / "model" / "landmarks.dat";
  fs::create_directories(model.parent_path());
  fs::copy_file(kDefaultLandmarkModel, model);
  dlib::shape_predictor original;
  dlib::deserialize(model.string()) >> original;

  const std::string copy = shape_predictor_cache_path(model.string());
  ASSERT_EQ(fs::path(copy).parent_path(), dir);
  ASSERT_TRUE(write_shape_predictor_cache(copy, model.string(), original));
  dlib::shape_predictor restored;
  ASSERT_TRUE(read_shape_predictor_cache(copy, model.string(), restored));
  EXPECT_TRUE(dlib_bytes(restored) == dlib_bytes(original)) << "the copy differs from the model";

  // Through LandmarkModel: the same landmarks with and without the copy.
  const auto via_copy = LandmarkModel::load(model.string());
  const auto via_dlib = LandmarkModel::load(model.string(), LandmarkModelCache::kBypass);
  const cv::Mat image = testing::texture(160, 7);
  for (const cv::Rect box : {cv::Rect(20, 20, 120, 120), cv::Rect(5, 30, 90, 100)}) {
    const Landmarks a = via_copy->fit(image, box), b = via_dlib->fit(image, box);
    for (int i = 0; i < kNumLandmarks; ++i) EXPECT_EQ(a[i], b[i]) << "point " << i;
  }

  // A copy of another version of the file (its modification time changed) is not used.
  fs::last_write_time(model, fs::last_write_time(model) + std::chrono::seconds(5));
  dlib::shape_predictor stale;
  EXPECT_FALSE(read_shape_predictor_cache(copy, model.string(), stale));
  EXPECT_EQ(stale.num_parts(), 0u) << "a declined copy must leave the predictor as it was";
  // LandmarkModel then reads the file and writes the copy again.
  EXPECT_EQ(LandmarkModel::load(model.string())->fit(image, {20, 20, 120, 120})[30],
            via_dlib->fit(image, {20, 20, 120, 120})[30]);
  dlib::shape_predictor fresh;
  EXPECT_TRUE(read_shape_predictor_cache(copy, model.string(), fresh));

  // Damaged copies: cut short, or one byte of the header changed.
  const auto size = fs::file_size(copy);
  fs::resize_file(copy, size / 2);
  EXPECT_FALSE(read_shape_predictor_cache(copy, model.string(), stale));
  fs::resize_file(copy, 0);
  EXPECT_FALSE(read_shape_predictor_cache(copy, model.string(), stale));
  ASSERT_TRUE(write_shape_predictor_cache(copy, model.string(), original));
  {
    std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2);
    f.put('X');
  }
  EXPECT_FALSE(read_shape_predictor_cache(copy, model.string(), stale));
  EXPECT_EQ(stale.num_parts(), 0u);
  fs::remove_all(dir);
}

TEST(ModelCopies, FaceDetectorCopyHoldsExactlyTheBuiltInDetector) {
  const fs::path dir = fresh_cache_dir("detector");
  // The first detector of this process decodes dlib's built-in model and writes the copy.
  FaceDetector detector;
  (void)detector;
  fs::path copy;
  for (const auto& entry : fs::directory_iterator(dir)) copy = entry.path();
  ASSERT_FALSE(copy.empty()) << "no copy written into " << dir;
  EXPECT_NE(copy.filename().string().find("frontal-face-detector-dlib-"), std::string::npos);
  dlib::frontal_face_detector restored;
  std::ifstream in(copy, std::ios::binary);
  dlib::deserialize(restored, in);
  EXPECT_TRUE(dlib_bytes(restored) == dlib_bytes(dlib::get_frontal_face_detector()));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mer::face
