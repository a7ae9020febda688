// Which TV-L1 settings does the face pipeline need? For N CASME II clips (onset + annotated
// apex, aligned 224x224 grey crops) it computes the 28x28 motion map with OpenCV's TV-L1
// defaults at 224x224 (the reference, "full quality") and with cheaper settings, and prints per
// setting the single-thread time of the flow and how far its 28x28 map is from the reference:
// mean absolute difference in 0..255 units and Pearson correlation, per channel (u, v,
// strain), averaged over clips.
//
// Usage: face_flow_settings [casme2 folder] [clips]   (defaults: ../shared/data/casme2, 24)
#include <opencv2/core.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "mer/face/alignment.h"
#include "mer/face/face_detector.h"
#include "mer/face/image_io.h"
#include "mer/face/landmarks.h"
#include "mer/face/motion_map.h"
#include "mer/face/optical_flow.h"
#include "face_bench_common.h"

using namespace mer::face;
using Clock = std::chrono::steady_clock;

namespace {

struct Setting {
  const char* name;
  TvL1Options options;
};

double correlation(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat fa, fb;
  a.convertTo(fa, CV_64F);
  b.convertTo(fb, CV_64F);
  cv::Scalar ma, sa, mb, sb;
  cv::meanStdDev(fa, ma, sa);
  cv::meanStdDev(fb, mb, sb);
  const double cov = cv::mean((fa - ma[0]).mul(fb - mb[0]))[0];
  return sa[0] > 0 && sb[0] > 0 ? cov / (sa[0] * sb[0]) : 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string root = argc > 1 ? argv[1] : MER_SHARED_DATA "/casme2";
    const size_t count = argc > 2 ? std::stoul(argv[2]) : 24;
    cv::setNumThreads(1);
    auto clips = bench::casme_clips(root);
    // Every k-th clip, so that the sample spreads over subjects.
    std::vector<bench::CasmeClip> picked;
    for (size_t i = 0; i < clips.size() && picked.size() < count;
         i += std::max<size_t>(1, clips.size() / count)) {
      picked.push_back(clips[i]);
    }
    auto model = LandmarkModel::load();
    FaceDetector detector;
    std::vector<std::pair<cv::Mat, cv::Mat>> crops;
    for (const auto& c : picked) {
      const auto onset_path = c.frame_path(root, c.onset);
      const cv::Mat onset = read_image(onset_path, ImageMode::kGrey);
      const cv::Mat apex = read_image(c.frame_path(root, c.apex), ImageMode::kGrey);
      const auto points = model->fit(onset, detector.detect_largest(onset, onset_path));
      const Alignment a = compute_alignment(points);
      crops.emplace_back(a.apply(onset), a.apply(apex));
    }
    const std::vector<Setting> settings = {
        {"full 224 s5 w5", TvL1Options::full_quality()},
        // How far apart are two equally good full-resolution runs? (the noise floor)
        {"224 s5 w5 median3", TvL1Options::full_quality().median_filtering(3)},
        {"224 s5 w7 eps.005", TvL1Options::full_quality().warps(7).epsilon(0.005)},
        {"160 s5 w5", TvL1Options::full_quality().working_size(160)},
        {"160 s3 w3", TvL1Options().working_size(160).scales(3).warps(3)},
        {"144 s3 w3", TvL1Options().working_size(144).scales(3).warps(3)},
        {"128 s5 w5", TvL1Options::full_quality().working_size(128)},
        {"128 s3 w3", TvL1Options().working_size(128).scales(3).warps(3)},
        {"128 s3 w2", TvL1Options().working_size(128).scales(3).warps(2)},
        {"128 s2 w3", TvL1Options().working_size(128).scales(2).warps(3)},
        {"112 s5 w5", TvL1Options::full_quality().working_size(112)},
        {"112 s3 w3", TvL1Options().working_size(112).scales(3).warps(3)},
        {"112 s3 w3 outer5", TvL1Options().working_size(112).scales(3).warps(3).outer_iterations(5)},
        {"96 s3 w3", TvL1Options().working_size(96).scales(3).warps(3)},
        {"84 s3 w3", TvL1Options().working_size(84).scales(3).warps(3)},
        {"64 s3 w3", TvL1Options().working_size(64).scales(3).warps(3)},
    };
    std::vector<cv::Mat> reference;
    std::printf("%zu clips, 224x224 aligned crops, 28x28 maps, 1 thread\n", crops.size());
    std::printf("%-20s %9s   %-26s %-26s\n", "setting", "flow ms", "MAD u / v / strain",
                "corr u / v / strain");
    for (const auto& s : settings) {
      double ms = 0, mad[3] = {0, 0, 0}, corr[3] = {0, 0, 0};
      for (size_t i = 0; i < crops.size(); ++i) {
        const auto t = Clock::now();
        const cv::Mat flow = tvl1_flow(crops[i].first, crops[i].second, s.options);
        ms += std::chrono::duration<double, std::milli>(Clock::now() - t).count();
        const cv::Mat map = motion_map(flow);
        if (reference.size() < crops.size()) reference.push_back(map);
        cv::Mat got[3], ref[3];
        cv::split(map, got);
        cv::split(reference[i], ref);
        for (int c = 0; c < 3; ++c) {
          cv::Mat diff;
          cv::absdiff(got[c], ref[c], diff);
          mad[c] += cv::mean(diff)[0];
          corr[c] += correlation(got[c], ref[c]);
        }
      }
      const double n = static_cast<double>(crops.size());
      std::printf("%-20s %9.1f   %5.1f / %5.1f / %5.1f        %.3f / %.3f / %.3f\n", s.name, ms / n,
                  mad[0] / n, mad[1] / n, mad[2] / n, corr[0] / n, corr[1] / n, corr[2] / n);
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "face_flow_settings: " << e.what() << "\n";
    return 1;
  }
}
