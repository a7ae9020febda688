#include "mer/engine/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "mer/core/error.h"

namespace mer::engine {

namespace {

// LibTorch 2.4 replaced the per-device autocast functions by ones taking the device type
// (the old ones remain, deprecated, warning at run time).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(bool cuda) { return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU); }
void set_autocast_enabled(bool cuda, bool on) {
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on);
}
at::ScalarType autocast_dtype(bool cuda) { return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU); }
void set_autocast_dtype(bool cuda, at::ScalarType dtype) {
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, dtype);
}
#else
bool autocast_enabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void set_autocast_enabled(bool cuda, bool on) {
  cuda ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on);
}
at::ScalarType autocast_dtype(bool cuda) {
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_dtype(bool cuda, at::ScalarType dtype) {
  cuda ? at::autocast::set_autocast_gpu_dtype(dtype) : at::autocast::set_autocast_cpu_dtype(dtype);
}
#endif

}  // namespace

void check_precision(const std::string& precision, const std::string& device) {
  if (precision != "fp32" && precision != "tf32" && precision != "bf16") {
    throw ConfigError("--precision '" + precision + "': use fp32, tf32 or bf16");
  }
  if (precision == "tf32" && device != "cuda") {
    throw ConfigError("--precision tf32 is a setting of CUDA's tensor cores: use it with "
                      "--device cuda (bf16 runs on the CPU too)");
  }
}

void apply_precision(const std::string& precision) {
  auto& context = at::globalContext();
  context.setAllowTF32CuBLAS(precision == "tf32");
  context.setAllowTF32CuDNN(precision == "tf32");
}

AutocastScope::AutocastScope(const std::string& precision, torch::Device device)
    : active_(precision == "bf16"), cuda_(device.is_cuda()) {
  if (!active_) return;
  was_enabled_ = autocast_enabled(cuda_);
  previous_dtype_ = autocast_dtype(cuda_);
  set_autocast_enabled(cuda_, true);
  set_autocast_dtype(cuda_, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // As torch.autocast's exit: the cache of casted weights lives while any scope is open.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(cuda_, was_enabled_);
  set_autocast_dtype(cuda_, previous_dtype_);
}

}  // namespace mer::engine
