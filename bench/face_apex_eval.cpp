// Apex spotting against the annotation: the CASME II clips of ../shared/data/casme2 that have
// every frame onset..offset (frames = all in clips.csv, 8 clips), each frame aligned with the
// onset's transform as the clip preprocessor does, then spot_apex with several measures,
// smoothing windows and regions. Prints per setting the spotted frame of each clip, its
// absolute error in frames and the mean absolute error (MAE).
//
// Usage: face_apex_eval [casme2 folder]
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "mer/face/alignment.h"
#include "mer/face/apex_spotting.h"
#include "mer/face/face_detector.h"
#include "mer/face/image_io.h"
#include "mer/face/landmarks.h"
#include "face_bench_common.h"

using namespace mer::face;

namespace {

struct Clip {
  bench::CasmeClip info;
  std::vector<cv::Mat> crops;
  cv::Rect2f face;  // onset landmarks' box in crop coordinates
};

struct Setting {
  std::string name;
  ApexSpottingOptions options;
  bool whole_frame = false;
};

const char* measure_name(ApexMeasure m) {
  switch (m) {
    case ApexMeasure::kFrameDifference: return "diff";
    case ApexMeasure::kFarneback: return "farneback";
    case ApexMeasure::kDis: return "dis";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string root = argc > 1 ? argv[1] : MER_SHARED_DATA "/casme2";
    cv::setNumThreads(1);
    auto model = LandmarkModel::load();
    FaceDetector detector;
    std::vector<Clip> clips;
    for (const auto& info : bench::casme_clips(root)) {
      if (!info.all_frames) continue;
      Clip clip{info, {}, {}};
      const std::string onset_path = info.frame_path(root, info.onset);
      const cv::Mat onset = read_image(onset_path, ImageMode::kGrey);
      const Landmarks points = model->fit(onset, detector.detect_largest(onset, onset_path));
      const Alignment a = compute_alignment(points);
      clip.face = bounding_box(a.apply(points));
      for (int n = info.onset; n <= info.offset; ++n) {
        clip.crops.push_back(a.apply(read_image(info.frame_path(root, n), ImageMode::kGrey)));
      }
      clips.push_back(std::move(clip));
    }
    std::printf("%zu clips with every frame:", clips.size());
    for (const auto& c : clips) {
      std::printf(" %s/%s (%d..%d, apex %d)", c.info.subject.c_str(), c.info.filename.c_str(),
                  c.info.onset, c.info.offset, c.info.apex);
    }
    std::printf("\n\n%-34s %8s  %s\n", "setting", "MAE", "abs error per clip (spotted frame)");

    std::vector<Setting> settings;
    const std::pair<GlobalMotion, const char*> globals[] = {
        {GlobalMotion::kKeep, "keep"}, {GlobalMotion::kTranslation, "transl"},
        {GlobalMotion::kAffine, "affine"}};
    for (const auto measure :
         {ApexMeasure::kFrameDifference, ApexMeasure::kFarneback, ApexMeasure::kDis}) {
      for (const auto& [global, global_name] : globals) {
        if (measure == ApexMeasure::kFrameDifference && global != GlobalMotion::kKeep) continue;
        for (const auto reference : {ApexReference::kOnset, ApexReference::kOnsetAndLast}) {
          for (const int smoothing : {1, 3, 5}) {
            for (const bool whole : {false, true}) {
              std::string name = std::string(measure_name(measure)) +
                                 (measure != ApexMeasure::kFrameDifference
                                      ? std::string(" ") + global_name
                                      : std::string()) +
                                 (reference == ApexReference::kOnset ? " onset" : " both") +
                                 " s" + std::to_string(smoothing) + (whole ? " whole" : " face");
              settings.push_back({name,
                                  ApexSpottingOptions().measure(measure).smoothing(smoothing)
                                      .global_motion(global).reference(reference),
                                  whole});
            }
          }
        }
      }
    }
    settings.push_back({"default", ApexSpottingOptions(), false});
    for (const auto& s : settings) {
      double total = 0, ms = 0;
      std::string detail;
      for (const auto& c : clips) {
        const auto t = std::chrono::steady_clock::now();
        const ApexSpot spot = spot_apex(c.crops, s.whole_frame ? cv::Rect2f() : c.face, s.options);
        ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
        const int frame = c.info.onset + spot.index;
        const int error = std::abs(frame - c.info.apex);
        total += error;
        detail += " " + std::to_string(error) + " (" + std::to_string(frame) + ")";
      }
      std::printf("%-34s %8.2f  %s   [%.0f ms/clip]\n", s.name.c_str(), total / clips.size(),
                  detail.c_str(), ms / clips.size());
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "face_apex_eval: " << e.what() << "\n";
    return 1;
  }
}
