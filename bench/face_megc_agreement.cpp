// How close are mer's maps to the MEGC2019 composite's own? Its 145 CASME II samples are clips
// of ../shared/data/casme2: for the first N of them (onset + annotated apex) this runs the clip
// preprocessor with several framings and TV-L1 settings and prints the Pearson correlation of
// each of our channels (u, v, strain) with each channel of the composite's flow PNG as OpenCV
// reads it, averaged over clips. The 3x3 table of the first setting shows which file channel
// holds what (see ChannelOrder::kStrainVU in src/face/motion_map.h).
//
// Usage: face_megc_agreement [clips=60]
#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "mer/face/clip_preprocessor.h"
#include "face_bench_common.h"

using namespace mer::face;

namespace {

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

struct Setting {
  const char* name;
  ClipPreprocessorOptions options;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string casme = MER_SHARED_DATA "/casme2", megc = MER_SHARED_DATA "/megc2019";
    const size_t count = argc > 1 ? std::stoul(argv[1]) : 60;
    cv::setNumThreads(2);
    std::vector<std::pair<bench::CasmeClip, std::string>> clips;
    for (const auto& c : bench::casme_clips(casme)) {
      const std::string file = megc + "/flow/casme2_" + c.subject + "_" + c.filename + ".png";
      if (std::filesystem::exists(file)) clips.emplace_back(c, file);
      if (clips.size() == count) break;
    }
    const auto model = LandmarkModel::load();
    const auto whole = AlignmentOptions().framing(Framing::kWholeFrame);
    const std::vector<Setting> settings = {
        {"whole frame, default flow", ClipPreprocessorOptions().alignment(whole)},
        {"whole frame, 160 px flow",
         ClipPreprocessorOptions().alignment(whole).flow(TvL1Options().working_size(160))},
        {"whole frame, full quality",
         ClipPreprocessorOptions().alignment(whole).flow(TvL1Options::full_quality())},
        {"megc2019 eyes, default flow",
         ClipPreprocessorOptions().alignment(AlignmentOptions::megc2019())},
        {"default eyes, default flow", ClipPreprocessorOptions()},
    };
    std::printf("%zu CASME II samples of the MEGC2019 composite\n", clips.size());
    for (size_t s = 0; s < settings.size(); ++s) {
      ClipPreprocessor preprocessor(settings[s].options, model);
      double r[3][3] = {};
      for (const auto& [c, file] : clips) {
        const cv::Mat ours = preprocessor.process(c.frame_path(casme, c.onset),
                                                  c.frame_path(casme, c.apex)).flow_map;
        const cv::Mat theirs = cv::imread(file, cv::IMREAD_COLOR);
        cv::Mat o[3], t[3];
        cv::split(ours, o);
        cv::split(theirs, t);
        for (int i = 0; i < 3; ++i) {
          for (int j = 0; j < 3; ++j) r[i][j] += correlation(o[i], t[j]) / clips.size();
        }
      }
      if (s == 0) {
        std::printf("%s: correlation, ours (rows u, v, strain) x file channel (0, 1, 2):\n",
                    settings[s].name);
        for (const auto& row : r) std::printf("  %6.3f %6.3f %6.3f\n", row[0], row[1], row[2]);
        std::printf("\n%-30s  corr u~ch2 / v~ch1 / strain~ch0\n", "setting");
      }
      std::printf("%-30s  %.3f / %.3f / %.3f\n", settings[s].name, r[0][2], r[1][1], r[2][0]);
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "face_megc_agreement: " << e.what() << "\n";
    return 1;
  }
}
