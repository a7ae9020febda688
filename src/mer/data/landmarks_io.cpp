#include "mer/data/landmarks_io.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "mer/core/csv.h"
#include "mer/core/atomic_file.h"
#include "mer/core/error.h"

namespace fs = std::filesystem;

namespace mer::data {

namespace {

std::string key_of(const std::string& dataset, const std::string& subject,
                   const std::string& sample) {
  return dataset + "/" + subject + "/" + sample;
}

bool parse_number(const std::string& text, double& out) {
  if (text.empty()) return false;
  try {
    size_t used = 0;
    out = std::stod(text, &used);
    return used == text.size() && std::isfinite(out);
  } catch (const std::exception&) {
    return false;
  }
}

std::string format_number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  return buf;
}

}  // namespace

torch::Tensor read_landmarks(const std::string& path, const Dataset& dataset) {
  MER_CHECK(dataset.flow_side() > 0, "read_landmarks needs the dataset's flows (for their side)");
  if (!fs::is_regular_file(path)) throw DataError(path + ": landmarks file not found");
  const auto rows = csv::read_file(path);
  if (rows.empty()) throw DataError(path + ": empty file");

  std::map<std::string, size_t> column;
  for (size_t i = 0; i < rows[0].fields.size(); ++i) column[rows[0].fields[i]] = i;
  std::vector<std::string> required = {"dataset", "subject", "sample", "face_size"};
  for (int64_t p = 0; p < kNumLandmarks; ++p) {
    required.push_back("x" + std::to_string(p));
    required.push_back("y" + std::to_string(p));
  }
  for (const auto& name : required) {
    if (!column.count(name)) {
      throw DataError(path + ":1: missing column '" + name +
                      "' (need dataset,subject,sample,face_size,x0,y0,...,x67,y67)");
    }
  }

  std::map<std::string, int64_t> index;  // sample key -> dataset row
  for (int64_t i = 0; i < dataset.size(); ++i) {
    const auto& s = dataset.samples[i];
    index[key_of(s.dataset, s.subject, s.sample)] = i;
  }
  const double side = static_cast<double>(dataset.flow_side());
  auto out = torch::empty({dataset.size(), kNumLandmarks, 2}, torch::kFloat32);
  float* values = out.data_ptr<float>();
  std::vector<int> line_of(static_cast<size_t>(dataset.size()), 0);
  const size_t width = rows[0].fields.size();
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const std::string where = path + ":" + std::to_string(row.line) + ": ";
    if (row.fields.size() != width) {
      throw DataError(where + "expected " + std::to_string(width) + " fields, found " +
                      std::to_string(row.fields.size()));
    }
    auto field = [&](const std::string& name) -> const std::string& {
      return row.fields[column.at(name)];
    };
    const std::string key = key_of(field("dataset"), field("subject"), field("sample"));
    const auto it = index.find(key);
    if (it == index.end()) {
      throw DataError(where + "sample " + key + " is not in the dataset" +
                      (dataset.root.empty() ? std::string() : " " + dataset.root));
    }
    const int64_t i = it->second;
    if (line_of[static_cast<size_t>(i)] != 0) {
      throw DataError(where + "duplicate sample " + key + " (first on line " +
                      std::to_string(line_of[static_cast<size_t>(i)]) + ")");
    }
    line_of[static_cast<size_t>(i)] = row.line;
    double face_size = 0.0;
    if (!parse_number(field("face_size"), face_size) || face_size <= 0.0) {
      throw DataError(where + "face_size '" + field("face_size") + "' is not a positive number");
    }
    const double scale = side / face_size;
    for (int64_t p = 0; p < kNumLandmarks; ++p) {
      for (int c = 0; c < 2; ++c) {
        const std::string name = (c == 0 ? "x" : "y") + std::to_string(p);
        double v = 0.0;
        if (!parse_number(field(name), v)) {
          throw DataError(where + "'" + name + "' value '" + field(name) +
                          "' is not a finite number");
        }
        values[(i * kNumLandmarks + p) * 2 + c] = static_cast<float>((v + 0.5) * scale - 0.5);
      }
    }
  }
  std::string missing;
  int64_t missing_count = 0;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    if (line_of[static_cast<size_t>(i)] != 0) continue;
    if (++missing_count <= 3) {
      const auto& s = dataset.samples[i];
      missing += (missing.empty() ? "" : ", ") + key_of(s.dataset, s.subject, s.sample);
    }
  }
  if (missing_count > 0) {
    throw DataError(path + ": no landmarks for " + std::to_string(missing_count) + " sample(s) (" +
                    missing + (missing_count > 3 ? ", ..." : "") +
                    "); rerun `mer landmarks` for this dataset");
  }
  return out;
}

void write_landmarks(const std::string& path, const std::vector<LandmarkRow>& rows) {
  const fs::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) throw DataError(path + ": cannot create its folder: " + ec.message());
  }
  {
    std::ostringstream out;
    std::vector<std::string> header = {"dataset", "subject", "sample", "face_size"};
    for (int64_t p = 0; p < kNumLandmarks; ++p) {
      header.push_back("x" + std::to_string(p));
      header.push_back("y" + std::to_string(p));
    }
    header.push_back("source");
    out << csv::join(header) << "\n";
    for (const auto& r : rows) {
      std::vector<std::string> fields = {r.dataset, r.subject, r.sample, format_number(r.face_size)};
      for (float v : r.xy) fields.push_back(format_number(v));
      fields.push_back(r.source);
      out << csv::join(fields) << "\n";
    }
    write_file_atomic(path, out.str());
  }
}

std::vector<LandmarkRow> landmark_rows(const Dataset& dataset, double face_size,
                                       const std::string& source) {
  MER_CHECK(dataset.landmarks.defined() && dataset.flow_side() > 0 && face_size > 0.0,
            "landmark_rows needs a dataset with flows and landmarks and a positive face size");
  const double scale = face_size / static_cast<double>(dataset.flow_side());
  const auto points = dataset.landmarks.contiguous();
  const float* p = points.data_ptr<float>();
  std::vector<LandmarkRow> rows;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    LandmarkRow row;
    row.dataset = dataset.samples[i].dataset;
    row.subject = dataset.samples[i].subject;
    row.sample = dataset.samples[i].sample;
    row.face_size = face_size;
    row.source = source;
    for (size_t k = 0; k < row.xy.size(); ++k) {
      row.xy[k] = static_cast<float>((p[i * 2 * kNumLandmarks + static_cast<int64_t>(k)] + 0.5) *
                                         scale -
                                     0.5);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace mer::data
