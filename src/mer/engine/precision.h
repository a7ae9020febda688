#pragma once
// The arithmetic precision a run trains in (`mer loso --precision`):
//   fp32  plain float32 everywhere (the default);
//   tf32  float32 tensors, matrix products and convolutions on CUDA's TF32 tensor cores
//         (10-bit mantissa inputs, float32 accumulation): a process-wide CUDA setting;
//   bf16  automatic mixed precision in training steps: inside a model's forward pass,
//         convolutions and matrix products run in bfloat16 (torch's autocast lists), the rest
//         in float32; parameters, gradients, the loss and the optimiser stay float32, so no
//         loss scaling is needed.
// Checkpoints hold float32 weights whatever the precision, and every prediction (a fold's
// test subject, epoch selection, `mer evaluate`, `mer predict`) runs in float32, so a run's
// recorded predictions are what its checkpoints predict.
#include <string>

#include <torch/torch.h>

namespace mer::engine {

// Throws ConfigError unless `precision` is fp32, tf32 or bf16 and the device can use it.
void check_precision(const std::string& precision, const std::string& device);

// Applies a run's process-wide part (tf32: CUDA's TF32 switches; the others turn them off).
void apply_precision(const std::string& precision);

// Mixed precision for the forward passes inside its scope, on the current thread (autocast
// is thread-local): active for bf16, nothing otherwise. Restores the previous state.
class AutocastScope {
 public:
  AutocastScope(const std::string& precision, torch::Device device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

}  // namespace mer::engine
