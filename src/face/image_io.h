#pragma once
// Reading video frames from image files with errors a user can act on.
#include <opencv2/core.hpp>

#include <string>

namespace mer::face {

enum class ImageMode { kGrey, kColour };

// Reads `path` as 8-bit grey (CV_8UC1) or colour (CV_8UC3, OpenCV's BGR order). Throws
// mer::DataError "<path>: file not found" when the file does not exist or is not a regular
// file, and "<path>: cannot decode image (corrupt or not an image file)" when OpenCV cannot
// decode it or it decodes to an empty image. Thread-safe.
cv::Mat read_image(const std::string& path, ImageMode mode);

// BGR colour -> grey (a copy of a grey input). Thread-safe.
cv::Mat to_grey(const cv::Mat& image);

}  // namespace mer::face
