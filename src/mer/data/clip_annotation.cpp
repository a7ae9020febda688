#include "mer/data/clip_annotation.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "mer/core/error.h"
#include "mer/data/sheet.h"

namespace mer::data {

std::string format_frame_pattern(std::string_view pattern, int frame) {
  std::string out;
  size_t i = 0;
  while (i < pattern.size()) {
    const auto open = pattern.find('{', i);
    if (open == std::string_view::npos) {
      out += pattern.substr(i);
      break;
    }
    out += pattern.substr(i, open - i);
    const auto close = pattern.find('}', open);
    MER_CHECK(close != std::string_view::npos,
              "unclosed '{' in frame pattern " + std::string(pattern));
    const std::string_view field = pattern.substr(open + 1, close - open - 1);
    std::string number = std::to_string(frame);
    if (field == "n") {
      out += number;
    } else {
      MER_CHECK(field.size() >= 4 && field.substr(0, 3) == "n:0" &&
                    std::all_of(field.begin() + 3, field.end(),
                                [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }),
                "frame pattern placeholder must be {n} or {n:0W}: " + std::string(pattern));
      const size_t width = std::stoul(std::string(field.substr(3)));
      if (number.size() < width) number.insert(0, width - number.size(), '0');
      out += number;
    }
    i = close + 1;
  }
  return out;
}

std::string FrameLayout::path(int frame) const {
  if (folders.empty() || patterns.empty()) return {};
  return folders.front() + "/" + format_frame_pattern(patterns.front(), frame);
}

std::vector<std::string> FrameLayout::candidates(int frame) const {
  std::vector<std::string> out;
  for (const auto& folder : folders) {
    for (const auto& pattern : patterns) {
      std::string p = folder + "/" + format_frame_pattern(pattern, frame);
      if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
    }
  }
  return out;
}

bool ClipAnnotation::has_flag(std::string_view prefix) const {
  return std::any_of(flags.begin(), flags.end(), [&](const std::string& f) {
    return std::string_view(f).substr(0, prefix.size()) == prefix;
  });
}

std::string find_frame(const std::string& root, const ClipAnnotation& clip, int frame) {
  const auto candidates = clip.frames.candidates(frame);
  std::error_code ec;
  for (const auto& c : candidates) {
    const auto path = std::filesystem::path(root) / c;
    if (std::filesystem::is_regular_file(path, ec)) return path.string();
  }
  std::string tried;
  for (const auto& c : candidates) tried += (tried.empty() ? "" : ", ") + c;
  throw DataError(clip.key() + " (" + clip.source + ":" + std::to_string(clip.source_row) +
                  "): frame " + std::to_string(frame) + " not found under " + root + "; tried " +
                  (tried.empty() ? "no path (the clip has no frame layout)" : tried));
}

std::string canonical_emotion(std::string_view raw) {
  std::string e = trim(raw);
  std::transform(e.begin(), e.end(), e.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::pair<const char*, const char*> kSynonyms[] = {
      {"happy", "happiness"},     {"sad", "sadness"},        {"other", "others"},
      {"angry", "anger"},         {"surprised", "surprise"}, {"disgusted", "disgust"},
      {"fearful", "fear"},        {"scared", "fear"},        {"contemptuous", "contempt"},
      {"repressed", "repression"}};
  for (const auto& [from, to] : kSynonyms) {
    if (e == from) return to;
  }
  return e;
}

}  // namespace mer::data
