#pragma once
// Small in-code datasets for engine tests.
#include <string>
#include <tuple>
#include <vector>

#include "mer/data/dataset.h"

namespace mer::testing_fixtures {

// Samples per (part, subject); labels cycle 0,1,2; flows are random but seeded.
inline data::Dataset tiny_dataset(const std::vector<std::tuple<std::string, std::string, int>>& spec,
                                  int64_t side = 28) {
  data::Dataset d;
  d.class_names = data::megc2019_class_names();
  int64_t n = 0;
  for (const auto& [part, subject, count] : spec) {
    for (int i = 0; i < count; ++i) {
      data::SampleInfo s;
      s.dataset = part;
      s.subject = subject;
      s.sample = "clip" + std::to_string(i);
      s.label = n % 3;
      s.emotion = d.class_names[s.label];
      s.flow_path = "flow/" + part + "_" + subject + "_" + s.sample + ".png";
      s.face_path = "face/" + part + "_" + subject + "_" + s.sample + ".jpg";
      d.samples.push_back(s);
      ++n;
    }
  }
  auto gen = at::detail::createCPUGenerator(1234);
  d.flows = torch::randint(0, 256, {n, 3, side, side}, gen, torch::kFloat32);
  return d;
}

}  // namespace mer::testing_fixtures
