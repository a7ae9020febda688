#pragma once
// Reading the frames of a video file (avi, mp4, mov, ... whatever OpenCV's video backend
// decodes: on Debian 12, libopencv-videoio406 with FFmpeg and GStreamer) with errors a user
// can act on.
//
// Frame numbers count decoded frames from the video's first frame, which is frame 0 (the
// convention of OpenCV's CAP_PROP_POS_FRAMES). Frames are decoded sequentially from the
// start, never by seeking: seeking in inter-coded streams (mp4/H.264) lands on key frames in
// some backends, and sequential decoding gives the same frame for the same number everywhere.
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "mer/face/image_io.h"

namespace mer::face {

struct VideoInfo {
  int64_t frames = 0;  // decoded frame count (read to the end, not the container's claim)
  double fps = 0;      // as the container says (0 when it does not)
  int width = 0, height = 0;
};

// Whether `path` names a video by its extension (.avi .mp4 .mov .mkv .m4v .mpg .mpeg .wmv
// .webm; any case).
bool is_video_file(const std::string& path);

// Decodes frames first..last (inclusive, 0-based, last = -1: to the end) of `path` as 8-bit
// grey or BGR. Throws mer::DataError "<path>: file not found", "<path>: cannot open video
// (corrupt, or a format the video backend does not decode)", "<path>: no frame could be
// decoded", or "<path>: frame N out of range (the video has M frames, numbered 0..M-1)".
// Thread-safe (each call opens its own decoder).
std::vector<cv::Mat> read_video_frames(const std::string& path, ImageMode mode, int64_t first = 0,
                                       int64_t last = -1);

// The frames at `numbers` (0-based, any order, repeats allowed), decoded in one sequential
// pass up to the largest; returned in the order of `numbers`. Errors as read_video_frames.
std::vector<cv::Mat> read_video_frames_at(const std::string& path, ImageMode mode,
                                          const std::vector<int64_t>& numbers);

// Decodes the whole video to count its frames. Errors as read_video_frames.
VideoInfo probe_video(const std::string& path);

// "<path>#<frame>": how a video frame is named in messages and results.
std::string video_frame_name(const std::string& path, int64_t frame);

}  // namespace mer::face
