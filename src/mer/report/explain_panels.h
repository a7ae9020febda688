#pragma once
// The panels of an explanation figure (explain_figure.h): heat maps over the face, a
// labelled matrix, the face shaded per landmark component or per box. Each panel carries its
// own colour bar with the unit of its values. Needs OpenCV (MER_WITH_VISION).
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

namespace mer::report::panels {

// The colour scale of a map: maps whose values all lie in 0..1 (attention, probabilities)
// keep that absolute scale so that panels compare; others span their own min..max.
struct Scale {
  double lo = 0, hi = 1;
};
Scale scale_of(const cv::Mat& map);

// The map (CV_32F) coloured on `scale`, resized to side x side.
cv::Mat heat(const cv::Mat& map, const Scale& scale, int side, int interpolation = cv::INTER_LINEAR,
             int colormap = cv::COLORMAP_JET);

// The map laid over the face (alpha), without its colour bar.
cv::Mat overlay(const cv::Mat& face, const cv::Mat& map, const Scale& scale, int side, double alpha);

// Text turned 90 degrees counter-clockwise (reads bottom to top), on white.
cv::Mat vertical_text(const std::string& text, double scale, int max_length);

// A matrix as coloured cells with their values, rows and columns named, and a colour bar.
cv::Mat matrix_panel(const cv::Mat& m, const std::vector<std::string>& names, const std::string& unit);

// A named group of landmarks (indices into the 68 iBUG points), e.g. "left brow".
struct ComponentRegion {
  std::string name;
  std::vector<int> landmarks;
};

// The face with each component's region (convex hull of its landmarks, plus a band along
// them; components whose hull would cover much of the face, like the jaw line, only the band)
// filled with the colour of its value on 0..max, the landmarks as dots, and a colour bar.
// `values` is one row of one value per region; `points` are in panel pixels.
cv::Mat component_panel(const cv::Mat& face, const std::vector<cv::Point2f>& points,
                        const std::vector<ComponentRegion>& regions, const cv::Mat& values,
                        int side, double alpha, const std::string& unit);

// The face with each region's box (flow-map pixels, x0 y0 x1 y1, converted by `scale`)
// outlined in its own colour (the legend's) and numbered, filled by its value on 0..max
// (larger boxes first so that small ones stay visible; a box covering most of the map, the
// whole face, only outlined); a colour bar for the fill.
cv::Mat box_panel(const cv::Mat& face, const std::vector<cv::Point2f>& points, const cv::Mat& boxes,
                  const cv::Mat& values, float scale, int side, double alpha, const std::string& unit);

}  // namespace mer::report::panels
