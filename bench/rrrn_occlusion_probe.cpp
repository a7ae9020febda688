// RRRN under simulated occlusion, from a finished `mer loso --model rrrn` run: each fold's
// saved model predicts its test subject again, on the clean maps and with facial regions
// occluded, and the program prints UF1 and the region weights for each case.
//
// Occlusion here is the flow-level approximation of ../shared/docs/methods.md: an occluded
// area moves rigidly with the head, so its flow becomes "no motion", i.e. each channel's
// per-sample median of the min-max normalised map (no boundary noise, no re-normalisation;
// `mer occlude` is the full simulation). The occluded areas are the model's own region boxes
// (from the sample's landmarks): one region at a time, "glasses" (both brow/eye regions and
// the glabella) and "mask" (nose, both cheeks, mouth, chin).
//
//   build/bench/rrrn_occlusion_probe RUN DATA [LANDMARKS]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "mer/data/prepared_io.h"
#include "mer/engine/checkpoint.h"
#include "mer/engine/loso.h"
#include "mer/engine/metrics.h"
#include "mer/engine/results.h"
#include "mer/models/rrrn.h"

namespace fs = std::filesystem;
using namespace mer;

namespace {

// flow [N, 3, S, S] 0..255 with the pixels inside any of `regions`' boxes set to the map's
// per-channel median.
torch::Tensor occlude(const torch::Tensor& flow, const torch::Tensor& boxes,
                      const std::vector<int64_t>& regions) {
  const int64_t n = flow.size(0), s = flow.size(2);
  const auto median = std::get<0>(flow.flatten(2).median(2)).view({n, 3, 1, 1});
  const auto coords = torch::arange(s, torch::kFloat32);
  auto hidden = torch::zeros({n, 1, s, s});
  for (int64_t r : regions) {
    const auto b = boxes.select(1, r);  // [N, 4]
    const auto in_x = (coords.view({1, 1, 1, s}) >= b.select(1, 0).view({n, 1, 1, 1})) &
                      (coords.view({1, 1, 1, s}) <= b.select(1, 2).view({n, 1, 1, 1}));
    const auto in_y = (coords.view({1, 1, s, 1}) >= b.select(1, 1).view({n, 1, 1, 1})) &
                      (coords.view({1, 1, s, 1}) <= b.select(1, 3).view({n, 1, 1, 1}));
    hidden = torch::maximum(hidden, (in_x & in_y).to(torch::kFloat32));
  }
  return flow * (1 - hidden) + median * hidden;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s RUN DATA [LANDMARKS]\n", argv[0]);
    return 2;
  }
  try {
    torch::set_num_threads(1);
    const fs::path run(argv[1]);
    const auto dataset = data::read_prepared(
        argv[2], data::PreparedReadOptions().landmarks_file(argc > 3 ? argv[3] : ""));
    const auto& names = [] {
      std::vector<std::string> out;
      for (const auto& r : models::rrrn_regions()) out.push_back(r.name);
      return out;
    }();
    const int64_t regions = static_cast<int64_t>(names.size());
    std::vector<std::pair<std::string, std::vector<int64_t>>> cases = {{"clean", {}}};
    for (int64_t r = 1; r < regions; ++r) cases.push_back({names[static_cast<size_t>(r)], {r}});
    cases.push_back({"glasses", {1, 2, 3}});
    cases.push_back({"mask", {4, 5, 6, 7, 8}});

    std::vector<int64_t> labels;
    std::map<std::string, std::vector<int64_t>> predictions;
    std::map<std::string, torch::Tensor> weight_sum;  // [R] summed over samples
    for (const auto& key : dataset.fold_keys()) {
      const fs::path dir = run / "folds" / engine::fold_folder_name(key);
      if (!fs::is_regular_file(dir / "fold.json")) continue;
      engine::FoldOutcome recorded;
      {
        std::ifstream in(dir / "fold.json");
        recorded = engine::outcome_from_json(nlohmann::json::parse(in), dataset);
      }
      auto checkpoint = engine::load_checkpoint((dir / "model.pt").string());
      auto* model = dynamic_cast<models::RRRNImpl*>(checkpoint.model.get());
      if (model == nullptr) throw std::runtime_error(dir.string() + ": not an rrrn model");
      model->eval();
      const auto idx = torch::tensor(recorded.samples, torch::kInt64);
      const auto flow = dataset.flows.index_select(0, idx);
      const auto landmarks = dataset.landmarks.index_select(0, idx);
      const auto boxes = models::rrrn_region_boxes(landmarks, flow.size(2), model->options().margin(),
                                                   model->options().min_box());
      for (int64_t i : recorded.samples) labels.push_back(dataset.samples[static_cast<size_t>(i)].label);
      torch::NoGradGuard no_grad;
      for (const auto& [name, hidden] : cases) {
        const auto out = model->forward({hidden.empty() ? flow : occlude(flow, boxes, hidden), {}, landmarks});
        const auto pred = out.logits.argmax(1).contiguous();
        auto& p = predictions[name];
        p.insert(p.end(), pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + pred.numel());
        const auto w = out.explain.at("region_weights").sum(0);
        weight_sum[name] = weight_sum[name].defined() ? weight_sum[name] + w : w;
      }
    }
    const auto n = static_cast<double>(labels.size());
    const auto clean_w = weight_sum["clean"] / n;
    std::printf("%zu samples; mean region weights, clean:\n ", labels.size());
    for (int64_t r = 0; r < regions; ++r) std::printf(" %s %.3f", names[static_cast<size_t>(r)].c_str(), clean_w[r].item<double>());
    std::printf("\n%-16s %7s %7s %24s\n", "occluded", "UF1", "UAR", "weight of occluded (clean)");
    for (const auto& [name, hidden] : cases) {
      const auto m = engine::compute_metrics(labels, predictions[name], dataset.num_classes());
      const auto w = weight_sum[name] / n;
      double occluded = 0, before = 0;
      for (int64_t r : hidden) {
        occluded += w[r].item<double>();
        before += clean_w[r].item<double>();
      }
      std::printf("%-16s %7.4f %7.4f", name.c_str(), m.uf1, m.uar);
      if (!hidden.empty()) std::printf("   %.3f (%.3f)", occluded, before);
      std::printf("\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rrrn_occlusion_probe: %s\n", e.what());
    return 1;
  }
  return 0;
}
