#include "mer/pipeline/occlude.h"

#include <nlohmann/json.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "mer/core/csv.h"
#include "mer/core/atomic_file.h"
#include "mer/core/error.h"
#include "mer/core/progress.h"
#include "mer/face/crop_landmarks.h"
#include "mer/face/image_io.h"

namespace mer::pipeline {

namespace fs = std::filesystem;

const std::vector<std::string>& occlusion_kind_names() {
  static const std::vector<std::string> names = {"mask", "glasses", "block", "mixed"};
  return names;
}

void OccludeOptions::validate() const {
  const auto& names = occlusion_kind_names();
  if (std::find(names.begin(), names.end(), kind_) == names.end()) {
    throw ConfigError("kind '" + kind_ + "': expected mask, glasses, block or mixed");
  }
  if (kind_ == "block") {
    face::OcclusionOptions().kind(face::OcclusionKind::kBlock).block_ratio(block_ratio_).validate();
  }
  if (kind_ != "block" && occluders_.empty()) {
    throw ConfigError("kind " + kind_ + " needs the occluders folder (--occluders DIR, with masks/ and glasses/; e.g. ../shared/data/occluders)");
  }
  flow_.validate();
  if (jobs_ < 1 || jobs_ > 256) throw ConfigError("jobs must be in 1..256");
  if (jpeg_quality_ < 1 || jpeg_quality_ > 100) throw ConfigError("jpeg_quality must be in 1..100");
}

void OccludeFramesInput::validate() const {
  const auto& names = data::database_names();
  if (std::find(names.begin(), names.end(), dataset_) == names.end()) {
    throw ConfigError("unknown dataset '" + dataset_ + "'");
  }
  if (frames_root_.empty()) throw ConfigError("frames_root is empty");
  if (annotations_.empty()) throw ConfigError("annotations is empty");
}

namespace {

// The assets each kind draws from, loaded once.
struct AssetBank {
  std::vector<face::OccluderAsset> masks, glasses;

  explicit AssetBank(const OccludeOptions& options) {
    if (options.kind() == "mask" || options.kind() == "mixed") {
      masks = face::load_occluder_assets((fs::path(options.occluders()) / "masks").string());
    }
    if (options.kind() == "glasses" || options.kind() == "mixed") {
      glasses = face::load_occluder_assets((fs::path(options.occluders()) / "glasses").string());
    }
  }
};

// The plan of one clip: its kind (drawn first for "mixed"), then the occluder.
face::OcclusionPlan plan_clip(const face::Landmarks& points, cv::Size size,
                              const OccludeOptions& options, const AssetBank& bank,
                              const std::string& key) {
  auto rng = face::clip_rng(options.seed(), key);
  std::string kind = options.kind();
  double ratio = options.block_ratio();
  if (kind == "mixed") {
    static const char* const kinds[] = {"mask", "glasses", "block"};
    kind = kinds[rng.below(3)];
    ratio = 0.3;
  }
  const auto occlusion = face::OcclusionOptions()
                             .kind(face::occlusion_kind_from_name(kind))
                             .block_ratio(ratio)
                             .seed(options.seed());
  const auto& assets = kind == "mask" ? bank.masks : bank.glasses;
  return face::plan_occlusion(points, size, occlusion, assets, rng);
}

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

std::string anchors_text(const face::OcclusionPlan& plan) {
  std::string out;
  for (const auto& p : plan.anchors) {
    if (!out.empty()) out += ";";
    out += fmt(p.x) + ":" + fmt(p.y);
  }
  return out;
}

// Writes `text` to `path` through a temporary name.
void write_text(const fs::path& path, const std::string& text) {
  write_file_atomic(path.string(), text);
}

void write_image(const fs::path& path, const cv::Mat& image, int jpeg_quality) {
  fs::create_directories(path.parent_path());
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  std::vector<int> params;
  if (ext == ".jpg" || ext == ".jpeg") params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
  std::vector<uchar> bytes;
  if (!cv::imencode(ext, image, bytes, params)) throw DataError(path.string() + ": cannot encode image");
  write_file_atomic(path.string(),
                    std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".tif" ||
         ext == ".tiff";
}

std::string skipped_csv(const std::vector<OccludeSkipped>& skipped) {
  std::string text = "dataset,subject,clip,reason,file,detail\n";
  for (const auto& s : skipped) {
    text += csv::join({s.dataset, s.subject, s.clip, s.reason, s.file, s.detail}) + "\n";
  }
  return text;
}

nlohmann::json options_json(const OccludeOptions& options) {
  return {{"kind", options.kind()},
          {"block_ratio", options.block_ratio()},
          {"seed", options.seed()},
          {"occluders", options.occluders()},
          {"boundary_noise", options.flow().boundary_noise()},
          {"landmark_model", options.landmark_model()},
          {"jpeg_quality", options.jpeg_quality()}};
}

bool same_folder(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

}  // namespace

OccludeReport occlude_frames(const OccludeFramesInput& input, const OccludeOptions& options,
                             const std::string& out_dir) {
  input.validate();
  options.validate();
  if (options.kind() == "mixed" && options.occluders().empty()) {
    throw ConfigError("kind mixed needs the occluders folder (--occluders DIR, with masks/ and glasses/)");
  }
  if (!fs::is_directory(input.frames_root())) {
    throw DataError(input.frames_root() + ": frames root not found");
  }
  if (same_folder(input.frames_root(), out_dir)) {
    throw ConfigError(out_dir + ": the output folder must not be the frames root");
  }
  const AssetBank bank(options);
  const auto annotations =
      data::read_annotations(input.dataset(), input.annotations(), input.adapter());

  OccludeReport report;
  report.out_dir = out_dir;
  report.kind = options.kind();
  std::vector<const data::ClipAnnotation*> clips;
  for (const auto& a : annotations.clips) {
    if (!input.only().empty() &&
        std::none_of(input.only().begin(), input.only().end(),
                     [&](const data::ClipRef& r) { return r.matches(a); })) {
      continue;
    }
    clips.push_back(&a);
  }
  report.clips = static_cast<int64_t>(clips.size());
  if (clips.empty()) throw DataError(input.annotations() + ": no clip to occlude");

  // Onset frames: found and decodable, else the clip is skipped before landmark fitting
  // (which stops at the first bad file).
  std::vector<std::string> onset_paths;
  std::vector<size_t> onset_clip;
  std::vector<OccludeSkipped> skipped_of(clips.size());
  std::vector<char> is_skipped(clips.size(), 0);  // not vector<bool>: workers write it
  auto skip = [&](size_t i, const std::string& reason, const std::string& file,
                  const std::string& detail) {
    const auto& a = *clips[i];
    skipped_of[i] = {a.dataset, a.subject, a.clip, reason, file, detail};
    is_skipped[i] = true;
  };
  for (size_t i = 0; i < clips.size(); ++i) {
    std::string path;
    try {
      path = data::find_frame(input.frames_root(), *clips[i], clips[i]->onset);
    } catch (const DataError& e) {
      skip(i, "missing_frame", (fs::path(input.frames_root()) / clips[i]->frame_file(clips[i]->onset)).string(),
           e.what());
      continue;
    }
    try {
      face::read_image(path, face::ImageMode::kGrey);
    } catch (const DataError& e) {
      skip(i, "unreadable_image", path, e.what());
      continue;
    }
    onset_paths.push_back(path);
    onset_clip.push_back(i);
  }

  const int cv_threads = cv::getNumThreads();
  cv::setNumThreads(1);
  Progress progress("occlude " + input.dataset() + " (" + options.kind() + ")",
                    static_cast<int64_t>(2 * clips.size()));
  progress.set_quiet(options.quiet());
  progress.message("landmarks of " + std::to_string(onset_paths.size()) + " onset frames");
  std::vector<face::CropLandmarks> onset_landmarks;
  if (!onset_paths.empty()) {
    onset_landmarks = face::fit_face_crops(
        onset_paths,
        face::CropLandmarksOptions().landmark_model(options.landmark_model()).jobs(options.jobs()),
        [&](size_t) { progress.advance(1, "landmarks"); });
  }

  struct Done {
    bool ok = false;
    face::OcclusionPlan plan;
    std::string source;
    int64_t frames = 0;
  };
  std::vector<Done> done(clips.size());
  std::vector<std::pair<size_t, size_t>> work_items;  // (clip, onset index)
  for (size_t k = 0; k < onset_clip.size(); ++k) {
    const size_t i = onset_clip[k];
    if (onset_landmarks[k].source == "fallback") {
      skip(i, "no_face", onset_paths[k], "no face found on the onset frame (even padded)");
      continue;
    }
    work_items.push_back({i, k});
  }
  fs::create_directories(fs::path(out_dir) / "occlusion");
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t w = next++; w < work_items.size(); w = next++) {
      const auto [i, k] = work_items[w];
      const auto& a = *clips[i];
      const std::string key = a.dataset + "_" + a.subject + "_" + a.clip;
      try {
        const auto& lm = onset_landmarks[k];
        const cv::Size size(lm.width, lm.height);
        Done d;
        d.plan = plan_clip(lm.points, size, options, bank, a.key());
        d.source = lm.source;
        // Every image of the onset's folder: the clip's frames, whatever the sheet's range.
        const fs::path folder = fs::path(onset_paths[k]).parent_path();
        const fs::path rel = fs::relative(folder, input.frames_root());
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(folder)) {
          if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(entry.path());
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
          cv::Mat frame = face::read_image_strict(file.string(), cv::IMREAD_UNCHANGED);
          if (frame.channels() == 4) cv::cvtColor(frame, frame, cv::COLOR_BGRA2BGR);
          if (frame.size() != size) {
            throw DataError(file.string() + ": frame of another size than the onset frame");
          }
          write_image(fs::path(out_dir) / rel / file.filename(), face::apply_occlusion(frame, d.plan),
                      options.jpeg_quality());
          ++d.frames;
        }
        write_image(fs::path(out_dir) / "occlusion" / (key + ".png"), d.plan.coverage, 95);
        // The clean onset's landmarks: `mer prepare` aligns the occluded clip with them (a
        // detector often misses a masked face; the occluder does not move the face).
        std::string points = "x,y\n";
        for (const auto& p : lm.points) points += fmt(p.x) + "," + fmt(p.y) + "\n";
        write_text(fs::path(out_dir) / "occlusion" / (key + "_landmarks.csv"), points);
        d.ok = true;
        done[i] = std::move(d);
        progress.advance(1, a.key() + " done");
      } catch (const std::exception& e) {
        const std::string what = e.what();
        const bool size_problem = what.find("another size") != std::string::npos;
        skip(i, size_problem ? "bad_frame" : "error", onset_paths[k], what);
        progress.advance(1, a.key() + " skipped");
      }
    }
  };
  std::vector<std::thread> threads;
  const int n_threads = std::max(1, std::min<int>(options.jobs(), static_cast<int>(work_items.size())));
  for (int t = 0; t < n_threads; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  progress.finish();
  cv::setNumThreads(cv_threads);

  std::string table =
      "dataset,subject,clip,kind,asset,block_ratio,frame_width,frame_height,bbox_x,bbox_y,"
      "bbox_w,bbox_h,covered_face_fraction,block_dx,block_dy,anchors,landmarks_source,frames\n";
  for (size_t i = 0; i < clips.size(); ++i) {
    if (is_skipped[i]) {
      report.skipped.push_back(skipped_of[i]);
      continue;
    }
    if (!done[i].ok) continue;
    const auto& a = *clips[i];
    const auto& p = done[i].plan;
    const cv::Rect box = p.bbox();
    const bool block = p.kind == face::OcclusionKind::kBlock;
    table += csv::join({a.dataset, a.subject, a.clip, face::occlusion_kind_name(p.kind), p.asset,
                        block ? fmt(p.block_ratio) : "", std::to_string(p.frame_size.width),
                        std::to_string(p.frame_size.height), std::to_string(box.x),
                        std::to_string(box.y), std::to_string(box.width),
                        std::to_string(box.height), fmt(p.covered_face_fraction()),
                        block ? fmt(p.block_offset.x) : "", block ? fmt(p.block_offset.y) : "",
                        anchors_text(p), done[i].source, std::to_string(done[i].frames)}) +
             "\n";
    ++report.occluded;
    report.frames += done[i].frames;
  }
  write_text(fs::path(out_dir) / "occlusions.csv", table);
  write_text(fs::path(out_dir) / "skipped.csv", skipped_csv(report.skipped));
  nlohmann::json manifest = {{"format", "mer-occluded-frames"},
                             {"version", kOccludeVersion},
                             {"dataset", input.dataset()},
                             {"frames_root", input.frames_root()},
                             {"annotations", input.annotations()},
                             {"options", options_json(options)}};
  write_text(fs::path(out_dir) / "manifest.json", manifest.dump(2) + "\n");
  if (report.occluded == 0) {
    throw DataError("no clip could be occluded (see " + (fs::path(out_dir) / "skipped.csv").string() + ")");
  }
  return report;
}

namespace {

// Column index of `name` in a header row, or -1.
int column(const csv::Row& header, const std::string& name) {
  for (size_t i = 0; i < header.fields.size(); ++i) {
    if (header.fields[i] == name) return static_cast<int>(i);
  }
  return -1;
}

int require_column(const csv::Row& header, const std::string& name, const std::string& file) {
  const int c = column(header, name);
  if (c < 0) throw DataError(file + ": no column '" + name + "'");
  return c;
}

struct FaceLandmarks {
  face::Landmarks points;  // in pixels of a face image of side face_size
  double face_size = 0;
};

// landmarks.csv (data/landmarks_io.h's format) by "dataset/subject/sample".
std::map<std::string, FaceLandmarks> read_face_landmarks(const std::string& path) {
  if (!fs::exists(path)) {
    throw DataError(path + ": landmarks file not found (run `mer landmarks` on the data first, "
                           "or give --landmarks)");
  }
  const auto rows = csv::read_file(path);
  if (rows.empty()) throw DataError(path + ": empty landmarks file");
  const auto& header = rows.front();
  const int c_dataset = require_column(header, "dataset", path);
  const int c_subject = require_column(header, "subject", path);
  const int c_sample = require_column(header, "sample", path);
  const int c_size = require_column(header, "face_size", path);
  std::vector<int> c_xy;
  for (int i = 0; i < face::kNumLandmarks; ++i) {
    c_xy.push_back(require_column(header, "x" + std::to_string(i), path));
    c_xy.push_back(require_column(header, "y" + std::to_string(i), path));
  }
  std::map<std::string, FaceLandmarks> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r].fields;
    if (f.size() == 1 && f[0].empty()) continue;
    if (f.size() != header.fields.size()) {
      throw DataError(path + ":" + std::to_string(rows[r].line) + ": wrong number of fields");
    }
    FaceLandmarks lm;
    try {
      lm.face_size = std::stod(f[static_cast<size_t>(c_size)]);
      for (int i = 0; i < face::kNumLandmarks; ++i) {
        lm.points[static_cast<size_t>(i)] =
            cv::Point2f(std::stof(f[static_cast<size_t>(c_xy[2 * i])]),
                        std::stof(f[static_cast<size_t>(c_xy[2 * i + 1])]));
      }
    } catch (const std::exception&) {
      throw DataError(path + ":" + std::to_string(rows[r].line) + ": a value is not a number");
    }
    out[f[static_cast<size_t>(c_dataset)] + "/" + f[static_cast<size_t>(c_subject)] + "/" +
        f[static_cast<size_t>(c_sample)]] = lm;
  }
  return out;
}

}  // namespace

OccludeReport occlude_prepared(const std::string& dir, const std::string& landmarks_file,
                               const OccludeOptions& options, const std::string& out_dir) {
  options.validate();
  const fs::path root(dir), out(out_dir);
  const fs::path labels_path = root / "labels.csv";
  if (!fs::exists(labels_path)) throw DataError(labels_path.string() + ": not found (not a prepared folder)");
  if (same_folder(dir, out_dir)) throw ConfigError(out_dir + ": the output folder must not be the input");
  const std::string lm_path = landmarks_file.empty() ? (root / "landmarks.csv").string() : landmarks_file;
  const auto landmarks = read_face_landmarks(lm_path);
  const AssetBank bank(options);

  const auto rows = csv::read_file(labels_path.string());
  if (rows.empty()) throw DataError(labels_path.string() + ": empty");
  const auto& header = rows.front();
  const std::string lp = labels_path.string();
  const int c_dataset = require_column(header, "dataset", lp);
  const int c_subject = require_column(header, "subject", lp);
  const int c_sample = require_column(header, "sample", lp);
  const int c_flow = require_column(header, "flow", lp);
  const int c_face = require_column(header, "face", lp);

  OccludeReport report;
  report.out_dir = out_dir;
  report.kind = options.kind();
  fs::create_directories(out / "occlusion");
  Progress progress("occlude " + dir + " (" + options.kind() + ")",
                    static_cast<int64_t>(rows.size() - 1));
  progress.set_quiet(options.quiet());
  std::string table =
      "dataset,subject,sample,kind,asset,block_ratio,bbox_x,bbox_y,bbox_w,bbox_h,"
      "covered_fraction,face_covered_fraction\n";
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r].fields;
    if (f.size() == 1 && f[0].empty()) continue;
    if (f.size() != header.fields.size()) {
      throw DataError(lp + ":" + std::to_string(rows[r].line) + ": wrong number of fields");
    }
    ++report.clips;
    const std::string& dataset = f[static_cast<size_t>(c_dataset)];
    const std::string& subject = f[static_cast<size_t>(c_subject)];
    const std::string& sample = f[static_cast<size_t>(c_sample)];
    const std::string key = dataset + "/" + subject + "/" + sample;
    const auto it = landmarks.find(key);
    if (it == landmarks.end()) throw DataError(lm_path + ": no landmarks for sample " + key);
    const std::string flow_rel = f[static_cast<size_t>(c_flow)], face_rel = f[static_cast<size_t>(c_face)];
    const cv::Mat flow = face::read_image_strict((root / flow_rel).string(), cv::IMREAD_COLOR);
    cv::Mat face_image = face::read_image_strict((root / face_rel).string(), cv::IMREAD_UNCHANGED);
    if (face_image.channels() == 4) cv::cvtColor(face_image, face_image, cv::COLOR_BGRA2BGR);

    // The plan on the face crop, its landmarks scaled to the crop actually stored.
    face::Landmarks points = it->second.points;
    const double sx = face_image.cols / it->second.face_size, sy = face_image.rows / it->second.face_size;
    for (auto& p : points) {
      p = cv::Point2f(static_cast<float>((p.x + 0.5) * sx - 0.5), static_cast<float>((p.y + 0.5) * sy - 0.5));
    }
    const auto plan = plan_clip(points, face_image.size(), options, bank, key);
    const cv::Mat coverage = face::resize_coverage(plan.coverage, flow.size());
    auto noise_rng = face::clip_rng(options.seed() + 0x9e37, key);
    const cv::Mat occluded = face::occlude_flow_map(flow, coverage, noise_rng, options.flow());
    write_image(out / flow_rel, occluded, options.jpeg_quality());
    write_image(out / face_rel, face::apply_occlusion(face_image, plan), options.jpeg_quality());
    const std::string file_key = dataset + "_" + subject + "_" + sample;
    write_image(out / "occlusion" / (file_key + ".png"), coverage, 95);

    const bool block = plan.kind == face::OcclusionKind::kBlock;
    const cv::Rect box = cv::countNonZero(coverage) ? cv::boundingRect(coverage) : cv::Rect();
    table += csv::join({dataset, subject, sample, face::occlusion_kind_name(plan.kind), plan.asset,
                        block ? fmt(plan.block_ratio) : "", std::to_string(box.x),
                        std::to_string(box.y), std::to_string(box.width),
                        std::to_string(box.height),
                        fmt(static_cast<double>(cv::countNonZero(coverage)) / coverage.total()),
                        fmt(plan.covered_face_fraction())}) +
             "\n";
    ++report.occluded;
    ++report.frames;
    progress.advance(1, key);
  }
  progress.finish();
  write_text(out / "occlusions.csv", table);
  fs::copy_file(lm_path, out / "landmarks.csv", fs::copy_options::overwrite_existing);
  nlohmann::json manifest = {{"format", "mer-occluded-prepared"},
                             {"version", kOccludeVersion},
                             {"source", dir},
                             {"landmarks", lm_path},
                             {"approximation",
                              "flow-map occlusion: covered pixels = the map's per-channel "
                              "median (no motion), boundary pixels + uniform noise"},
                             {"options", options_json(options)}};
  write_text(out / "manifest.json", manifest.dump(2) + "\n");
  // labels.csv last: a folder with it is complete.
  std::ifstream labels_in(labels_path, std::ios::binary);
  std::stringstream labels_text;
  labels_text << labels_in.rdbuf();
  if (!labels_in) throw DataError(labels_path.string() + ": cannot read");
  write_text(out / "labels.csv", labels_text.str());
  return report;
}

std::string format_report(const OccludeReport& report) {
  std::ostringstream s;
  s << "occluded (" << report.kind << ") " << report.occluded << " of " << report.clips
    << " clips/samples, " << report.frames << " images written into " << report.out_dir << "\n";
  if (!report.skipped.empty()) {
    std::map<std::string, int> by_reason;
    for (const auto& k : report.skipped) ++by_reason[k.reason];
    s << "skipped " << report.skipped.size() << ":";
    for (const auto& [reason, n] : by_reason) s << " " << reason << " " << n;
    s << " (details in " << (fs::path(report.out_dir) / "skipped.csv").string() << ")\n";
  }
  s << "occluders: " << (fs::path(report.out_dir) / "occlusions.csv").string()
    << ", coverage masks: " << (fs::path(report.out_dir) / "occlusion").string() << "/\n";
  return s.str();
}

}  // namespace mer::pipeline
