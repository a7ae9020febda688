#include "mer/face/video_io.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "mer/core/error.h"

namespace mer::face {

namespace {

cv::VideoCapture open_video(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw DataError(path + ": file not found");
  cv::VideoCapture capture;
  try {
    capture.open(path, cv::CAP_ANY);
  } catch (const cv::Exception& e) {
    throw DataError(path + ": cannot open video (" + e.msg + ")");
  }
  if (!capture.isOpened()) {
    throw DataError(path + ": cannot open video (corrupt, or a format the video backend does "
                           "not decode)");
  }
  return capture;
}

cv::Mat convert(const cv::Mat& frame, ImageMode mode) {
  cv::Mat out;
  if (mode == ImageMode::kGrey) {
    if (frame.channels() == 1) return frame.clone();
    cv::cvtColor(frame, out, frame.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
  } else {
    if (frame.channels() == 3) return frame.clone();
    cv::cvtColor(frame, out, frame.channels() == 4 ? cv::COLOR_BGRA2BGR : cv::COLOR_GRAY2BGR);
  }
  return out;
}

// Calls `take(index, frame)` for frames 0..last (last < 0: all); returns the count decoded.
template <typename Take>
int64_t decode(const std::string& path, int64_t last, Take take) {
  cv::VideoCapture capture = open_video(path);
  int64_t index = 0;
  cv::Mat frame;
  try {
    while ((last < 0 || index <= last) && capture.read(frame)) {
      if (frame.empty()) break;
      take(index, frame);
      ++index;
    }
  } catch (const cv::Exception& e) {
    throw DataError(path + ": cannot decode frame " + std::to_string(index) + " (" + e.msg + ")");
  }
  if (index == 0) throw DataError(path + ": no frame could be decoded (corrupt or empty video)");
  return index;
}

[[noreturn]] void out_of_range(const std::string& path, int64_t frame, int64_t count) {
  throw DataError(path + ": frame " + std::to_string(frame) + " out of range (the video has " +
                  std::to_string(count) + " frames, numbered 0.." + std::to_string(count - 1) + ")");
}

}  // namespace

bool is_video_file(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* v : {".avi", ".mp4", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm"}) {
    if (ext == v) return true;
  }
  return false;
}

std::vector<cv::Mat> read_video_frames(const std::string& path, ImageMode mode, int64_t first,
                                       int64_t last) {
  if (first < 0) out_of_range(path, first, probe_video(path).frames);
  if (last >= 0 && last < first) {
    throw DataError(path + ": frame range " + std::to_string(first) + ".." + std::to_string(last) +
                    " is empty");
  }
  std::vector<cv::Mat> out;
  const int64_t count = decode(path, last, [&](int64_t i, const cv::Mat& frame) {
    if (i >= first) out.push_back(convert(frame, mode));
  });
  if (first >= count) out_of_range(path, first, count);
  if (last >= count) out_of_range(path, last, count);
  return out;
}

std::vector<cv::Mat> read_video_frames_at(const std::string& path, ImageMode mode,
                                          const std::vector<int64_t>& numbers) {
  if (numbers.empty()) return {};
  const int64_t highest = *std::max_element(numbers.begin(), numbers.end());
  const int64_t lowest = *std::min_element(numbers.begin(), numbers.end());
  std::vector<cv::Mat> out(numbers.size());
  const int64_t count = decode(path, highest, [&](int64_t i, const cv::Mat& frame) {
    for (size_t k = 0; k < numbers.size(); ++k) {
      if (numbers[k] == i) out[k] = convert(frame, mode);
    }
  });
  if (lowest < 0) out_of_range(path, lowest, count);
  if (highest >= count) out_of_range(path, highest, count);
  return out;
}

VideoInfo probe_video(const std::string& path) {
  VideoInfo info;
  {
    cv::VideoCapture capture = open_video(path);
    info.fps = capture.get(cv::CAP_PROP_FPS);
  }
  info.frames = decode(path, -1, [&](int64_t, const cv::Mat& frame) {
    info.width = frame.cols;
    info.height = frame.rows;
  });
  return info;
}

std::string video_frame_name(const std::string& path, int64_t frame) {
  return path + "#" + std::to_string(frame);
}

}  // namespace mer::face
