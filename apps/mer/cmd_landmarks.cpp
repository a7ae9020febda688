#include "cmd_landmarks.h"

#include <cstdio>
#include <map>

#include "mer/core/error.h"
#include "mer/data/landmarks_io.h"
#include "mer/data/prepared_io.h"

namespace mer::cli {

LandmarksCommand::LandmarksCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "landmarks",
      "Find the 68 facial landmarks on every face crop of a prepared dataset (dlib) and write "
      "them as a landmarks file for the models that read landmarks (" +
          models_reading_landmarks() + ")");
  auto* c = command_;
  c->add_option("--data", data_, "prepared dataset folder")->required()->check(CLI::ExistingDirectory);
  c->add_option("--out", out_,
                "landmarks file to write (default DATA/landmarks.csv, which `mer loso --data "
                "DATA` then reads by itself)");
  c->add_option("--jobs", jobs_, "worker threads")->capture_default_str()->check(CLI::Range(1, 256));
  c->add_option("--landmark-model", model_, "dlib 68-point shape predictor")
      ->capture_default_str()->check(CLI::ExistingFile);
  c->footer(
      "Example: mer landmarks --data ../shared/data/megc2019 --out runs/megc2019-landmarks.csv "
      "--jobs 2\n"
      "         mer loso --model dere-grl --data ../shared/data/megc2019 --landmarks "
      "runs/megc2019-landmarks.csv");
}

int LandmarksCommand::run() {
  // Existing landmarks are not read: they are about to be replaced.
  const auto dataset =
      data::read_prepared(data_, data::PreparedReadOptions().landmarks(false));
  if (out_.empty()) out_ = data_ + "/" + data::kLandmarksFile;
  std::vector<std::string> paths;
  for (const auto& s : dataset.samples) paths.push_back(data_ + "/" + s.face_path);
  std::fprintf(stderr, "fitting landmarks on %zu face crops of %s with %d job(s)...\n",
               paths.size(), data_.c_str(), jobs_);
  const auto fits = face::fit_face_crops(
      paths, face::CropLandmarksOptions().landmark_model(model_).jobs(jobs_));
  std::vector<data::LandmarkRow> rows;
  std::map<std::string, int64_t> by_source;
  std::vector<std::string> fallbacks;
  for (size_t i = 0; i < fits.size(); ++i) {
    const auto& s = dataset.samples[i];
    const auto& fit = fits[i];
    if (fit.width != fit.height) {
      throw DataError(paths[i] + " is " + std::to_string(fit.width) + "x" +
                           std::to_string(fit.height) +
                           ": face crops must be square (the flow map is the crop scaled)");
    }
    data::LandmarkRow row;
    row.dataset = s.dataset;
    row.subject = s.subject;
    row.sample = s.sample;
    row.face_size = fit.width;
    row.source = fit.source;
    for (int p = 0; p < face::kNumLandmarks; ++p) {
      row.xy[2 * p] = fit.points[p].x;
      row.xy[2 * p + 1] = fit.points[p].y;
    }
    rows.push_back(std::move(row));
    ++by_source[fit.source];
    if (fit.source == "fallback") fallbacks.push_back(s.dataset + "/" + s.subject + "/" + s.sample);
  }
  data::write_landmarks(out_, rows);
  const int64_t found = static_cast<int64_t>(fits.size()) - by_source["fallback"];
  std::printf("wrote %s: a face was found on %lld of %zu crops (", out_.c_str(),
              static_cast<long long>(found), fits.size());
  bool first = true;
  for (const auto& [source, count] : by_source) {
    if (source == "fallback") continue;
    std::printf("%s%s %lld", first ? "" : ", ", source.c_str(), static_cast<long long>(count));
    first = false;
  }
  std::printf(")\n");
  if (!fallbacks.empty()) {
    std::printf("no face found on %zu crop(s); their landmarks were fitted in the typical face "
                "box of the others (source 'fallback'):\n",
                fallbacks.size());
    for (const auto& key : fallbacks) std::printf("  %s\n", key.c_str());
  }
  return 0;
}
}  // namespace mer::cli
