#pragma once
// One clip from frame files to everything `mer predict` shows: the prepared clip (flow map,
// aligned crops, landmarks, apex) exactly as `mer prepare` computes it, plus the motion per
// facial region (facial_regions.h).
#include <optional>
#include <string>
#include <vector>

#include "mer/face/clip_preprocessor.h"
#include "mer/pipeline/facial_regions.h"

namespace mer::pipeline {

struct ClipAnalysis {
  face::PreparedClip clip;
  MotionAnalysis motion;
  std::vector<std::string> frames;  // the frame files given, frames[0] = onset
  std::string onset_file, apex_file;
};

// `frames`: frame files, frames[0] = onset; `apex_index`: index of the apex in `frames`, or
// empty to spot it among frames[1..] (face/apex_spotting.h). The region motion comes from the
// preprocessor's TV-L1 flow between the aligned crops, the one the flow map is made from. Throws
// mer::DataError naming the file for a missing or undecodable frame, frames of different
// sizes, or "no face found in <onset>"; ConfigError for an apex index out of range.
ClipAnalysis analyse_clip(face::ClipPreprocessor& preprocessor,
                          const std::vector<std::string>& frames, std::optional<int> apex_index);

// The same on decoded frames (8-bit grey or BGR, all one size; e.g. a video's,
// face/video_io.h); names[i] stands for images[i] in messages and in the result's file names.
ClipAnalysis analyse_frames(face::ClipPreprocessor& preprocessor, const std::vector<cv::Mat>& images,
                            const std::vector<std::string>& names, std::optional<int> apex_index);

// The image files (.jpg, .jpeg, .png, .bmp, .tif, .tiff; any case) of a clip folder in frame
// order: by the last number in the file name (reg_img9 before reg_img10), then by name. This
// reads the frame folders of every database mer has an adapter for: CASME II reg_img46.jpg /
// img46.jpg, SAMM 006_05562.jpg, SMIC image012345.bmp, CAS(ME)^3 355.jpg, MMEW 12.jpg.
// Throws DataError when `dir` is not a folder or holds fewer than 2 images.
std::vector<std::string> list_clip_frames(const std::string& dir);

// The frame number of a frame file: the last run of digits in its file name without the
// extension ("reg_img46.jpg" -> 46, "006_05562.jpg" -> 5562, "image012345.bmp" -> 12345);
// -1 when it has none.
long long clip_frame_number(const std::string& path);

}  // namespace mer::pipeline
