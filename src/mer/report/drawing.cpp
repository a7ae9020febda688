#include "mer/report/drawing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mer::report::drawing {

const cv::Scalar kWhite(255, 255, 255), kBlack(0, 0, 0), kGrey(90, 90, 90);

namespace {
thread_local TextLog* current_log = nullptr;
constexpr int kCaptionLine = 22;
}  // namespace

TextLog::TextLog() : outer_(current_log) { current_log = this; }
TextLog::~TextLog() {
  if (outer_) {
    for (const auto& t : texts_) outer_->add(t);
  }
  current_log = outer_;
}

void put_text(cv::Mat& image, const std::string& text, cv::Point at, double scale,
              const cv::Scalar& colour, int thickness) {
  cv::putText(image, text, at, cv::FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv::LINE_AA);
  if (current_log) current_log->add(text);
}

double fitting_scale(const std::string& text, int width, double scale) {
  int baseline = 0;
  while (scale > 0.25 &&
         cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline).width > width) {
    scale -= 0.02;
  }
  return scale;
}

cv::Mat face_panel(const cv::Mat& face, int side) {
  cv::Mat bgr;
  if (face.empty()) return cv::Mat(side, side, CV_8UC3, cv::Scalar(40, 40, 40));
  if (face.channels() == 1) cv::cvtColor(face, bgr, cv::COLOR_GRAY2BGR);
  else bgr = face.clone();
  cv::resize(bgr, bgr, cv::Size(side, side), 0, 0, cv::INTER_AREA);
  return bgr;
}

cv::Scalar colormap_colour(double v, int colormap) {
  cv::Mat one(1, 1, CV_8U, cv::Scalar(static_cast<int>(std::lround(std::clamp(v, 0.0, 1.0) * 255)))), colour;
  cv::applyColorMap(one, colour, colormap);
  const auto c = colour.at<cv::Vec3b>(0, 0);
  return cv::Scalar(c[0], c[1], c[2]);
}

cv::Scalar category_colour(int index) {
  // Tableau's 10 categorical colours, BGR.
  static const cv::Scalar palette[] = {{180, 119, 31}, {14, 127, 255}, {44, 160, 44},  {40, 39, 214},
                                       {189, 103, 148}, {75, 86, 140},  {194, 119, 227}, {127, 127, 127},
                                       {34, 189, 188},  {207, 190, 23}};
  return palette[static_cast<size_t>(std::max(index, 0)) % 10];
}

namespace {
std::string number(double v) {
  char buf[32];
  const double a = std::fabs(v);
  std::snprintf(buf, sizeof buf, a != 0 && (a < 0.01 || a >= 1000) ? "%.1e" : a < 10 ? "%.2f" : "%.1f", v);
  return buf;
}
}  // namespace

cv::Mat colour_bar(double lo, double hi, const std::string& unit, int height, int colormap) {
  const int strip = 12, label_width = 44, top = 16, bottom = 6;
  cv::Mat panel(height, strip + label_width + 4, CV_8UC3, kWhite);
  const int inner = std::max(8, height - top - bottom);
  cv::Mat ramp(inner, 1, CV_8U);
  for (int y = 0; y < inner; ++y) ramp.at<uchar>(y, 0) = static_cast<uchar>(255 - (255 * y) / std::max(inner - 1, 1));
  cv::Mat coloured, wide;
  cv::applyColorMap(ramp, coloured, colormap);
  cv::resize(coloured, wide, cv::Size(strip, inner), 0, 0, cv::INTER_NEAREST);
  wide.copyTo(panel(cv::Rect(2, top, strip, inner)));
  cv::rectangle(panel, cv::Rect(2, top, strip, inner), kGrey, 1);
  const double values[] = {hi, (lo + hi) / 2, lo};
  const int ys[] = {top + 4, top + inner / 2 + 4, top + inner};
  for (int i = 0; i < 3; ++i) {
    put_text(panel, number(values[i]), cv::Point(strip + 5, ys[i]), 0.32, kBlack);
  }
  put_text(panel, unit, cv::Point(1, 11), fitting_scale(unit, panel.cols - 2, 0.32), kGrey);
  return panel;
}

cv::Mat with_colour_bar(const cv::Mat& panel, double lo, double hi, const std::string& unit,
                        int colormap) {
  const cv::Mat bar = colour_bar(lo, hi, unit, panel.rows, colormap);
  cv::Mat out;
  cv::hconcat(std::vector<cv::Mat>{panel, bar}, out);
  return out;
}

cv::Mat horizontal_bars(const std::vector<std::string>& names, const std::vector<double>& values,
                        int width, const std::vector<cv::Scalar>& colours, const char* format) {
  const int n = static_cast<int>(values.size());
  const int row = n > 12 ? 15 : 20;
  const double font = n > 12 ? 0.34 : 0.38;
  cv::Mat panel(std::max(row * n + 8, 40), width, CV_8UC3, kWhite);
  if (n == 0) return panel;
  int name_width = 12;
  for (const auto& s : names) {
    int baseline = 0;
    name_width = std::max(name_width, cv::getTextSize(s, cv::FONT_HERSHEY_SIMPLEX, font, 1, &baseline).width + 6);
  }
  name_width = std::min(name_width, width / 2);
  double lo = 0, hi = 0;
  for (double v : values) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  hi = std::max(hi, lo + 1e-12);
  const int value_width = 40, bar_span = std::max(10, width - name_width - value_width - 4);
  const int zero_x = name_width + static_cast<int>((0 - lo) / (hi - lo) * bar_span);
  for (int i = 0; i < n; ++i) {
    const int y = 4 + i * row;
    const std::string name = i < static_cast<int>(names.size()) ? names[static_cast<size_t>(i)] : std::to_string(i);
    put_text(panel, name, cv::Point(2, y + row - 6), fitting_scale(name, name_width - 4, font), kBlack);
    const double v = values[static_cast<size_t>(i)];
    const int x = name_width + static_cast<int>((v - lo) / (hi - lo) * bar_span);
    const cv::Scalar colour = i < static_cast<int>(colours.size()) ? colours[static_cast<size_t>(i)]
                                                                  : cv::Scalar(180, 110, 30);
    cv::rectangle(panel, cv::Point(std::min(x, zero_x), y + 3), cv::Point(std::max(x, zero_x), y + row - 3),
                  colour, cv::FILLED);
    char buf[32];
    std::snprintf(buf, sizeof buf, format, v);
    put_text(panel, buf, cv::Point(std::max(x, zero_x) + 3, y + row - 6), font, kGrey);
  }
  cv::line(panel, cv::Point(zero_x, 2), cv::Point(zero_x, panel.rows - 2), kGrey);
  return panel;
}

cv::Mat with_caption(const cv::Mat& panel, const std::string& text) {
  std::vector<std::string> lines;
  for (size_t start = 0;;) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  cv::Mat out(panel.rows + kCaptionLine * static_cast<int>(lines.size()), panel.cols, CV_8UC3, kWhite);
  panel.copyTo(out(cv::Rect(0, 0, panel.cols, panel.rows)));
  for (size_t i = 0; i < lines.size(); ++i) {
    put_text(out, lines[i], cv::Point(2, panel.rows + 15 + kCaptionLine * static_cast<int>(i)),
             fitting_scale(lines[i], panel.cols - 4, 0.42), i == 0 ? kBlack : kGrey);
  }
  return out;
}

cv::Mat hconcat_all(const std::vector<cv::Mat>& panels) {
  cv::Mat row;
  int height = 0;
  for (const auto& p : panels) height = std::max(height, p.rows);
  std::vector<cv::Mat> spaced;
  for (const auto& p : panels) {
    cv::Mat padded = p;
    if (p.rows < height) cv::copyMakeBorder(p, padded, 0, height - p.rows, 0, 0, cv::BORDER_CONSTANT, kWhite);
    spaced.push_back(padded);
    spaced.push_back(cv::Mat(height, 6, CV_8UC3, kWhite));
  }
  cv::hconcat(spaced, row);
  return row;
}

}  // namespace mer::report::drawing
