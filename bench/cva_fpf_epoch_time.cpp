// CVA + FPF training time per epoch on the CPU, from a few timed training steps (forward,
// backward, AdamW step) on random 224x224 crops with AU vectors, one intra-op thread as in a
// LOSO fold. Run from the build folder:
//   bench/cva_fpf_epoch_time [input_size] [width] [embed] [heads] [steps] [batch] [train_samples]
//                            [depths] [window]
//   bench/cva_fpf_epoch_time 112 0.25 32 1,2,4 4 50 217     # CPU defaults
//   bench/cva_fpf_epoch_time 224 1 128 4,8,16 2 50 217      # published size
// Prints seconds per training sample and the implied seconds per epoch for `train_samples`
// (217 = the mean training-set size of a CASME II 5-class LOSO fold: 243 clips, 26 subjects).
#include <torch/torch.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <string>

#include "mer/models/registry.h"

int main(int argc, char** argv) {
  const std::string size = argc > 1 ? argv[1] : "112";
  const std::string width = argc > 2 ? argv[2] : "0.25";
  const std::string embed = argc > 3 ? argv[3] : "32";
  const std::string heads = argc > 4 ? argv[4] : "1,2,4";
  const int steps = argc > 5 ? std::stoi(argv[5]) : 4;
  const int64_t batch = argc > 6 ? std::stoll(argv[6]) : 50;
  const int64_t train_samples = argc > 7 ? std::stoll(argv[7]) : 217;
  const std::string depths = argc > 8 ? argv[8] : "2,2,6";
  const std::string window = argc > 9 ? argv[9] : "7";
  at::set_num_threads(1);
  torch::manual_seed(1);
  mer::models::ModelConfig config;
  config.num_classes = 5;
  config.options = {{"input_size", size}, {"width", width}, {"embed", embed},
                    {"heads", heads},     {"au", "oracle"}, {"input", "crops"},
                    {"depths", depths},   {"window", window}};
  auto model = mer::models::make_model("cva-fpf", config);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(8e-4).weight_decay(0.6));
  mer::models::Batch b;
  b.flow = torch::zeros({batch, 3, 28, 28});
  b.onset = torch::randint(0, 256, {batch, 1, 224, 224}).to(torch::kFloat32);
  b.face = b.onset.clone();
  b.aus = torch::randint(0, 2, {batch, 21}).to(torch::kFloat32);
  b.labels = torch::randint(0, 5, {batch}, torch::kInt64);
  model->train();
  auto step = [&] {
    auto out = model->forward(b);
    auto loss = torch::nn::functional::cross_entropy(out.logits, b.labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  };
  step();  // warm-up
  // CPU time as well as wall time: on a shared box the process's CPU time is what the
  // steps cost, the wall time what they took.
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  for (int i = 0; i < steps; ++i) step();
  const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double per_sample = cpu / (steps * batch);
  std::printf("input_size %s width %s embed %s heads %s depths %s window %s: %lld parameters; %d "
              "steps of batch %lld: %.2f s CPU (%.2f s wall): %.4f CPU s per training sample, "
              "%.1f CPU s per epoch of %lld samples (1 thread)\n",
              size.c_str(), width.c_str(), embed.c_str(), heads.c_str(), depths.c_str(),
              window.c_str(), static_cast<long long>(params), steps, static_cast<long long>(batch),
              cpu, wall, per_sample, per_sample * train_samples, static_cast<long long>(train_samples));
  return 0;
}
