#include "mer/face/optical_flow.h"

#include <cmath>
#include <opencv2/imgproc.hpp>
#include <opencv2/optflow.hpp>

#include "mer/core/error.h"

namespace mer::face {

// Why the defaults (working size 112, 3 scales, 3 warps, OpenCV's other values): the
// throughput goal of mer prepare leaves TV-L1 most, not all, of a core's time per clip.
// bench/face_flow_settings compares the 28x28 maps of candidate settings with those of full
// quality (OpenCV's defaults at 224) by correlation per channel: fewer scales and warps cost
// almost nothing in agreement at these sizes (the motion is a pixel or two); resolution is what
// matters. 128 px would agree a little better but leaves too little margin on the throughput
// goal; 112 is the compromise. Against an independent reference, the MEGC2019 composite's own
// maps (bench/face_megc_agreement), the default agrees about as well as full quality does. The
// table of settings: docs/benchmarks.md, "Face and motion pipeline".

TvL1Options TvL1Options::full_quality() {
  return TvL1Options().working_size(0).scales(5).warps(5).inner_iterations(30)
      .outer_iterations(10).median_filtering(5);
}

void TvL1Options::validate() const {
  auto fail = [](const std::string& what) { throw ConfigError("TV-L1 flow: " + what); };
  if (working_size() != 0 && (working_size() < 16 || working_size() > 1024)) {
    fail("working_size must be 0 (input size) or in 16..1024, got " +
         std::to_string(working_size()));
  }
  if (!(tau() > 0.0 && tau() <= 0.25)) fail("tau must be in (0, 0.25], got " + std::to_string(tau()));
  if (!(lambda() > 0.0 && std::isfinite(lambda()))) fail("lambda must be > 0");
  if (!(theta() > 0.0 && std::isfinite(theta()))) fail("theta must be > 0");
  if (scales() < 1 || scales() > 10) fail("scales must be in 1..10, got " + std::to_string(scales()));
  if (warps() < 1 || warps() > 20) fail("warps must be in 1..20, got " + std::to_string(warps()));
  if (!(epsilon() > 0.0 && std::isfinite(epsilon()))) fail("epsilon must be > 0");
  if (inner_iterations() < 1 || inner_iterations() > 200) {
    fail("inner_iterations must be in 1..200, got " + std::to_string(inner_iterations()));
  }
  if (outer_iterations() < 1 || outer_iterations() > 100) {
    fail("outer_iterations must be in 1..100, got " + std::to_string(outer_iterations()));
  }
  if (!(scale_step() > 0.0 && scale_step() < 1.0)) {
    fail("scale_step must be in (0, 1), got " + std::to_string(scale_step()));
  }
  if (median_filtering() != 1 && median_filtering() != 3 && median_filtering() != 5) {
    fail("median_filtering must be 1, 3 or 5, got " + std::to_string(median_filtering()));
  }
}

cv::Mat tvl1_flow(const cv::Mat& from, const cv::Mat& to, const TvL1Options& options) {
  options.validate();
  MER_CHECK(!from.empty() && from.type() == CV_8UC1 && to.type() == CV_8UC1 &&
                from.size() == to.size(),
            "tvl1_flow expects two 8-bit grey images of the same size");
  cv::Mat a = from, b = to;
  if (options.working_size() > 0 &&
      (from.cols != options.working_size() || from.rows != options.working_size())) {
    const cv::Size size(options.working_size(), options.working_size());
    const int interpolation =
        size.area() < from.size().area() ? cv::INTER_AREA : cv::INTER_LINEAR;
    cv::resize(from, a, size, 0, 0, interpolation);
    cv::resize(to, b, size, 0, 0, interpolation);
  }
  auto solver = cv::optflow::DualTVL1OpticalFlow::create(
      options.tau(), options.lambda(), options.theta(), options.scales(), options.warps(),
      options.epsilon(), options.inner_iterations(), options.outer_iterations(),
      options.scale_step(), /*gamma=*/0.0, options.median_filtering(), /*useInitialFlow=*/false);
  cv::Mat flow;
  solver->calc(a, b, flow);
  return flow;
}

}  // namespace mer::face
