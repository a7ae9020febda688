#pragma once
// One clip from frame files to everything `mer predict` shows: the prepared clip (flow map,
// aligned crops, landmarks, apex) exactly as `mer prepare` computes it, plus the motion per
// facial region (facial_regions.h).
#include <optional>
#include <string>
#include <vector>

#include "face/clip_preprocessor.h"
#include "pipeline/facial_regions.h"

namespace mer::pipeline {

struct ClipAnalysis {
  face::PreparedClip clip;
  MotionAnalysis motion;
  std::vector<std::string> frames;  // the frame files given, frames[0] = onset
  std::string onset_file, apex_file;
};

// `frames`: frame files, frames[0] = onset; `apex_index`: index of the apex in `frames`, or
// empty to spot it among frames[1..] (face/apex_spotting.h). The region motion comes from a
// TV-L1 flow between the aligned crops with the preprocessor's flow settings. Throws
// mer::DataError naming the file for a missing or undecodable frame, frames of different
// sizes, or "no face found in <onset>"; ConfigError for an apex index out of range.
ClipAnalysis analyse_clip(face::ClipPreprocessor& preprocessor,
                          const std::vector<std::string>& frames, std::optional<int> apex_index);

// The image files (.jpg, .jpeg, .png, .bmp, .tif, .tiff; any case) of a clip folder in frame
// order: by the last number in the file name (reg_img9 before reg_img10), then by name.
// Throws DataError when `dir` is not a folder or holds fewer than 2 images.
std::vector<std::string> list_clip_frames(const std::string& dir);

}  // namespace mer::pipeline
