#include "mer/report/explain_panels.h"

#include <algorithm>
#include <cstdio>

#include "mer/report/drawing.h"

namespace mer::report::panels {

using namespace drawing;

Scale scale_of(const cv::Mat& map) {
  double lo = 0, hi = 0;
  cv::minMaxLoc(map, &lo, &hi);
  if (lo >= 0.0 && hi <= 1.0) return {0.0, 1.0};
  return {lo, std::max(hi, lo + 1e-12)};
}

cv::Mat heat(const cv::Mat& map, const Scale& scale, int side, int interpolation, int colormap) {
  cv::Mat u8, big, colour;
  map.convertTo(u8, CV_8U, 255.0 / (scale.hi - scale.lo), -scale.lo * 255.0 / (scale.hi - scale.lo));
  cv::resize(u8, big, cv::Size(side, side), 0, 0, interpolation);
  cv::applyColorMap(big, colour, colormap);
  return colour;
}

cv::Mat overlay(const cv::Mat& face, const cv::Mat& map, const Scale& scale, int side, double alpha) {
  cv::Mat out;
  cv::addWeighted(face_panel(face, side), 1.0 - alpha, heat(map, scale, side), alpha, 0.0, out);
  return out;
}

cv::Mat vertical_text(const std::string& text, double scale, int max_length) {
  int baseline = 0;
  const auto size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline);
  cv::Mat line(size.height + baseline + 2, std::max(1, std::min(size.width + 2, max_length)), CV_8UC3, kWhite);
  put_text(line, text, cv::Point(1, size.height + 1), scale, kBlack);
  cv::Mat turned;
  cv::rotate(line, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
  return turned;
}

cv::Mat matrix_panel(const cv::Mat& m, const std::vector<std::string>& names, const std::string& unit) {
  int name_width = 16;
  for (const auto& n : names) {
    int baseline = 0;
    name_width = std::max(name_width, cv::getTextSize(n, cv::FONT_HERSHEY_SIMPLEX, 0.34, 1, &baseline).width + 6);
  }
  if (names.empty()) name_width = 20;
  const int cell = 32, top = name_width, left = name_width;
  cv::Mat panel(top + cell * m.rows + 2, left + cell * m.cols + 2, CV_8UC3, kWhite);
  const Scale scale = scale_of(m);
  for (int r = 0; r < m.rows; ++r) {
    for (int c = 0; c < m.cols; ++c) {
      const double v = m.at<float>(r, c);
      const double t = (v - scale.lo) / (scale.hi - scale.lo);
      const cv::Rect at(left + c * cell, top + r * cell, cell - 1, cell - 1);
      cv::rectangle(panel, at, colormap_colour(t, cv::COLORMAP_VIRIDIS), cv::FILLED);
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.2f", v);
      put_text(panel, buf, cv::Point(at.x + 2, at.y + cell / 2 + 4), 0.3, t > 0.6 ? kBlack : kWhite);
    }
  }
  for (int r = 0; r < m.rows; ++r) {
    const std::string name = r < static_cast<int>(names.size()) ? names[static_cast<size_t>(r)] : std::to_string(r);
    put_text(panel, name, cv::Point(2, top + r * cell + cell / 2 + 4), 0.34, kBlack);
  }
  for (int c = 0; c < m.cols; ++c) {
    const std::string name = c < static_cast<int>(names.size()) ? names[static_cast<size_t>(c)] : std::to_string(c);
    const cv::Mat text = vertical_text(name, 0.34, top - 2);
    const int x = left + c * cell + (cell - text.cols) / 2;
    if (x >= 0 && x + text.cols <= panel.cols && text.rows <= top) {
      text.copyTo(panel(cv::Rect(x, top - text.rows - 1, text.cols, text.rows)));
    }
  }
  return with_colour_bar(panel, scale.lo, scale.hi, unit, cv::COLORMAP_VIRIDIS);
}

cv::Mat component_panel(const cv::Mat& face, const std::vector<cv::Point2f>& points,
                        const std::vector<ComponentRegion>& regions, const cv::Mat& values,
                        int side, double alpha, const std::string& unit) {
  cv::Mat base = face_panel(face, side);
  double lo = 0, hi = 0;
  cv::minMaxLoc(values, &lo, &hi);
  const double top = std::max(hi, 1e-12);
  cv::Mat layer = base.clone(), covered(side, side, CV_8U, cv::Scalar(0));
  const int band = std::max(3, side / 22);
  // Regions with the larger hulls first, so that small ones stay visible on top.
  std::vector<size_t> order(regions.size());
  std::vector<double> areas(regions.size(), 0.0);
  std::vector<std::vector<cv::Point>> hulls(regions.size());
  for (size_t r = 0; r < regions.size(); ++r) {
    order[r] = r;
    std::vector<cv::Point> pts;
    for (int i : regions[r].landmarks) {
      if (i >= 0 && i < static_cast<int>(points.size())) pts.emplace_back(points[i]);
    }
    if (pts.size() >= 3) cv::convexHull(pts, hulls[r]);
    areas[r] = hulls[r].size() >= 3 ? cv::contourArea(hulls[r]) : 0.0;
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return areas[a] > areas[b]; });
  for (size_t r : order) {
    const double v = static_cast<double>(values.at<float>(0, static_cast<int>(r))) / top;
    const cv::Scalar c = colormap_colour(v);
    cv::Mat mask(side, side, CV_8U, cv::Scalar(0));
    if (hulls[r].size() >= 3 && areas[r] < 0.12 * side * side) {
      cv::fillConvexPoly(mask, hulls[r], cv::Scalar(255), cv::LINE_AA);
    }
    std::vector<cv::Point> line;
    for (int i : regions[r].landmarks) {
      if (i >= 0 && i < static_cast<int>(points.size())) line.emplace_back(points[i]);
    }
    if (!line.empty()) {
      cv::polylines(mask, std::vector<std::vector<cv::Point>>{line}, false, cv::Scalar(255), band,
                    cv::LINE_AA);
    }
    layer.setTo(c, mask);
    covered.setTo(255, mask);
  }
  cv::Mat blended;
  cv::addWeighted(base, 1.0 - alpha, layer, alpha, 0.0, blended);
  base.copyTo(blended, ~covered);
  for (const auto& p : points) cv::circle(blended, p, 1, kWhite, cv::FILLED, cv::LINE_AA);
  return with_colour_bar(blended, 0.0, top, unit);
}

cv::Mat box_panel(const cv::Mat& face, const std::vector<cv::Point2f>& points, const cv::Mat& boxes,
                  const cv::Mat& values, float scale, int side, double alpha, const std::string& unit) {
  cv::Mat base = face_panel(face, side);
  double lo = 0, hi = 0;
  cv::minMaxLoc(values, &lo, &hi);
  const double top = std::max(hi, 1e-12);
  const int n = values.cols;
  std::vector<cv::Rect> rects(static_cast<size_t>(n));
  std::vector<int> order(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    order[static_cast<size_t>(r)] = r;
    // Box edges in pixel-centre coordinates: (e + 0.5) * scale is the panel's edge.
    const auto edge = [&](int c) { return static_cast<int>(std::lround((boxes.at<float>(r, c) + 0.5f) * scale)); };
    rects[static_cast<size_t>(r)] = cv::Rect(cv::Point(edge(0), edge(1)), cv::Point(edge(2), edge(3))) &
                                    cv::Rect(0, 0, side, side);
  }
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return rects[static_cast<size_t>(a)].area() > rects[static_cast<size_t>(b)].area(); });
  cv::Mat layer = base.clone(), covered(side, side, CV_8U, cv::Scalar(0));
  for (int r : order) {
    const auto& rect = rects[static_cast<size_t>(r)];
    if (rect.area() < 0.8 * side * side) {
      layer(rect).setTo(colormap_colour(static_cast<double>(values.at<float>(0, r)) / top));
      covered(rect).setTo(255);
    }
  }
  cv::Mat blended;
  cv::addWeighted(base, 1.0 - alpha, layer, alpha, 0.0, blended);
  base.copyTo(blended, ~covered);
  for (int r : order) {
    const auto& rect = rects[static_cast<size_t>(r)];
    cv::rectangle(blended, rect, category_colour(r), 2, cv::LINE_AA);
    const cv::Point at(rect.x + 2, rect.y + 11);
    cv::putText(blended, std::to_string(r), at, cv::FONT_HERSHEY_SIMPLEX, 0.35, kBlack, 3, cv::LINE_AA);
    put_text(blended, std::to_string(r), at, 0.35, category_colour(r));
  }
  for (const auto& p : points) cv::circle(blended, p, 1, kWhite, cv::FILLED, cv::LINE_AA);
  return with_colour_bar(blended, 0.0, top, unit);
}

}  // namespace mer::report::panels
