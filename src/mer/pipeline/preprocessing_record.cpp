#include "mer/pipeline/preprocessing_record.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "mer/core/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mer::pipeline {

namespace {

const char* measure_name(face::ApexMeasure m) {
  switch (m) {
    case face::ApexMeasure::kFrameDifference: return "frame_difference";
    case face::ApexMeasure::kFarneback: return "farneback";
    case face::ApexMeasure::kDis: return "dis";
  }
  return "?";
}

const char* global_motion_name(face::GlobalMotion g) {
  switch (g) {
    case face::GlobalMotion::kKeep: return "keep";
    case face::GlobalMotion::kTranslation: return "translation";
    case face::GlobalMotion::kAffine: return "affine";
  }
  return "?";
}

const char* reference_name(face::ApexReference r) {
  switch (r) {
    case face::ApexReference::kOnset: return "onset";
    case face::ApexReference::kOnsetAndLast: return "onset_and_last";
  }
  return "?";
}

const char* framing_name(face::Framing f) {
  switch (f) {
    case face::Framing::kEyes: return "eyes";
    case face::Framing::kWholeFrame: return "whole_frame";
  }
  return "?";
}

const char* channel_order_name(face::ChannelOrder c) {
  switch (c) {
    case face::ChannelOrder::kUVStrain: return "u,v,strain";
    case face::ChannelOrder::kStrainVU: return "strain,v,u";
  }
  return "?";
}

}  // namespace

json preprocessing_to_json(const face::ClipPreprocessorOptions& o) {
  const auto& d = o.detector();
  const auto& a = o.alignment();
  const auto& f = o.flow();
  const auto& s = o.apex();
  return {{"landmark_model", o.landmark_model()},
          {"detector",
           {{"upsample", d.upsample()},
            {"retry_upsampled", d.retry_upsampled()},
            {"threshold", d.threshold()}}},
          {"alignment",
           {{"framing", framing_name(a.framing())},
            {"output_size", a.output_size()},
            {"inter_ocular", a.inter_ocular()},
            {"eye_row", a.eye_row()}}},
          {"flow",
           {{"method", "tvl1"},
            {"working_size", f.working_size()},
            {"tau", f.tau()},
            {"lambda", f.lambda()},
            {"theta", f.theta()},
            {"scales", f.scales()},
            {"warps", f.warps()},
            {"epsilon", f.epsilon()},
            {"inner_iterations", f.inner_iterations()},
            {"outer_iterations", f.outer_iterations()},
            {"scale_step", f.scale_step()},
            {"median_filtering", f.median_filtering()}}},
          {"map",
           {{"output_size", o.map().output_size()},
            {"channels", channel_order_name(o.map().channel_order())}}},
          {"apex_spotting",
           {{"measure", measure_name(s.measure())},
            {"working_size", s.working_size()},
            {"smoothing", s.smoothing()},
            {"global_motion", global_motion_name(s.global_motion())},
            {"reference", reference_name(s.reference())}}},
          {"colour_crops", o.colour_crops()}};
}

// "flow/working_size 112 -> 224, map/output_size 28 -> 32"
std::string describe_changes(const json& before, const json& now) {
  const json a = before.flatten(), b = now.flatten();
  std::string out;
  auto add = [&](const std::string& key, const std::string& from, const std::string& to) {
    out += (out.empty() ? "" : ", ") + key.substr(1) + " " + from + " -> " + to;
  };
  for (const auto& [key, value] : b.items()) {
    if (!a.contains(key)) add(key, "(unset)", value.dump());
    else if (a[key] != value) add(key, a[key].dump(), value.dump());
  }
  for (const auto& [key, value] : a.items()) {
    if (!b.contains(key)) add(key, value.dump(), "(unset)");
  }
  return out;
}

std::string describe_preprocessing(const face::ClipPreprocessorOptions& options) {
  return preprocessing_to_json(options).dump();
}

face::ClipPreprocessorOptions read_preprocessing(const std::string& prepared_dir) {
  const fs::path file = fs::path(prepared_dir) / "manifest.json";
  json manifest;
  try {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("missing");
    manifest = json::parse(in);
  } catch (const std::exception&) {
    throw DataError(file.string() + ": missing or unreadable (is " + prepared_dir +
                    " a `mer prepare` folder?)");
  }
  return preprocessing_from_manifest(manifest, file.string());
}

int manifest_jpeg_quality(const json& manifest) {
  return manifest.value("parameters", json::object()).value("jpeg_quality", 0);
}

face::ClipPreprocessorOptions preprocessing_from_manifest(const json& manifest,
                                                          const std::string& where) {
  if (!manifest.is_object() || manifest.value("format", "") != kPreparedFormat ||
      manifest.value("version", 0) != kPrepareCacheVersion) {
    throw DataError(where + ": not a mer prepare manifest of version " +
                    std::to_string(kPrepareCacheVersion));
  }
  face::ClipPreprocessorOptions o;
  try {
    const json& p = manifest.at("parameters");
    o.landmark_model(p.at("landmark_model").get<std::string>());
    const json& d = p.at("detector");
    o.detector()
        .upsample(d.at("upsample").get<int>())
        .retry_upsampled(d.at("retry_upsampled").get<bool>())
        .threshold(d.at("threshold").get<double>());
    const json& a = p.at("alignment");
    o.alignment()
        .output_size(a.at("output_size").get<int>())
        .inter_ocular(a.at("inter_ocular").get<double>())
        .eye_row(a.at("eye_row").get<double>());
    const json& f = p.at("flow");
    o.flow()
        .working_size(f.at("working_size").get<int>())
        .tau(f.at("tau").get<double>())
        .lambda(f.at("lambda").get<double>())
        .theta(f.at("theta").get<double>())
        .scales(f.at("scales").get<int>())
        .warps(f.at("warps").get<int>())
        .epsilon(f.at("epsilon").get<double>())
        .inner_iterations(f.at("inner_iterations").get<int>())
        .outer_iterations(f.at("outer_iterations").get<int>())
        .scale_step(f.at("scale_step").get<double>())
        .median_filtering(f.at("median_filtering").get<int>());
    o.map().output_size(p.at("map").at("output_size").get<int>());
    const std::string framing = a.at("framing").get<std::string>();
    for (auto f : {face::Framing::kEyes, face::Framing::kWholeFrame}) {
      if (framing == framing_name(f)) o.alignment().framing(f);
    }
    const std::string channels = p.at("map").at("channels").get<std::string>();
    for (auto c : {face::ChannelOrder::kUVStrain, face::ChannelOrder::kStrainVU}) {
      if (channels == channel_order_name(c)) o.map().channel_order(c);
    }
    const json& s = p.at("apex_spotting");
    const std::string measure = s.at("measure").get<std::string>();
    const std::string global = s.at("global_motion").get<std::string>();
    const std::string reference = s.at("reference").get<std::string>();
    for (auto m : {face::ApexMeasure::kFrameDifference, face::ApexMeasure::kFarneback,
                   face::ApexMeasure::kDis}) {
      if (measure == measure_name(m)) o.apex().measure(m);
    }
    for (auto g : {face::GlobalMotion::kKeep, face::GlobalMotion::kTranslation,
                   face::GlobalMotion::kAffine}) {
      if (global == global_motion_name(g)) o.apex().global_motion(g);
    }
    for (auto r : {face::ApexReference::kOnset, face::ApexReference::kOnsetAndLast}) {
      if (reference == reference_name(r)) o.apex().reference(r);
    }
    o.apex().working_size(s.at("working_size").get<int>()).smoothing(s.at("smoothing").get<int>());
    o.colour_crops(p.at("colour_crops").get<bool>());
  } catch (const json::exception& e) {
    throw DataError(where + ": incomplete parameters: " + e.what());
  }
  // The round trip must be exact, or the clip would not be preprocessed like the data.
  json stored = manifest.at("parameters");
  stored.erase("jpeg_quality");
  stored.erase("cache_version");
  const json read = preprocessing_to_json(o);
  if (read != stored) {
    throw DataError(where + ": parameters this mer cannot reproduce (" +
                    describe_changes(stored, read) + ")");
  }
  return o;
}

}  // namespace mer::pipeline
