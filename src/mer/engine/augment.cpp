#include "mer/engine/augment.h"

#include "mer/core/error.h"
#include "mer/data/dataset.h"

namespace mer::engine {

const std::vector<std::string>& augment_names() {
  static const std::vector<std::string> names = {"none", "flip"};
  return names;
}

void check_augment(const std::string& name) {
  for (const auto& n : augment_names()) {
    if (n == name) return;
  }
  throw ConfigError("--augment '" + name + "': use none or flip");
}

const std::array<int64_t, 68>& mirrored_landmark_order() {
  static const std::array<int64_t, 68> order = [] {
    std::array<int64_t, 68> o{};
    for (int64_t i = 0; i < 68; ++i) o[i] = i;  // the midline points stay
    auto swap_pair = [&o](int64_t a, int64_t b) {
      o[a] = b;
      o[b] = a;
    };
    for (int64_t i = 0; i < 8; ++i) swap_pair(i, 16 - i);       // jaw 0-16
    for (int64_t i = 0; i < 5; ++i) swap_pair(17 + i, 26 - i);  // brows 17-21 | 22-26
    swap_pair(31, 35);                                          // nostrils 31-35
    swap_pair(32, 34);
    // Eyes 36-41 | 42-47, each starting at its outer corner, clockwise in the image.
    for (int64_t i = 0; i < 4; ++i) swap_pair(36 + i, 45 - i);
    swap_pair(40, 47);
    swap_pair(41, 46);
    for (int64_t i = 0; i < 3; ++i) swap_pair(48 + i, 54 - i);  // outer lip, upper 48-54
    swap_pair(55, 59);                                          // outer lip, lower 55-59
    swap_pair(56, 58);
    swap_pair(60, 64);  // inner lip 60-67
    swap_pair(61, 63);
    swap_pair(65, 67);
    return o;
  }();
  return order;
}

void mirror_samples(models::Batch& batch, const torch::Tensor& flip) {
  MER_CHECK(flip.dim() == 1 && flip.size(0) == batch.flow.size(0),
            "mirror_samples: one flip flag per sample expected");
  // A batch's tensors share one device (BatchSource).
  const auto chosen = flip.to(batch.flow.device());
  const auto where4 = chosen.view({-1, 1, 1, 1});
  const auto mirrored = batch.flow.flip({3});  // a new tensor: the batch's stays as it is
  auto u = mirrored.select(1, data::kFlowU);
  u.copy_(u.amin({1, 2}, true) + u.amax({1, 2}, true) - u);
  batch.flow = torch::where(where4, mirrored, batch.flow);
  if (batch.landmarks.defined()) {
    const auto& order = mirrored_landmark_order();
    const auto index =
        torch::tensor(std::vector<int64_t>(order.begin(), order.end()), torch::kInt64)
            .to(chosen.device());
    auto points = batch.landmarks.index_select(1, index);
    const double right_edge = static_cast<double>(batch.flow.size(3) - 1);
    points = torch::stack({right_edge - points.select(2, 0), points.select(2, 1)}, 2);
    batch.landmarks = torch::where(chosen.view({-1, 1, 1}), points, batch.landmarks);
  }
  for (auto* crop : {&batch.face, &batch.onset}) {
    if (crop->defined()) *crop = torch::where(where4, crop->flip({3}), *crop);
  }
}

torch::Tensor draw_flips(SplitMix64& rng, int64_t n) {
  auto flips = torch::empty({n}, torch::kBool);
  auto* data = flips.data_ptr<bool>();
  for (int64_t i = 0; i < n; ++i) data[i] = (rng.next() >> 63) != 0;
  return flips;
}

uint64_t augment_seed(uint64_t run_seed, int64_t fold_index) {
  // The fold's seeds are derive_seed(run_seed, 3 * index + {0, 1, 2}) (weights, shuffling,
  // dropout); this one branches off the dropout seed, leaving those streams as they were.
  return derive_seed(derive_seed(run_seed, static_cast<uint64_t>(fold_index) * 3 + 2), 1);
}

}  // namespace mer::engine
