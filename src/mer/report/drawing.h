#pragma once
// Drawing primitives shared by the figures (explain_figure, prediction_figure), so that every
// figure reads the same way: heat maps with a colour bar and its unit, horizontal bar charts
// with names and values, categorical colours with a legend, captions under panels.
// Every text drawn through put_text is recorded while a TextLog lives on the thread, so that
// tests can check that a figure names what it shows.
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <string>
#include <vector>

namespace mer::report::drawing {

extern const cv::Scalar kWhite, kBlack, kGrey;

// Records the text of every put_text call on this thread while alive (nests).
class TextLog {
 public:
  TextLog();
  ~TextLog();
  TextLog(const TextLog&) = delete;
  TextLog& operator=(const TextLog&) = delete;
  const std::vector<std::string>& texts() const { return texts_; }
  void add(const std::string& text) { texts_.push_back(text); }

 private:
  std::vector<std::string> texts_;
  TextLog* outer_ = nullptr;
};

void put_text(cv::Mat& image, const std::string& text, cv::Point at, double scale,
              const cv::Scalar& colour, int thickness = 1);
// The largest scale <= `scale` (down to 0.25) at which `text` fits in `width` pixels.
double fitting_scale(const std::string& text, int width, double scale);

// The face crop (grey or BGR) as a side x side BGR panel; dark grey without a face.
cv::Mat face_panel(const cv::Mat& face, int side);
// BGR of value v in [0, 1] on OpenCV's colour map `colormap`.
cv::Scalar colormap_colour(double v, int colormap = cv::COLORMAP_JET);
// A distinct colour per category (a 10-colour palette, then repeating).
cv::Scalar category_colour(int index);

// A vertical colour bar `height` high for values lo..hi on `colormap`, ticks at lo, middle
// and hi, and `unit` written above it.
cv::Mat colour_bar(double lo, double hi, const std::string& unit, int height,
                   int colormap = cv::COLORMAP_JET);
// `panel` with a colour bar for lo..hi to its right.
cv::Mat with_colour_bar(const cv::Mat& panel, double lo, double hi, const std::string& unit,
                        int colormap = cv::COLORMAP_JET);

// One row per value: its name, a bar (zero line at the left, negative values to the left of
// it) in its colour (default blue) and the value printed with `format`. `width` is the
// panel's; the height follows the number of rows.
cv::Mat horizontal_bars(const std::vector<std::string>& names, const std::vector<double>& values,
                        int width, const std::vector<cv::Scalar>& colours = {},
                        const char* format = "%.2f");

// Caption lines ('\n'-separated) under a panel, each shrunk to fit its width; the first
// line black, the others grey.
cv::Mat with_caption(const cv::Mat& panel, const std::string& text);
// Panels side by side, tops aligned, padded below with white, 6 px apart.
cv::Mat hconcat_all(const std::vector<cv::Mat>& panels);

}  // namespace mer::report::drawing
