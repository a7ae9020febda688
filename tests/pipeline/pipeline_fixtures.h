#pragma once
// A small fake CASME II database built per test from real frames (../shared/data/casme2):
// a frames tree with the onset and apex of a handful of clips, a sheet in clips.csv's format
// listing them, and helpers to break one clip (corrupt image, missing frame, face-less frame).
// Tests using it are named RealData* and skip where the data or the landmark model is absent.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "mer/face/landmarks.h"

namespace mer::pipeline::testing {

namespace fs = std::filesystem;

inline const std::string kCasme = MER_SHARED_DATA "/casme2";

inline bool has_real_data() {
  return fs::exists(kCasme + "/clips.csv") && fs::exists(face::kDefaultLandmarkModel);
}

#define MER_REQUIRE_REAL_DATA()                                                              \
  do {                                                                                       \
    if (!::mer::pipeline::testing::has_real_data())                                          \
      GTEST_SKIP() << "real data absent: " << ::mer::pipeline::testing::kCasme               \
                   << "/clips.csv or the landmark model " << ::mer::face::kDefaultLandmarkModel; \
  } while (0)

struct ClipRow {
  std::string subject, clip;
  int onset, apex, offset;
  std::string aus, emotion, flags;
};

// Six real clips of three subjects and three emotions (rows of casme2/clips.csv).
inline std::vector<ClipRow> good_clips() {
  return {{"sub01", "EP02_01f", 46, 59, 86, "12", "happiness", ""},
          {"sub01", "EP19_05f", 396, 416, 446, "4+L10", "disgust", ""},
          {"sub02", "EP09_01", 26, 56, 125, "1+12", "happiness", ""},
          {"sub02", "EP11_01", 16, 69, 106, "1+L2", "surprise", ""},
          {"sub03", "EP01_2", 51, 69, 91, "1", "surprise", ""},
          {"sub03", "EP07_04", 21, 81, 106, "4+L10", "disgust", ""}};
}

// A temporary database: root/frames/<subject>/<clip>/reg_img<N>.jpg and root/clips.csv.
class FakeCasme {
 public:
  explicit FakeCasme(const std::string& name) {
    root_ = fs::temp_directory_path() / ("mer_pipeline_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "frames");
  }
  ~FakeCasme() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  FakeCasme(const FakeCasme&) = delete;
  FakeCasme& operator=(const FakeCasme&) = delete;

  // A sheet row without frames (for rows the adapter must reject).
  void add_row_only(const ClipRow& row, const std::string& apex_text) {
    raw_rows_.push_back(row.subject + "," + row.clip + "," + std::to_string(row.onset) + "," +
                        apex_text + "," + std::to_string(row.offset) + "," + row.aus + "," +
                        row.emotion + ",\"onset,apex,offset\"," + row.flags);
    write_sheet();
  }
  // Copies the clip's onset and apex frames and lists it in the sheet.
  void add(const ClipRow& row) {
    const fs::path dir = root_ / "frames" / row.subject / row.clip;
    fs::create_directories(dir);
    for (int n : {row.onset, row.apex}) {
      fs::copy_file(real_frame(row, n), dir / frame_name(n), fs::copy_options::overwrite_existing);
    }
    rows_.push_back(row);
    write_sheet();
  }
  std::string frame(const ClipRow& row, int n) const {
    return (root_ / "frames" / row.subject / row.clip / frame_name(n)).string();
  }
  static std::string real_frame(const ClipRow& row, int n) {
    return kCasme + "/frames/" + row.subject + "/" + row.clip + "/" + frame_name(n);
  }
  static std::string frame_name(int n) { return "reg_img" + std::to_string(n) + ".jpg"; }

  // Garbage bytes under the frame's name.
  void corrupt(const ClipRow& row, int n) {
    std::ofstream out(frame(row, n), std::ios::binary | std::ios::trunc);
    out << "this is not a JPEG file, just some bytes where one should be";
  }
  void remove(const ClipRow& row, int n) { fs::remove(frame(row, n)); }
  // A smooth grey gradient of the frame's size: a valid image with no face.
  void blank(const ClipRow& row, int n) {
    const cv::Mat real = cv::imread(frame(row, n));
    cv::Mat img(real.size(), CV_8UC3);
    for (int y = 0; y < img.rows; ++y) {
      img.row(y).setTo(cv::Scalar::all(60 + 120.0 * y / img.rows));
    }
    cv::imwrite(frame(row, n), img);
  }

  std::string frames_root() const { return (root_ / "frames").string(); }
  std::string sheet() const { return (root_ / "clips.csv").string(); }
  fs::path out(const std::string& name) const { return root_ / name; }
  const fs::path& root() const { return root_; }

 private:
  void write_sheet() {
    std::ofstream out(root_ / "clips.csv", std::ios::trunc);
    out << "subject,filename,onset,apex,offset,action_units,emotion,frames,flags\n";
    for (const auto& r : rows_) {
      out << r.subject << "," << r.clip << "," << r.onset << "," << r.apex << "," << r.offset
          << "," << r.aus << "," << r.emotion << ",\"onset,apex,offset\"," << r.flags << "\n";
    }
    for (const auto& line : raw_rows_) out << line << "\n";
  }

  fs::path root_;
  std::vector<ClipRow> rows_;
  std::vector<std::string> raw_rows_;
};

// Rows of a csv file (naive split: the test files have no quoted commas in the fields read).
inline std::vector<std::vector<std::string>> read_csv_rows(const fs::path& path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    std::string field;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      else if (c == ',' && !quoted) {
        fields.push_back(field);
        field.clear();
      } else {
        field += c;
      }
    }
    fields.push_back(field);
    rows.push_back(fields);
  }
  return rows;
}

inline int column(const std::vector<std::string>& header, const std::string& name) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace mer::pipeline::testing
