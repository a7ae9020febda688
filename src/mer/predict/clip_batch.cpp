#include "mer/predict/clip_batch.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "mer/core/error.h"
#include "mer/data/action_units.h"
#include "mer/engine/inference.h"
#include "mer/pipeline/prepare.h"

namespace mer::predict {

namespace {

// A grey crop as `mer prepare` stores it (JPEG at `quality`, when > 0) and read_prepared
// decodes it (grey; area-shrunk or linearly grown to `side`).
torch::Tensor crop_tensor(const cv::Mat& crop, int64_t side, int quality) {
  MER_CHECK(!crop.empty(), "the prepared clip has no crop");
  cv::Mat grey;
  if (quality > 0) {
    std::vector<uchar> bytes;
    cv::imencode(".jpg", crop, bytes, {cv::IMWRITE_JPEG_QUALITY, quality});
    grey = cv::imdecode(bytes, cv::IMREAD_GRAYSCALE);
  } else if (crop.channels() == 3) {
    cv::cvtColor(crop, grey, cv::COLOR_BGR2GRAY);
  } else {
    grey = crop;
  }
  if (side > 0 && (grey.rows != side || grey.cols != side)) {
    cv::Mat resized;
    cv::resize(grey, resized, cv::Size(static_cast<int>(side), static_cast<int>(side)), 0, 0,
               grey.rows > side ? cv::INTER_AREA : cv::INTER_LINEAR);
    grey = resized;
  }
  grey = grey.clone();  // continuous
  return torch::from_blob(grey.data, {1, 1, grey.rows, grey.cols}, torch::kUInt8)
      .to(torch::kFloat32);
}

// The value landmarks.csv stores ("%.2f" of the rounded crop coordinate), read back.
double stored_coordinate(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", std::round(v * 100) / 100);
  return std::strtod(buf, nullptr);
}

}  // namespace

models::Batch clip_batch(const face::PreparedClip& clip, const models::ModelInputs& inputs,
                         const ClipBatchOptions& options) {
  models::Batch batch;
  const cv::Mat& map = clip.flow_map;
  MER_CHECK(map.type() == CV_8UC3, "the prepared clip's motion map must be 8-bit, 3 channels");
  const cv::Mat continuous = map.isContinuous() ? map : map.clone();
  batch.flow = torch::from_blob(continuous.data, {continuous.rows, continuous.cols, 3}, torch::kUInt8)
                   .permute({2, 0, 1})
                   .to(torch::kFloat32)
                   .unsqueeze(0)
                   .contiguous();
  if (inputs.apex_crop) batch.face = crop_tensor(clip.apex_crop, options.crop_side(), options.jpeg_quality());
  if (inputs.onset_crop) batch.onset = crop_tensor(clip.onset_crop, options.crop_side(), options.jpeg_quality());
  if (inputs.landmarks) {
    // Crop pixels -> flow-map pixels, pixel centres at integers in both (data/landmarks_io.h).
    const double scale = static_cast<double>(map.cols) / static_cast<double>(clip.apex_crop.cols);
    auto points = torch::empty({1, 68, 2}, torch::kFloat32);
    auto p = points.accessor<float, 3>();
    for (int i = 0; i < 68; ++i) {
      p[0][i][0] = static_cast<float>((stored_coordinate(clip.landmarks[i].x) + 0.5) * scale - 0.5);
      p[0][i][1] = static_cast<float>((stored_coordinate(clip.landmarks[i].y) + 0.5) * scale - 0.5);
    }
    batch.landmarks = points;
  }
  if (inputs.action_units != models::ModelInputs::ActionUnits::kNone &&
      !options.action_units().empty()) {
    batch.aus = torch::tensor(options.action_units(), torch::kFloat32).unsqueeze(0);
  }
  return batch;
}

std::vector<float> action_unit_vector(const std::string& text) {
  std::vector<float> out(data::kNumActionUnits, 0.f);
  std::string item;
  auto flush = [&]() {
    if (item.empty()) return;
    char* end = nullptr;
    const long au = std::strtol(item.c_str(), &end, 10);
    const int index = (*end == '\0') ? data::action_unit_index(static_cast<int>(au)) : -1;
    if (index < 0) {
      std::string known;
      for (int a : data::kActionUnitList) known += (known.empty() ? "" : ",") + std::to_string(a);
      throw ConfigError("--aus " + text + ": '" + item + "' is not one of the AUs models read (" +
                        known + ")");
    }
    out[static_cast<size_t>(index)] = 1.f;
    item.clear();
  };
  for (char c : text) {
    if (c == ',' || c == '+' || c == ' ') flush();
    else if (c == 'A' || c == 'U' || c == 'a' || c == 'u') continue;  // "AU12" -> 12
    else item += c;
  }
  flush();
  return out;
}

face::ClipPreprocessorOptions preprocessing_for(const engine::LoadedCheckpoint& checkpoint,
                                                int* jpeg_quality) {
  const int64_t size = checkpoint.meta.value("input_size", int64_t{0});
  face::ClipPreprocessorOptions options;
  int quality = 0;
  const auto& recorded = checkpoint.meta.value("preprocessing", nlohmann::json());
  if (recorded.is_object()) {
    options = pipeline::preprocessing_from_manifest(recorded, "the checkpoint's preprocessing");
    quality = pipeline::manifest_jpeg_quality(recorded);
  } else {
    options = pipeline::default_preprocessing();
  }
  options.map().output_size(static_cast<int>(size));
  if (jpeg_quality) *jpeg_quality = quality;
  return options;
}

}  // namespace mer::predict
