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
  const auto mapped = MappedShapePredictor::open(copy, model.string());
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->num_parts(), original.num_parts());
  dlib::shape_predictor restored;
  mapped->to_dlib(restored);
  EXPECT_TRUE(dlib_bytes(restored) == dlib_bytes(original)) << "the copy differs from the model";
  // Fitting on the mapped records gives dlib's points exactly, also for boxes partly outside
  // the image (feature pixels outside read as 0).
  {
    const cv::Mat image = testing::texture(160, 11);
    const dlib::cv_image<unsigned char> view(image);
    for (const dlib::rectangle box : {dlib::rectangle(20, 20, 139, 139),
                                      dlib::rectangle(-30, 10, 100, 150),
                                      dlib::rectangle(60, 70, 200, 210)}) {
      const auto a = (*mapped)(view, box), b = original(view, box);
      ASSERT_EQ(a.num_parts(), b.num_parts());
      for (unsigned long i = 0; i < a.num_parts(); ++i) EXPECT_EQ(a.part(i), b.part(i)) << i;
    }
  }

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
  EXPECT_FALSE(MappedShapePredictor::open(copy, model.string()));
  // LandmarkModel then reads the file and writes the copy again.
  EXPECT_EQ(LandmarkModel::load(model.string())->fit(image, {20, 20, 120, 120})[30],
            via_dlib->fit(image, {20, 20, 120, 120})[30]);
  EXPECT_TRUE(MappedShapePredictor::open(copy, model.string()));

  // Damaged copies: cut short, one byte of the header changed, or a split's feature index
  // out of range (a copy in this layout written by something else): each declined.
  const auto size = fs::file_size(copy);
  fs::resize_file(copy, size / 2);
  EXPECT_FALSE(MappedShapePredictor::open(copy, model.string()));
  fs::resize_file(copy, 0);
  EXPECT_FALSE(MappedShapePredictor::open(copy, model.string()));
  ASSERT_TRUE(write_shape_predictor_cache(copy, model.string(), original));
  {
    std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2);
    f.put('X');
  }
  EXPECT_FALSE(MappedShapePredictor::open(copy, model.string()));
  ASSERT_TRUE(write_shape_predictor_cache(copy, model.string(), original));
  ASSERT_TRUE(MappedShapePredictor::open(copy, model.string()));
  {
    // Header: magic, stamp (u64 length + bytes padded to 8), then points, levels, trees,
    // splits, leaves; the split records (16 bytes each) come before the leaves and the end mark.
    std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
    uint64_t stamp_length = 0;
    f.seekg(8);
    f.read(reinterpret_cast<char*>(&stamp_length), 8);
    uint64_t counts[5] = {};
    f.seekg(static_cast<std::streamoff>(16 + (stamp_length + 7) / 8 * 8));
    f.read(reinterpret_cast<char*>(counts), sizeof counts);
    const uint64_t points = counts[0], splits = counts[3], leaves = counts[4];
    const uint64_t first_split = fs::file_size(copy) - 8 - leaves * 2 * points * 4 - splits * 16;
    const uint32_t out_of_range = 0xFFFFFFFFu;
    f.seekp(static_cast<std::streamoff>(first_split));
    f.write(reinterpret_cast<const char*>(&out_of_range), 4);
  }
  EXPECT_FALSE(MappedShapePredictor::open(copy, model.string()));
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
