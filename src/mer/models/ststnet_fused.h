#pragma once
// Fused, single-threaded CPU training and inference kernels for STSTNet.
//
// STSTNet is so small (1.7k parameters, 3x28x28 inputs) that LibTorch spends its time in
// memory passes between separate operators, not in arithmetic. STSTNetFusedTrainer computes
// the whole training step (forward, cross entropy, backward, batch-norm running statistics)
// of a bound STSTNetImpl in a few cache-resident passes over the batch, and leaves the
// parameter update to torch::optim. The engine runs one LOSO fold per core, each with its own
// model and trainer, so the kernels are deliberately single-threaded (no OpenMP, no torch ops
// with intra-op threads in the hot loop).
//
// The code uses AVX-512 or AVX2+FMA where the CPU has them (chosen at run time) and plain
// x86-64 otherwise; results agree with LibTorch autograd up to float rounding. (One visible
// consequence of rounding: where the two largest values of a max-pool window lie within float
// rounding of each other, which happens about once in a few 100k windows, the gradient may be
// routed to the other one, as it may between any two float32 implementations.)
#include <array>
#include <cstdint>
#include <memory>

#include "mer/models/ststnet.h"

namespace mer::models {

// Small, fast, deterministic RNG (xoshiro256**, seeded through splitmix64). Copyable; a copy
// continues the same stream. Not thread-safe: use one per thread.
class FastRng {
 public:
  explicit FastRng(uint64_t seed);
  // Next 64 uniformly distributed bits.
  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  // Uniform float in [0, 1) with 24 random bits.
  float uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> state_;
};

// Fills out[0..n) with torch's dropout scale mask: 0 with probability p, else 1/(1-p).
// p must be in [0, 1); p == 0 gives all ones. Takes exactly one rng.next() per call and expands
// it with splitmix64 (vectorised), 32 bits per value, so the probability is p rounded to a
// multiple of 2^-32. The result depends only on the rng state, p and n (the same on every CPU),
// and a shorter mask is a prefix of a longer one drawn from the same state.
void fill_dropout_scale(FastRng& rng, float p, float* out, int64_t n);

// Which instruction-set variant of the kernels a trainer runs. kAuto picks the best the CPU
// supports; naming one the CPU lacks throws mer::Error. All variants compute the same
// function; they differ only in float rounding (e.g. kGeneric does not use FMA).
enum class FusedIsa { kAuto, kAvx512, kAvx2, kGeneric };

// Single-threaded fused CPU training/inference of an STSTNetImpl (float32, CPU, contiguous
// parameters). Binds to the model by reference (the model must outlive the trainer) and reads
// its parameters at every call, so torch::optim updates are seen. Not thread-safe per
// instance; distinct instances on distinct models may run on distinct threads concurrently.
// The model's train()/eval() flag is neither read nor changed: train_step always behaves as
// training mode and predict() as eval mode.
class STSTNetFusedTrainer {
 public:
  explicit STSTNetFusedTrainer(STSTNetImpl& model, FusedIsa isa = FusedIsa::kAuto);
  ~STSTNetFusedTrainer();
  STSTNetFusedTrainer(STSTNetFusedTrainer&&) noexcept;
  STSTNetFusedTrainer& operator=(STSTNetFusedTrainer&&) noexcept;
  STSTNetFusedTrainer(const STSTNetFusedTrainer&) = delete;
  STSTNetFusedTrainer& operator=(const STSTNetFusedTrainer&) = delete;

  // One training step with the semantics of: model->train(); logits = forward with the given
  // dropout scale masks; loss = cross entropy (mean over the batch, or torch's weighted mean
  // sum_i w[y_i] nll_i / sum_i w[y_i] when class_weights != nullptr, length K); backward.
  //   inputs:        batch*3*S*S floats, contiguous NCHW (S = model input_size)
  //   labels:        batch values in [0, K) (K = model num_classes)
  //   dropout_scale: batch*16*P*P floats laid out [b][channel][i][j] (channels c1, c2, c3 in
  //                  order; P = model pooled_side()), each 0 or 1/(1-p); nullptr = no dropout
  // Overwrites every parameter's .grad() (allocating it if undefined), updates the batch-norm
  // running_mean/running_var (momentum from the module options, unbiased variance) and
  // increments num_batches_tracked. Parameters themselves are not modified. Returns the loss.
  // correct: when not null, receives how many samples' training-mode logits (the forward
  // above) have their maximum at the label (training accuracy, read off the logit gradient).
  float train_step(const float* inputs, const int64_t* labels, int64_t batch,
                   const float* dropout_scale, const float* class_weights = nullptr,
                   int64_t* correct = nullptr);

  // Eval-mode forward (running statistics, no dropout) of batch*3*S*S inputs: writes batch*K
  // logits, row-major [b][k].
  void predict(const float* inputs, int64_t batch, float* logits);

  // The kernel variant in use (never kAuto).
  FusedIsa isa() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mer::models
