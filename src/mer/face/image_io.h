#pragma once
// Reading video frames from image files with errors a user can act on.
#include <opencv2/core.hpp>

#include <string>

namespace mer::face {

enum class ImageMode { kGrey, kColour };

// Reads `path` as 8-bit grey (CV_8UC1) or colour (CV_8UC3, OpenCV's BGR order). Strict:
// throws mer::DataError "<path>: file not found" when the file does not exist or is not a
// regular file, "<path>: cannot decode image (truncated JPEG ...)" when the file is incomplete
// or corrupt (mer::image_bytes_problem: a cut-off JPEG, PNG or BMP, which OpenCV would decode
// with grey filler), and "<path>: cannot decode image (corrupt or not an image file)" when
// OpenCV cannot decode it or it decodes to an empty image. Thread-safe.
cv::Mat read_image(const std::string& path, ImageMode mode);

// read_image with cv::imread's `flags` (cv::IMREAD_*), e.g. IMREAD_UNCHANGED for alpha.
cv::Mat read_image_strict(const std::string& path, int flags);

// The same checks and decoding for a file's bytes already in memory (`path` names it in
// errors). `flags` are cv::imdecode's (cv::IMREAD_*). Thread-safe.
cv::Mat decode_image_strict(const std::string& path, const std::string& bytes, int flags);

// BGR colour -> grey (a copy of a grey input). Thread-safe.
cv::Mat to_grey(const cv::Mat& image);

}  // namespace mer::face
