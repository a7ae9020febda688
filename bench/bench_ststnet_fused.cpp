// STSTNet training step and inference: fused single-threaded kernels vs LibTorch autograd with
// one intra-op thread, at the LOSO training configuration (batch 256, 3x28x28, 3 classes).
// "us_per_sample" is wall time per sample; with threads:2 (one model per thread, as the LOSO
// engine runs two folds at once) it is the time per sample on each thread, which shows how
// much the two cores slow each other down through the shared L3 and memory.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "mer/models/ststnet_fused.h"

namespace {

using mer::models::FastRng;
using mer::models::STSTNetFusedTrainer;
using mer::models::STSTNetImpl;
namespace F = torch::nn::functional;

constexpr int64_t kSide = 28;
constexpr int64_t kClasses = 3;

struct Batch {
  torch::Tensor x, labels, mask;
};

Batch make_batch(int64_t batch, uint64_t seed) {
  torch::manual_seed(static_cast<int64_t>(seed));
  Batch b;
  b.x = torch::rand({batch, 3, kSide, kSide}) * 255.0f;
  b.labels = torch::randint(0, kClasses, {batch}, torch::kLong);
  b.mask = torch::empty({batch, 16, 10, 10});
  FastRng rng(seed);
  mer::models::fill_dropout_scale(rng, 0.5f, b.mask.data_ptr<float>(), b.mask.numel());
  return b;
}

void set_per_sample(benchmark::State& state, int64_t batch) {
  // Wall seconds per sample on one thread (printed in microseconds, e.g. "21.5u"). Google
  // Benchmark divides thread-averaged rates by the thread count once more, hence batch/threads.
  state.counters["us_per_sample"] =
      benchmark::Counter(static_cast<double>(batch) / state.threads(),
                         benchmark::Counter::kIsIterationInvariantRate |
                             benchmark::Counter::kInvert | benchmark::Counter::kAvgThreads);
}

STSTNetImpl make_model(uint64_t seed) {
  torch::manual_seed(static_cast<int64_t>(seed));
  return STSTNetImpl(mer::models::STSTNetOptions().input_size(kSide).num_classes(kClasses));
}

void BM_FusedTrainStep(benchmark::State& state) {
  const int64_t batch = state.range(0);
  auto net = make_model(state.thread_index());
  STSTNetFusedTrainer trainer(net);
  const Batch b = make_batch(batch, 1 + state.thread_index());
  for (auto _ : state) {
    float loss = trainer.train_step(b.x.data_ptr<float>(), b.labels.data_ptr<int64_t>(), batch,
                                    b.mask.data_ptr<float>());
    benchmark::DoNotOptimize(loss);
  }
  set_per_sample(state, batch);
}

// The same step on each instruction-set variant the CPU supports (0 = AVX-512, 1 = AVX2+FMA,
// 2 = plain x86-64), to see what machines without AVX-512 get.
void BM_FusedTrainStepIsa(benchmark::State& state) {
  const mer::models::FusedIsa isas[] = {mer::models::FusedIsa::kAvx512,
                                        mer::models::FusedIsa::kAvx2,
                                        mer::models::FusedIsa::kGeneric};
  const int64_t batch = 256;
  auto net = make_model(0);
  std::unique_ptr<STSTNetFusedTrainer> trainer;
  try {
    trainer = std::make_unique<STSTNetFusedTrainer>(net, isas[state.range(0)]);
  } catch (const std::exception&) {
    state.SkipWithError("instruction set not supported by this CPU");
    return;
  }
  const Batch b = make_batch(batch, 1);
  for (auto _ : state) {
    float loss = trainer->train_step(b.x.data_ptr<float>(), b.labels.data_ptr<int64_t>(), batch,
                                     b.mask.data_ptr<float>());
    benchmark::DoNotOptimize(loss);
  }
  set_per_sample(state, batch);
}

// What the engine does per step: a fresh dropout mask, the fused step and torch's Adam update.
void BM_FusedTrainStepWithAdamAndMask(benchmark::State& state) {
  torch::set_num_threads(1);
  const int64_t batch = state.range(0);
  auto net = make_model(state.thread_index());
  STSTNetFusedTrainer trainer(net);
  torch::optim::Adam opt(net.parameters(), torch::optim::AdamOptions(1e-3));
  Batch b = make_batch(batch, 1 + state.thread_index());
  FastRng rng(7 + state.thread_index());
  for (auto _ : state) {
    mer::models::fill_dropout_scale(rng, 0.5f, b.mask.data_ptr<float>(), b.mask.numel());
    float loss = trainer.train_step(b.x.data_ptr<float>(), b.labels.data_ptr<int64_t>(), batch,
                                    b.mask.data_ptr<float>());
    opt.step();
    benchmark::DoNotOptimize(loss);
  }
  set_per_sample(state, batch);
}

void BM_TorchTrainStep(benchmark::State& state) {
  torch::set_num_threads(1);
  const int64_t batch = state.range(0);
  auto net = make_model(state.thread_index());
  net.train();
  const Batch b = make_batch(batch, 1 + state.thread_index());
  for (auto _ : state) {
    net.zero_grad();
    auto loss = F::cross_entropy(net.forward_flow(b.x), b.labels);
    loss.backward();
    benchmark::DoNotOptimize(loss.data_ptr<float>());
  }
  set_per_sample(state, batch);
}

void BM_FusedPredict(benchmark::State& state) {
  const int64_t batch = state.range(0);
  auto net = make_model(state.thread_index());
  STSTNetFusedTrainer trainer(net);
  const Batch b = make_batch(batch, 1 + state.thread_index());
  std::vector<float> logits(static_cast<size_t>(batch * kClasses));
  for (auto _ : state) {
    trainer.predict(b.x.data_ptr<float>(), batch, logits.data());
    benchmark::DoNotOptimize(logits.data());
  }
  set_per_sample(state, batch);
}

void BM_TorchPredict(benchmark::State& state) {
  torch::set_num_threads(1);
  const int64_t batch = state.range(0);
  auto net = make_model(state.thread_index());
  net.eval();
  const Batch b = make_batch(batch, 1 + state.thread_index());
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    auto logits = net.forward_flow(b.x);
    benchmark::DoNotOptimize(logits.data_ptr<float>());
  }
  set_per_sample(state, batch);
}

// The parts of an engine step around train_step, per sample of a 256-batch.
void BM_FillDropoutScale(benchmark::State& state) {
  std::vector<float> mask(256 * 16 * 10 * 10);
  FastRng rng(3);
  for (auto _ : state) {
    mer::models::fill_dropout_scale(rng, 0.5f, mask.data(), static_cast<int64_t>(mask.size()));
    benchmark::DoNotOptimize(mask.data());
  }
  set_per_sample(state, 256);
}

void BM_AdamStep(benchmark::State& state) {
  torch::set_num_threads(1);
  auto net = make_model(0);
  for (auto& p : net.parameters()) p.mutable_grad() = torch::randn_like(p);
  torch::optim::Adam opt(net.parameters(), torch::optim::AdamOptions(1e-3));
  for (auto _ : state) opt.step();
  set_per_sample(state, 256);
}

// Wall time throughout (per thread with threads:2), milliseconds per iteration.
void per_step(benchmark::internal::Benchmark* b) {
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_FusedTrainStep)->Apply(per_step)->Arg(256)->Threads(1)->Threads(2);
BENCHMARK(BM_FusedTrainStepWithAdamAndMask)->Apply(per_step)->Arg(256)->Threads(1)->Threads(2);
BENCHMARK(BM_TorchTrainStep)->Apply(per_step)->Arg(256)->Threads(1)->Threads(2);
BENCHMARK(BM_FusedTrainStepIsa)->Apply(per_step)->DenseRange(0, 2);
BENCHMARK(BM_FusedPredict)->Apply(per_step)->Arg(256);
BENCHMARK(BM_TorchPredict)->Apply(per_step)->Arg(256);
BENCHMARK(BM_FillDropoutScale)->Apply(per_step);
BENCHMARK(BM_AdamStep)->Apply(per_step);

}  // namespace

BENCHMARK_MAIN();
