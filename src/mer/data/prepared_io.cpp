#include "mer/data/prepared_io.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "mer/core/csv.h"
#include "mer/core/atomic_file.h"
#include "mer/core/error.h"
#include "mer/core/image_check.h"
#include "mer/core/utf8.h"
#include "mer/data/landmarks_io.h"
#include "mer/data/action_units.h"

#ifdef MER_WITH_VISION
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace fs = std::filesystem;

namespace mer::data {

bool has_image_io() {
#ifdef MER_WITH_VISION
  return true;
#else
  return false;
#endif
}

namespace {

std::string at_row(const std::string& csv_path, int line) {
  return csv_path + ":" + std::to_string(line) + ": ";
}

// The smallest flow map or face crop taken: a smaller one is a broken file, not a face.
constexpr int kMinImageSide = 8;

bool parse_label(const std::string& text, int64_t& out) {
  if (text.empty() || text.size() > 6) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  out = std::stoll(text);
  return true;
}

#ifdef MER_WITH_VISION
void write_image_atomic(const fs::path& path, const cv::Mat& image) {
  std::vector<uchar> bytes;
  if (!cv::imencode(path.extension().string(), image, bytes)) {
    throw DataError(path.string() + ": cannot encode image");
  }
  write_file_atomic(path.string(),
                    std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}
#endif

#ifdef MER_WITH_VISION
// Decodes an image file strictly: a truncated or corrupt file is an error naming it (OpenCV
// alone would return a partly grey image for a cut-off JPEG).
cv::Mat read_image_strict(const fs::path& path, int flags, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) throw DataError(where + "cannot read " + path.string());
  const std::string data = bytes.str();
  const std::string problem = image_bytes_problem(data);
  if (!problem.empty()) throw DataError(where + "cannot decode image " + path.string() + " (" + problem + ")");
  cv::Mat image;
  try {
    image = cv::imdecode(cv::Mat(1, static_cast<int>(data.size()), CV_8UC1, const_cast<char*>(data.data())),
                         flags);
  } catch (const cv::Exception& e) {
    throw DataError(where + "cannot decode image " + path.string() + " (" + e.msg + ")");
  }
  if (image.empty()) throw DataError(where + "cannot decode image " + path.string());
  return image;
}
#endif

// Decodes a flow PNG into [3, S, S] float with the file's (BGR) channel order.
torch::Tensor decode_flow(const fs::path& path, const std::string& where) {
#ifdef MER_WITH_VISION
  cv::Mat image = read_image_strict(path, cv::IMREAD_UNCHANGED, where);
  if (image.depth() != CV_8U || image.channels() != 3) {
    throw DataError(where + path.string() + " must be an 8-bit 3-channel image, found " +
                    std::to_string(image.channels()) + " channel(s)");
  }
  if (image.rows < kMinImageSide) {
    throw DataError(where + path.string() + " is " + std::to_string(image.cols) + "x" +
                    std::to_string(image.rows) + ", too small for a flow map (at least " +
                    std::to_string(kMinImageSide) + "x" + std::to_string(kMinImageSide) + ")");
  }
  if (image.rows != image.cols) {
    throw DataError(where + path.string() + " is " + std::to_string(image.cols) + "x" +
                    std::to_string(image.rows) + ", expected a square flow map");
  }
  auto hwc = torch::from_blob(image.data, {image.rows, image.cols, 3}, torch::kUInt8);
  return hwc.permute({2, 0, 1}).to(torch::kFloat32).contiguous();
#else
  (void)path;
  throw DataError(where + "this mer was built without OpenCV (MER_WITH_VISION=OFF) and cannot "
                  "decode flow images; use the synthetic dataset or a build with vision");
#endif
}

// Decodes a face crop as grey [side, side] uint8, resized with area interpolation if needed.
torch::Tensor decode_crop(const fs::path& path, int64_t side, const std::string& where) {
#ifdef MER_WITH_VISION
  cv::Mat image = read_image_strict(path, cv::IMREAD_GRAYSCALE, where);
  if (image.rows < kMinImageSide || image.cols < kMinImageSide) {
    throw DataError(where + path.string() + " is " + std::to_string(image.cols) + "x" +
                    std::to_string(image.rows) + ", too small for a face crop (at least " +
                    std::to_string(kMinImageSide) + "x" + std::to_string(kMinImageSide) + ")");
  }
  if (image.rows != side || image.cols != side) {
    cv::Mat resized;
    cv::resize(image, resized, cv::Size(static_cast<int>(side), static_cast<int>(side)), 0, 0,
               image.rows > side ? cv::INTER_AREA : cv::INTER_LINEAR);
    image = resized;
  }
  return torch::from_blob(image.data, {side, side}, torch::kUInt8).clone();
#else
  (void)path;
  (void)side;
  throw DataError(where + "this mer was built without OpenCV (MER_WITH_VISION=OFF) and cannot "
                  "decode face crops");
#endif
}

}  // namespace

Dataset read_prepared(const std::string& dir, const PreparedReadOptions& options) {
  const fs::path root(dir);
  if (!fs::is_directory(root)) throw DataError(dir + ": dataset folder does not exist");
  const fs::path csv_path = root / "labels.csv";
  if (!fs::is_regular_file(csv_path)) {
    throw DataError(csv_path.string() + ": not found (a prepared dataset needs labels.csv)");
  }
  const std::string csv_name = csv_path.string();
  const auto rows = csv::read_file(csv_name);
  if (rows.empty()) throw DataError(csv_name + ": empty file");

  std::map<std::string, size_t> column;
  for (size_t i = 0; i < rows[0].fields.size(); ++i) column[rows[0].fields[i]] = i;
  for (const char* name : kRequiredColumns) {
    if (!column.count(name)) {
      throw DataError(csv_name + ":1: missing column '" + name +
                      "' (need dataset,subject,sample,label,emotion,flow,face)");
    }
  }
  if (rows.size() < 2) throw DataError(csv_name + ": no samples");

  if (options.crops() && options.crop_side() < 8) throw DataError("read_prepared: crop_side must be >= 8");
  const bool with_onsets = options.crops() && column.count("onset_face");
  bool with_aus = true;
  for (int au : kActionUnitList) with_aus = with_aus && column.count("au" + std::to_string(au));
  std::vector<torch::Tensor> faces, onsets;
  std::vector<float> aus;

  Dataset dataset;
  dataset.root = dir;
  std::map<int64_t, std::pair<std::string, int>> label_names;  // label -> (emotion, line)
  std::map<std::string, int> first_line;                       // sample key -> line
  std::vector<torch::Tensor> flows;
  const size_t width = rows[0].fields.size();
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const std::string where = at_row(csv_name, row.line);
    if (row.fields.size() != width) {
      throw DataError(where + "expected " + std::to_string(width) + " fields, found " +
                      std::to_string(row.fields.size()));
    }
    auto field = [&](const char* name) { return row.fields[column.at(name)]; };
    SampleInfo s;
    s.dataset = field("dataset");
    s.subject = field("subject");
    s.sample = field("sample");
    s.emotion = field("emotion");
    s.flow_path = field("flow");
    s.face_path = field("face");
    for (const char* name : kRequiredColumns) {
      if (field(name).empty()) throw DataError(where + "empty '" + name + "' field");
      if (!is_valid_utf8(field(name))) {
        throw DataError(where + "'" + name + "' is not valid UTF-8 (save the file as UTF-8)");
      }
    }
    if (!parse_label(field("label"), s.label)) {
      throw DataError(where + "label '" + field("label") +
                      "' is not a class index (a non-negative integer)");
    }
    auto [it, inserted] = label_names.emplace(s.label, std::make_pair(s.emotion, row.line));
    if (!inserted && it->second.first != s.emotion) {
      throw DataError(where + "label " + std::to_string(s.label) + " is named '" + s.emotion +
                      "' here but '" + it->second.first + "' on line " +
                      std::to_string(it->second.second));
    }
    const std::string key = s.fold_key() + "/" + s.sample;
    auto [seen, fresh] = first_line.emplace(key, row.line);
    if (!fresh) {
      throw DataError(where + "duplicate sample " + key + " (first on line " +
                      std::to_string(seen->second) + ")");
    }
    const fs::path flow_file = root / s.flow_path;
    if (!fs::is_regular_file(flow_file)) {
      throw DataError(where + "flow file " + flow_file.string() + " does not exist");
    }
    if (!fs::is_regular_file(root / s.face_path)) {
      throw DataError(where + "face file " + (root / s.face_path).string() + " does not exist");
    }
    auto flow = decode_flow(flow_file, where);
    if (!flows.empty() && flow.sizes() != flows.front().sizes()) {
      throw DataError(where + flow_file.string() + " is " + std::to_string(flow.size(2)) + "x" +
                      std::to_string(flow.size(1)) + ", but the first sample's flow is " +
                      std::to_string(flows.front().size(2)) + "x" +
                      std::to_string(flows.front().size(1)));
    }
    flows.push_back(flow);
    if (options.crops()) {
      faces.push_back(decode_crop(root / s.face_path, options.crop_side(), where));
      if (with_onsets) {
        const std::string onset = row.fields[column.at("onset_face")];
        if (onset.empty()) throw DataError(where + "empty 'onset_face' field");
        const fs::path onset_file = root / onset;
        if (!fs::is_regular_file(onset_file)) {
          throw DataError(where + "onset crop " + onset_file.string() + " does not exist");
        }
        onsets.push_back(decode_crop(onset_file, options.crop_side(), where));
      }
    }
    if (with_aus) {
      for (int au : kActionUnitList) {
        const std::string name = "au" + std::to_string(au);
        const std::string& value = row.fields[column.at(name)];
        if (value != "0" && value != "1") {
          throw DataError(where + "'" + name + "' is '" + value + "', expected 0 or 1");
        }
        aus.push_back(value == "1" ? 1.0f : 0.0f);
      }
    }
    dataset.samples.push_back(std::move(s));
  }
  const int64_t num_classes = label_names.rbegin()->first + 1;
  for (int64_t k = 0; k < num_classes; ++k) {
    if (!label_names.count(k)) {
      const auto& highest = label_names.rbegin()->second;
      throw DataError(at_row(csv_name, highest.second) + "label " + std::to_string(num_classes - 1) +
                      " ('" + highest.first + "') but label " + std::to_string(k) +
                      " never occurs: labels must be the class indices 0..K-1");
    }
    dataset.class_names.push_back(label_names.at(k).first);
  }
  if (num_classes < 2) throw DataError(csv_name + ": only one class present");
  dataset.flows = torch::stack(flows);
  if (!options.landmarks()) {
    // none wanted
  } else if (!options.landmarks_file().empty()) {
    dataset.landmarks = read_landmarks(options.landmarks_file(), dataset);
  } else if (fs::is_regular_file(root / kLandmarksFile)) {
    dataset.landmarks = read_landmarks((root / kLandmarksFile).string(), dataset);
  }
  if (!faces.empty()) dataset.faces = torch::stack(faces);
  if (!onsets.empty()) dataset.onsets = torch::stack(onsets);
  if (with_aus) {
    dataset.aus = torch::tensor(aus, torch::kFloat32).reshape({dataset.size(), kNumActionUnits});
  }
  dataset.validate();
  return dataset;
}

void write_prepared(const Dataset& dataset, const std::string& dir) {
#ifdef MER_WITH_VISION
  dataset.validate();
  const fs::path root(dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw DataError(dir + ": cannot create folder: " + ec.message());
  const auto flows = dataset.flows.clamp(0, 255).round().to(torch::kUInt8).contiguous();
  for (int64_t i = 0; i < dataset.size(); ++i) {
    const auto& s = dataset.samples[i];
    const fs::path flow_file = root / s.flow_path;
    fs::create_directories(flow_file.parent_path());
    auto hwc = flows[i].permute({1, 2, 0}).contiguous();
    cv::Mat image(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3,
                  hwc.data_ptr());
    write_image_atomic(flow_file, image);
    if (dataset.faces.defined()) {
      const fs::path face_file = root / s.face_path;
      fs::create_directories(face_file.parent_path());
      auto face = dataset.faces[i].to(torch::kUInt8).contiguous();
      cv::Mat grey(static_cast<int>(face.size(0)), static_cast<int>(face.size(1)), CV_8UC1,
                   face.data_ptr());
      write_image_atomic(face_file, grey);
    }
  }
  if (dataset.landmarks.defined()) {
    const double face_size = static_cast<double>(
        dataset.faces.defined() ? dataset.faces.size(-1) : dataset.flow_side());
    write_landmarks((root / kLandmarksFile).string(),
                    landmark_rows(dataset, face_size, ""));
  }
  {
    std::ostringstream out;
    out << "dataset,subject,sample,label,emotion,flow,face\n";
    for (const auto& s : dataset.samples) {
      out << csv::join({s.dataset, s.subject, s.sample, std::to_string(s.label),
                        dataset.class_names.at(s.label), s.flow_path, s.face_path})
          << "\n";
    }
    write_file_atomic((root / "labels.csv").string(), out.str());
  }
#else
  (void)dataset;
  throw DataError(dir + ": this mer was built without OpenCV (MER_WITH_VISION=OFF) and cannot "
                  "write image files");
#endif
}

}  // namespace mer::data
