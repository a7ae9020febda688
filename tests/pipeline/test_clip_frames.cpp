// Frame folders in every database's naming are read in frame order (`mer predict --clip`).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mer/pipeline/clip_analysis.h"

namespace fs = std::filesystem;

namespace {

// A folder with empty files of these names (list_clip_frames looks at names only).
std::vector<std::string> listed(const std::string& name, const std::vector<std::string>& files) {
  const fs::path dir = fs::temp_directory_path() / ("mer_frames_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& f : files) std::ofstream(dir / f) << "x";
  std::ofstream(dir / "notes.txt") << "not a frame";
  std::vector<std::string> out;
  for (const auto& p : mer::pipeline::list_clip_frames(dir.string())) out.push_back(fs::path(p).filename().string());
  fs::remove_all(dir);
  return out;
}

}  // namespace

TEST(ClipFrames, EveryDatabaseNamingIsOrderedByFrameNumber) {
  using V = std::vector<std::string>;
  EXPECT_EQ(listed("casme2", {"reg_img100.jpg", "reg_img46.jpg", "reg_img9.jpg"}),
            (V{"reg_img9.jpg", "reg_img46.jpg", "reg_img100.jpg"}));
  EXPECT_EQ(listed("casme2raw", {"img10.jpg", "img9.jpg"}), (V{"img9.jpg", "img10.jpg"}));
  EXPECT_EQ(listed("samm", {"006_05563.jpg", "006_05562.jpg", "006_10000.jpg"}),
            (V{"006_05562.jpg", "006_05563.jpg", "006_10000.jpg"}));
  EXPECT_EQ(listed("smic", {"image012346.bmp", "image012345.bmp"}),
            (V{"image012345.bmp", "image012346.bmp"}));
  EXPECT_EQ(listed("casme3", {"1000.jpg", "355.jpg", "99.JPG"}), (V{"99.JPG", "355.jpg", "1000.jpg"}));
  EXPECT_EQ(mer::pipeline::clip_frame_number("a/b/reg_img46.jpg"), 46);
  EXPECT_EQ(mer::pipeline::clip_frame_number("006/006_1_2/006_05562.jpg"), 5562);
  EXPECT_EQ(mer::pipeline::clip_frame_number("image012345.bmp"), 12345);
  EXPECT_EQ(mer::pipeline::clip_frame_number("355.jpg"), 355);
  EXPECT_EQ(mer::pipeline::clip_frame_number("onset.jpg"), -1);
}
