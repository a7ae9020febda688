#include "mer/face/image_io.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "mer/core/error.h"
#include "mer/core/image_check.h"

namespace mer::face {

cv::Mat read_image(const std::string& path, ImageMode mode) {
  return read_image_strict(path, mode == ImageMode::kGrey ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
}

cv::Mat read_image_strict(const std::string& path, int flags) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw DataError(path + ": file not found");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) throw DataError(path + ": cannot read");
  return decode_image_strict(path, bytes.str(), flags);
}

cv::Mat decode_image_strict(const std::string& path, const std::string& bytes, int flags) {
  const std::string problem = image_bytes_problem(bytes);
  if (!problem.empty()) throw DataError(path + ": cannot decode image (" + problem + ")");
  cv::Mat image;
  try {
    image = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1,
                                 const_cast<char*>(bytes.data())),
                         flags);
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
