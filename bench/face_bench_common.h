#pragma once
// Shared by the face benchmarks: the CASME II clips of ../shared/data/casme2 (clips.csv) with
// the paths of their frames. Header-only; each bench is a plain timing main.
#include <filesystem>
#include <string>
#include <vector>

#include "mer/core/csv.h"
#include "mer/core/error.h"

namespace mer::face::bench {

struct CasmeClip {
  std::string subject, filename;
  int onset = 0, apex = 0, offset = 0;
  bool all_frames = false;  // every frame onset..offset is present
  bool flagged = false;     // uncertain frame numbering: left out of figures
  std::string frame_path(const std::string& root, int number) const {
    return root + "/frames/" + subject + "/" + filename + "/reg_img" + std::to_string(number) +
           ".jpg";
  }
};

// Clips of <root>/clips.csv in file order, unflagged ones whose onset and apex frames exist.
inline std::vector<CasmeClip> casme_clips(const std::string& root) {
  const auto rows = csv::read_file(root + "/clips.csv");
  if (rows.empty()) throw DataError(root + "/clips.csv: empty");
  const auto& header = rows[0].fields;
  auto column = [&](const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return i;
    }
    throw DataError(root + "/clips.csv: no column '" + name + "'");
  };
  const size_t subject = column("subject"), filename = column("filename"),
               onset = column("onset"), apex = column("apex"), offset = column("offset"),
               frames = column("frames"), flags = column("flags");
  std::vector<CasmeClip> clips;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r].fields;
    if (f.size() < header.size()) continue;
    CasmeClip c;
    c.subject = f[subject];
    c.filename = f[filename];
    c.onset = std::stoi(f[onset]);
    c.apex = std::stoi(f[apex]);
    c.offset = std::stoi(f[offset]);
    c.all_frames = f[frames] == "all";
    c.flagged = !f[flags].empty();
    if (c.flagged) continue;
    if (!std::filesystem::exists(c.frame_path(root, c.onset)) ||
        !std::filesystem::exists(c.frame_path(root, c.apex))) {
      continue;
    }
    clips.push_back(c);
  }
  return clips;
}

}  // namespace mer::face::bench
