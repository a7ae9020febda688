#pragma once
// Shared by the face tests: the landmark model loaded once per test executable, paths of the
// real CASME II frames (../shared/data/casme2) and small helpers.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "mer/core/error.h"
#include "mer/face/landmarks.h"

namespace mer::face::testing {

inline const std::string kCasme = MER_SHARED_DATA "/casme2";

inline bool has_casme() { return std::filesystem::exists(kCasme + "/clips.csv"); }

inline std::string casme_frame(const std::string& subject, const std::string& clip, int number) {
  return kCasme + "/frames/" + subject + "/" + clip + "/reg_img" + std::to_string(number) + ".jpg";
}

// The default dlib model, loaded on first use (0.9 s) and shared by every test; null when the
// file is absent (Debian package libdlib-data).
inline std::shared_ptr<const LandmarkModel> shared_model() {
  static const std::shared_ptr<const LandmarkModel> model =
      std::filesystem::exists(kDefaultLandmarkModel) ? LandmarkModel::load() : nullptr;
  return model;
}

#define MER_REQUIRE_MODEL()                                                              \
  do {                                                                                   \
    if (!::mer::face::testing::shared_model())                                           \
      GTEST_SKIP() << "no landmark model at " << ::mer::face::kDefaultLandmarkModel      \
                   << " (Debian package libdlib-data)";                                  \
  } while (0)

#define MER_REQUIRE_CASME()                                                               \
  do {                                                                                    \
    if (!::mer::face::testing::has_casme())                                               \
      GTEST_SKIP() << "real data absent: " << ::mer::face::testing::kCasme << "/clips.csv"; \
  } while (0)

// Smooth random texture, 8-bit, values spread over most of 0..255: something a flow method can
// lock onto everywhere.
inline cv::Mat texture(int side, uint64_t seed, double blur_sigma = 1.5) {
  cv::RNG rng(seed);
  cv::Mat noise(side, side, CV_32F);
  rng.fill(noise, cv::RNG::UNIFORM, 0.0, 1.0);
  cv::GaussianBlur(noise, noise, cv::Size(), blur_sigma);
  cv::normalize(noise, noise, 0.0, 255.0, cv::NORM_MINMAX);
  cv::Mat out;
  noise.convertTo(out, CV_8U);
  return out;
}

// Expects `fn` to throw mer::DataError whose message holds every fragment.
template <typename Fn>
void expect_data_error(Fn&& fn, const std::vector<std::string>& fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected DataError";
  } catch (const DataError& e) {
    for (const auto& f : fragments) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
          << "message '" << e.what() << "' lacks '" << f << "'";
    }
  }
}

}  // namespace mer::face::testing
