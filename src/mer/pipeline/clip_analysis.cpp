#include "mer/pipeline/clip_analysis.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "mer/core/error.h"
#include "mer/face/image_io.h"

namespace fs = std::filesystem;

namespace mer::pipeline {

namespace {

// The last run of digits in `name` (-1 when none).
long long last_number(const std::string& name) {
  long long value = -1;
  for (size_t i = 0; i < name.size();) {
    if (std::isdigit(static_cast<unsigned char>(name[i]))) {
      size_t j = i;
      while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
      value = std::stoll(name.substr(i, std::min<size_t>(j - i, 18)));
      i = j;
    } else {
      ++i;
    }
  }
  return value;
}

}  // namespace

ClipAnalysis analyse_clip(face::ClipPreprocessor& preprocessor,
                          const std::vector<std::string>& frames, std::optional<int> apex_index) {
  if (frames.size() < 2) {
    throw DataError("a clip needs at least 2 frames (onset and apex), got " +
                    std::to_string(frames.size()));
  }
  const face::ImageMode mode =
      preprocessor.options().colour_crops() ? face::ImageMode::kColour : face::ImageMode::kGrey;
  std::vector<cv::Mat> images;
  images.reserve(frames.size());
  for (const auto& f : frames) images.push_back(face::read_image(f, mode));
  return analyse_frames(preprocessor, images, frames, apex_index);
}

ClipAnalysis analyse_frames(face::ClipPreprocessor& preprocessor, const std::vector<cv::Mat>& images,
                            const std::vector<std::string>& frames, std::optional<int> apex_index) {
  if (images.size() < 2 || images.size() != frames.size()) {
    throw DataError("a clip needs at least 2 frames (onset and apex), got " +
                    std::to_string(images.size()));
  }
  ClipAnalysis out;
  out.frames = frames;
  out.clip = preprocessor.process_frames(images, frames, apex_index);
  out.onset_file = frames.front();
  out.apex_file = frames.at(static_cast<size_t>(out.clip.apex_index));
  out.motion = analyse_region_motion(out.clip.flow, out.clip.landmarks, out.clip.onset_crop.cols);
  return out;
}

long long clip_frame_number(const std::string& path) {
  return last_number(fs::path(path).stem().string());
}

std::vector<std::string> list_clip_frames(const std::string& dir) {
  if (!fs::is_directory(dir)) throw DataError(dir + ": clip folder not found");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".tif" ||
        ext == ".tiff") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    const auto na = last_number(a.stem().string()), nb = last_number(b.stem().string());
    if (na != nb) return na < nb;
    return a.filename() < b.filename();
  });
  if (files.size() < 2) {
    throw DataError(dir + ": a clip folder needs at least 2 image files (onset first), found " +
                    std::to_string(files.size()));
  }
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.string());
  return out;
}

}  // namespace mer::pipeline
