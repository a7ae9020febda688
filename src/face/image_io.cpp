#include "face/image_io.h"

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"

namespace mer::face {

cv::Mat read_image(const std::string& path, ImageMode mode) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw DataError(path + ": file not found");
  }
  cv::Mat image;
  try {
    image = cv::imread(path, mode == ImageMode::kGrey ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    // Some decoders throw on damaged streams instead of returning an empty image.
    throw DataError(path + ": cannot decode image (" + e.msg + ")");
  }
  if (image.empty()) {
    throw DataError(path + ": cannot decode image (corrupt or not an image file)");
  }
  return image;
}

cv::Mat to_grey(const cv::Mat& image) {
  MER_CHECK(!image.empty() && image.depth() == CV_8U &&
                (image.channels() == 1 || image.channels() == 3),
            "to_grey expects an 8-bit grey or BGR image");
  if (image.channels() == 1) return image.clone();
  cv::Mat grey;
  cv::cvtColor(image, grey, cv::COLOR_BGR2GRAY);
  return grey;
}

}  // namespace mer::face
