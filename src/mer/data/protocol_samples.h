#pragma once
// Protocol selections (protocols.h) as SampleInfo records, for code that builds a Dataset
// from them. Header-only and separate from protocols.h so that the sheet library (mer_sheets)
// stays free of LibTorch, which dataset.h needs. flow_path and face_path stay empty: the
// preparation step that computes them fills them in.
#include <vector>

#include "mer/data/dataset.h"
#include "mer/data/protocols.h"

namespace mer::data {

inline SampleInfo to_sample_info(const ProtocolSample& sample) {
  SampleInfo info;
  info.dataset = sample.dataset;
  info.subject = sample.subject;
  info.sample = sample.sample;
  info.label = sample.label;
  info.emotion = sample.emotion;
  return info;
}

inline std::vector<SampleInfo> to_sample_infos(const Selection& selection) {
  std::vector<SampleInfo> infos;
  infos.reserve(selection.samples.size());
  for (const auto& s : selection.samples) infos.push_back(to_sample_info(s));
  return infos;
}

}  // namespace mer::data
