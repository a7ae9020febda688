#include "mer/models/ststnet_fused.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "mer/core/error.h"
#include "mer/models/ststnet_fused_kernels.h"

namespace mer::models {

// ---------------------------------------------------------------------------------------------
// Random numbers and dropout masks
// ---------------------------------------------------------------------------------------------

namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

inline uint64_t mix64(uint64_t z) {  // splitmix64's output function
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Dropout mask values 2i and 2i+1 come from the low and high halves of splitmix64 output i of
// the stream keyed by `key` (mix64(key + (i+1) * golden)): each value depends only on its
// index, so L outputs are computed side by side in vector registers, with results identical on
// every instruction set. A value is 0 when its 32 bits are below `threshold` (p * 2^32), else
// the bits of the scale, selected by masking rather than branching (a branch on random bits
// mispredicts half the time).
template <int L>
struct Lanes64;  // L uint64 lanes, and the same bits as 2L uint32 lanes
template <>
struct Lanes64<8> {
  typedef uint64_t U __attribute__((vector_size(64)));
  typedef uint32_t U32 __attribute__((vector_size(64)));
};
template <>
struct Lanes64<4> {
  typedef uint64_t U __attribute__((vector_size(32)));
  typedef uint32_t U32 __attribute__((vector_size(32)));
};
template <>
struct Lanes64<2> {
  typedef uint64_t U __attribute__((vector_size(16)));
  typedef uint32_t U32 __attribute__((vector_size(16)));
};

template <int L>
inline __attribute__((always_inline)) void fill_dropout_impl(uint64_t key, uint32_t threshold,
                                                             uint32_t scale_bits, float* out,
                                                             int64_t n) {
  typedef typename Lanes64<L>::U U;
  typedef typename Lanes64<L>::U32 U32;
  U counter;
  for (int l = 0; l < L; ++l) counter[l] = key + (l + 1) * kGolden;
  const U step = U{} + static_cast<uint64_t>(L) * kGolden;
  const U32 thr = U32{} + threshold, scale = U32{} + scale_bits;
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L, counter += step) {
    U z = counter;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const U32 bits = scale & (U32)((U32)z >= thr);
    std::memcpy(out + i, &bits, sizeof bits);
  }
  for (uint64_t k = static_cast<uint64_t>(i) / 2; i < n; ++k) {  // tail, scalar
    const uint64_t z = mix64(key + (k + 1) * kGolden);
    for (int h = 0; h < 2 && i < n; ++h, ++i) {
      const uint32_t half = static_cast<uint32_t>(z >> (32 * h));
      const uint32_t bits = scale_bits & (0u - static_cast<uint32_t>(half >= threshold));
      std::memcpy(out + i, &bits, sizeof bits);
    }
  }
}

using FillFn = void (*)(uint64_t, uint32_t, uint32_t, float*, int64_t);
__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2"))) void fill_avx512(
    uint64_t key, uint32_t threshold, uint32_t scale_bits, float* out, int64_t n) {
  fill_dropout_impl<8>(key, threshold, scale_bits, out, n);
}
__attribute__((target("avx2"))) void fill_avx2(uint64_t key, uint32_t threshold,
                                               uint32_t scale_bits, float* out, int64_t n) {
  fill_dropout_impl<4>(key, threshold, scale_bits, out, n);
}
void fill_generic(uint64_t key, uint32_t threshold, uint32_t scale_bits, float* out, int64_t n) {
  fill_dropout_impl<2>(key, threshold, scale_bits, out, n);
}


}  // namespace

FastRng::FastRng(uint64_t seed) {
  uint64_t s = seed;
  for (auto& word : state_) word = mix64(s += kGolden);  // splitmix64 seeding
}

void fill_dropout_scale(FastRng& rng, float p, float* out, int64_t n) {
  MER_CHECK(p >= 0.0f && p < 1.0f, "dropout probability must be in [0, 1)");
  static const FillFn fill =
      fused::cpu_has_avx512() ? fill_avx512 : (fused::cpu_has_avx2() ? fill_avx2 : fill_generic);
  // p < 1 (a float) gives at most 2^32 - 256: fits.
  const auto threshold = static_cast<uint32_t>(std::llround(static_cast<double>(p) * 0x1.0p32));
  const float scale = 1.0f / (1.0f - p);
  uint32_t scale_bits;
  std::memcpy(&scale_bits, &scale, sizeof scale_bits);
  fill(rng.next(), threshold, scale_bits, out, n);
}

// The kernels' argument structs and entry points (ststnet_fused_kernels.h).
using namespace fused;

// Named rather than anonymous: Impl, declared in the header, holds these types (an anonymous
// namespace's types in a class with external linkage draw -Wsubobject-linkage in unity builds).
namespace trainer_storage {

template <typename T>
class AlignedBuffer {
 public:
  T* resize(size_t n) {
    if (n > capacity_) {
      const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
      T* p = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (!p) throw std::bad_alloc();
      ptr_.reset(p);
      capacity_ = n;
    }
    return ptr_.get();
  }
  T* data() const { return ptr_.get(); }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> ptr_;
  size_t capacity_ = 0;
};

const float* float_data(const torch::Tensor& t, int64_t numel, const char* what) {
  MER_CHECK(t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat &&
                t.is_contiguous() && t.numel() == numel,
            std::string("ststnet fused: ") + what + " must be a contiguous float32 CPU tensor of " +
                std::to_string(numel) + " elements");
  return t.data_ptr<float>();
}

float* mutable_float_data(torch::Tensor& t, int64_t numel, const char* what) {
  return const_cast<float*>(float_data(t, numel, what));
}

// The parameter's gradient as a contiguous float buffer, allocated when missing or unusable.
float* grad_data(torch::Tensor& param) {
  torch::Tensor& grad = param.mutable_grad();
  if (!grad.defined() || !grad.is_contiguous() || grad.scalar_type() != torch::kFloat ||
      !grad.device().is_cpu() || grad.sizes() != param.sizes()) {
    grad = torch::zeros(param.sizes(), param.options().requires_grad(false));
  }
  return grad.data_ptr<float>();
}

}  // namespace trainer_storage

using namespace trainer_storage;

// ---------------------------------------------------------------------------------------------
// Trainer
// ---------------------------------------------------------------------------------------------

struct STSTNetFusedTrainer::Impl {
  STSTNetImpl* model = nullptr;
  FusedIsa isa = FusedIsa::kGeneric;
  Kernels kernels{};
  Geometry g;
  int k = 0;
  std::vector<int32_t> covered;  // see HeadArgs::covered

  // Parameters repacked per call (channel-minor).
  alignas(64) float wt[kTaps * kCh];
  alignas(64) float bias[kCh];
  alignas(64) float sign[kCh];
  alignas(64) float shift[kCh];
  alignas(64) float alpha[kCh];
  alignas(64) float beta[kCh];
  alignas(64) float mean[kCh];

  // Scratch, grown on demand.
  AlignedBuffer<float> xp, band, rwin, idx, features, dfeatures, logits, mask_t, dy, fc_wt, dfc_wt,
      active_dy;
  AlignedBuffer<int32_t> active_at, nonzero, at;
  AlignedBuffer<BatchAccum> accum;

  struct Stream {
    torch::nn::Conv2d* conv;
    torch::nn::BatchNorm2d* bn;
    int channels;  // conv output channels
    int first;     // first of them among the 16
  };
  std::array<Stream, 3> streams() {
    return {Stream{&model->c1, &model->bn1, 3, 0}, Stream{&model->c2, &model->bn2, 5, 3},
            Stream{&model->c3, &model->bn3, 8, 8}};
  }

  void prepare_scratch(int64_t batch) {
    const size_t pp = static_cast<size_t>(g.p) * g.p, qq = static_cast<size_t>(g.q) * g.q;
    // The zero border of the padded input is written here once; kernels fill only the interior.
    const size_t xp_size = 3 * static_cast<size_t>(g.plane) + kCh;  // slack: 4-lane patch loads
    std::memset(xp.resize(xp_size), 0, xp_size * sizeof(float));
    band.resize(3 * static_cast<size_t>(g.c) * kCh);
    rwin.resize(static_cast<size_t>(batch) * pp * kCh);
    idx.resize(static_cast<size_t>(batch) * pp * kCh);
    features.resize(qq * kCh);
    dfeatures.resize(qq * kCh);
    logits.resize(k);
    mask_t.resize(pp * kCh);
    dy.resize(4 * qq * kCh);
    active_dy.resize(4 * qq);
    active_at.resize(4 * qq);
    nonzero.resize(4 * qq * kCh);
    at.resize(4 * qq * kCh);
    fc_wt.resize(k * qq * kCh);
    dfc_wt.resize(k * qq * kCh);
    accum.resize(1);
  }

  // Repacks conv weights/bias, sign(gamma) and the fc weight (channel-minor) from the model.
  void load_params() {
    for (const Stream& st : streams()) {
      const float* w = float_data((*st.conv)->weight, st.channels * kTaps, "conv weight");
      const float* b = float_data((*st.conv)->bias, st.channels, "conv bias");
      const float* gamma = float_data((*st.bn)->weight, st.channels, "batch-norm weight");
      for (int o = 0; o < st.channels; ++o) {
        const int c = st.first + o;
        for (int t = 0; t < kTaps; ++t) wt[t * kCh + c] = w[o * kTaps + t];
        bias[c] = b[o];
        sign[c] = gamma[o] > 0.0f ? 1.0f : (gamma[o] < 0.0f ? -1.0f : 0.0f);
      }
    }
    const int qq = g.q * g.q;
    const float* w =
        float_data(model->fc->weight, static_cast<int64_t>(k) * g.features(), "fc weight");
    float* out = fc_wt.data();
    for (int kk = 0; kk < k; ++kk)
      for (int c = 0; c < kCh; ++c)
        for (int s = 0; s < qq; ++s) out[(kk * qq + s) * kCh + c] = w[(kk * kCh + c) * qq + s];
  }

  HeadArgs head_args() {
    HeadArgs h;
    h.g = &g;
    h.k = k;
    h.alpha = alpha;
    h.beta = beta;
    h.fc_wt = fc_wt.data();
    h.fc_b = float_data(model->fc->bias, k, "fc bias");
    h.covered = covered.data();
    h.rwin = nullptr;
    h.mask = nullptr;
    h.mask_t = mask_t.data();
    h.features = features.data();
    h.logits = logits.data();
    return h;
  }

  Pass1Args pass1_args(const float* x, float* rwin_out, float* idx_out) {
    Pass1Args a;
    a.g = &g;
    a.x = x;
    a.xp = xp.data();
    a.band = band.data();
    a.wt = wt;
    a.bias = bias;
    a.sign = sign;
    a.shift = shift;
    a.rwin = rwin_out;
    a.idx = idx_out;
    a.acc = accum.data();
    return a;
  }
};

STSTNetFusedTrainer::STSTNetFusedTrainer(STSTNetImpl& model, FusedIsa isa)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.model = &model;
  const int64_t s = model.options().input_size();
  // Up to 4000: patch positions travel as floats, exact below 2^24 = (S+4)^2 at S ~ 4092.
  MER_CHECK(s >= 8 && s <= 4000, "ststnet fused: input_size must be in [8, 4000]");
  m.g.s = static_cast<int>(s);
  m.g.c = m.g.s + 2;
  m.g.w4 = m.g.s + 4;
  m.g.plane = m.g.w4 * m.g.w4;
  m.g.p = static_cast<int>(model.pooled_side());
  m.g.q = static_cast<int>(model.feature_side());
  MER_CHECK(m.g.p == (m.g.c - 1) / 3 + 1 && m.g.q == m.g.p / 2,
            "ststnet fused: unexpected pooled/feature side");
  m.k = static_cast<int>(model.num_classes());
  for (int qi = 0; qi < m.g.q; ++qi)
    for (int qj = 0; qj < m.g.q; ++qj)
      for (int j = 0; j < 4; ++j) m.covered.push_back((2 * qi + j / 2) * m.g.p + 2 * qj + j % 2);

  if (isa == FusedIsa::kAuto) {
    isa = cpu_has_avx512() ? FusedIsa::kAvx512
                           : (cpu_has_avx2() ? FusedIsa::kAvx2 : FusedIsa::kGeneric);
  }
  m.kernels = kernels_for(isa);
  m.isa = isa;
}

STSTNetFusedTrainer::~STSTNetFusedTrainer() = default;
STSTNetFusedTrainer::STSTNetFusedTrainer(STSTNetFusedTrainer&&) noexcept = default;
STSTNetFusedTrainer& STSTNetFusedTrainer::operator=(STSTNetFusedTrainer&&) noexcept = default;

FusedIsa STSTNetFusedTrainer::isa() const { return impl_->isa; }

float STSTNetFusedTrainer::train_step(const float* inputs, const int64_t* labels, int64_t batch,
                                      const float* dropout_scale, const float* class_weights,
                                      int64_t* correct) {
  Impl& m = *impl_;
  const Geometry& g = m.g;
  MER_CHECK(batch >= 1, "ststnet fused: batch must be >= 1");
  MER_CHECK(inputs != nullptr && labels != nullptr, "ststnet fused: null inputs or labels");
  for (int64_t b = 0; b < batch; ++b)
    MER_CHECK(labels[b] >= 0 && labels[b] < m.k, "ststnet fused: label out of range");
  m.prepare_scratch(batch);
  m.load_params();
  const int64_t in_size = 3LL * g.s * g.s;
  const int64_t pp = static_cast<int64_t>(g.p) * g.p;
  const int qq = g.q * g.q;

  // Shift for the centred sums: mean of r over the first sample (a throwaway pass 1).
  BatchAccum& acc = *m.accum.data();
  std::memset(&acc, 0, sizeof acc);
  std::fill(m.shift, m.shift + kCh, 0.0f);
  m.kernels.pass1_train(m.pass1_args(inputs, m.rwin.data(), m.idx.data()));
  for (int c = 0; c < kCh; ++c) m.shift[c] = static_cast<float>(acc.s1[c] / (g.c * g.c));

  // Pass 1 over the batch.
  std::memset(&acc, 0, sizeof acc);
  for (int64_t b = 0; b < batch; ++b) {
    m.kernels.pass1_train(m.pass1_args(inputs + b * in_size, m.rwin.data() + b * pp * kCh,
                                       m.idx.data() + b * pp * kCh));
  }

  // Batch-norm statistics and running-stat update (torch: momentum on the unbiased variance,
  // cumulative average when momentum is unset).
  const double n = static_cast<double>(batch) * g.c * g.c;
  double mean[kCh], invstd[kCh];
  for (const Impl::Stream& st : m.streams()) {
    auto& bn = *st.bn;
    const double eps = bn->options.eps();
    const float* gamma = float_data(bn->weight, st.channels, "batch-norm weight");
    const float* beta = float_data(bn->bias, st.channels, "batch-norm bias");
    float* running_mean = mutable_float_data(bn->running_mean, st.channels, "running_mean");
    float* running_var = mutable_float_data(bn->running_var, st.channels, "running_var");
    MER_CHECK(bn->num_batches_tracked.defined() &&
                  bn->num_batches_tracked.scalar_type() == torch::kLong &&
                  bn->num_batches_tracked.numel() == 1,
              "ststnet fused: num_batches_tracked must be an int64 scalar tensor");
    int64_t& tracked = *bn->num_batches_tracked.data_ptr<int64_t>();
    tracked += 1;
    const double momentum = bn->options.momentum().has_value() ? *bn->options.momentum()
                                                               : 1.0 / static_cast<double>(tracked);
    for (int o = 0; o < st.channels; ++o) {
      const int c = st.first + o;
      const double d = acc.s1[c] / n;
      const double var = std::max(0.0, acc.s2[c] / n - d * d);
      mean[c] = m.shift[c] + d;
      invstd[c] = 1.0 / std::sqrt(var + eps);
      const double unbiased = n > 1 ? var * n / (n - 1) : var;
      running_mean[o] = static_cast<float>((1 - momentum) * running_mean[o] + momentum * mean[c]);
      running_var[o] = static_cast<float>((1 - momentum) * running_var[o] + momentum * unbiased);
      const float al = static_cast<float>(gamma[o] * invstd[c]);
      m.alpha[c] = al;
      m.beta[c] = beta[o] - static_cast<float>(mean[c]) * al;
      m.mean[c] = static_cast<float>(mean[c]);
    }
  }

  // Pass 2: head forward/backward per sample.
  double weight_sum = static_cast<double>(batch);
  if (class_weights) {
    weight_sum = 0.0;
    for (int64_t b = 0; b < batch; ++b) weight_sum += class_weights[labels[b]];
  }
  const size_t nfc = static_cast<size_t>(m.k) * qq * kCh;
  std::vector<double> dfc_wt(nfc, 0.0), dfc_b(m.k, 0.0);
  alignas(64) double sdy[kCh] = {}, tp[kCh] = {};
  std::vector<double> g_sparse(kCh * (kTaps + 1), 0.0);
  std::fill(m.dfc_wt.data(), m.dfc_wt.data() + nfc, 0.0f);
  HeadArgs h = m.head_args();
  HeadBackArgs hb;
  hb.xp = m.xp.data();
  hb.mean = m.mean;
  hb.dfeatures = m.dfeatures.data();
  hb.dy = m.dy.data();
  hb.active_dy = m.active_dy.data();
  hb.active_at = m.active_at.data();
  hb.nonzero = m.nonzero.data();
  hb.at = m.at.data();
  hb.dfc_wt = m.dfc_wt.data();
  hb.dfc_b = dfc_b.data();
  hb.sdy = sdy;
  hb.tp = tp;
  hb.g_sparse = g_sparse.data();
  double loss = 0.0;
  for (int64_t b = 0; b < batch; ++b) {
    hb.x = inputs + b * in_size;
    h.rwin = m.rwin.data() + b * pp * kCh;
    h.mask = dropout_scale ? dropout_scale + b * kCh * pp : nullptr;
    hb.idx = m.idx.data() + b * pp * kCh;
    hb.label = labels[b];
    hb.loss_weight = class_weights ? class_weights[labels[b]] : 1.0f;
    hb.grad_scale = static_cast<float>(hb.loss_weight / weight_sum);
    loss += m.kernels.head_train(h, hb);
    if (correct && hb.grad_scale > 0.0f) {
      // head_train leaves (softmax - onehot(label)) * grad_scale in the logits buffer; the
      // softmax, and so the predicted class, follows without another forward pass.
      int64_t best = 0;
      float best_p = -1.0f;
      for (int64_t k = 0; k < m.k; ++k) {
        const float p = h.logits[k] / hb.grad_scale + (k == hb.label ? 1.0f : 0.0f);
        if (p > best_p) {
          best_p = p;
          best = k;
        }
      }
      *correct += best == hb.label;
    }
    // The fc weight gradient is summed in float over at most 16 samples, then in double.
    if ((b + 1) % 16 == 0 || b + 1 == batch) {
      float* f = m.dfc_wt.data();
      for (size_t i = 0; i < nfc; ++i) {
        dfc_wt[i] += f[i];
        f[i] = 0.0f;
      }
    }
  }

  // Combine into parameter gradients.
  for (const Impl::Stream& st : m.streams()) {
    auto& conv = *st.conv;
    auto& bn = *st.bn;
    const float* gamma = float_data(bn->weight, st.channels, "batch-norm weight");
    float* dw = grad_data(conv->weight);
    float* db = grad_data(conv->bias);
    float* dgamma = grad_data(bn->weight);
    float* dbeta = grad_data(bn->bias);
    for (int o = 0; o < st.channels; ++o) {
      const int c = st.first + o;
      const double t = invstd[c] * tp[c];  // sum dy * xhat
      const double gi = gamma[o] * invstd[c];
      const double shift_minus_mean = m.shift[c] - mean[c];
      auto grad = [&](double gs, double mm1, double mm2) {
        return static_cast<float>(
            gi * (gs - (sdy[c] * mm1 + t * invstd[c] * (mm2 + shift_minus_mean * mm1)) / n));
      };
      for (int tap = 0; tap < kTaps; ++tap)
        dw[o * kTaps + tap] =
            grad(g_sparse[c * (kTaps + 1) + tap], acc.m1[tap * kCh + c], acc.m2[tap * kCh + c]);
      db[o] = grad(g_sparse[c * (kTaps + 1) + kTaps], acc.count[c], acc.sum_rs[c]);
      dgamma[o] = static_cast<float>(t);
      dbeta[o] = static_cast<float>(sdy[c]);
    }
  }
  float* dfw = grad_data(m.model->fc->weight);
  float* dfb = grad_data(m.model->fc->bias);
  for (int kk = 0; kk < m.k; ++kk) {
    for (int c = 0; c < kCh; ++c)
      for (int s = 0; s < qq; ++s)
        dfw[(kk * kCh + c) * qq + s] = static_cast<float>(dfc_wt[(kk * qq + s) * kCh + c]);
    dfb[kk] = static_cast<float>(dfc_b[kk]);
  }
  return static_cast<float>(loss / weight_sum);
}

void STSTNetFusedTrainer::predict(const float* inputs, int64_t batch, float* logits) {
  Impl& m = *impl_;
  const Geometry& g = m.g;
  MER_CHECK(batch >= 0, "ststnet fused: batch must be >= 0");
  if (batch == 0) return;
  MER_CHECK(inputs != nullptr && logits != nullptr, "ststnet fused: null inputs or logits");
  m.prepare_scratch(1);
  m.load_params();
  for (const Impl::Stream& st : m.streams()) {
    auto& bn = *st.bn;
    const double eps = bn->options.eps();
    const float* gamma = float_data(bn->weight, st.channels, "batch-norm weight");
    const float* beta = float_data(bn->bias, st.channels, "batch-norm bias");
    const float* running_mean = float_data(bn->running_mean, st.channels, "running_mean");
    const float* running_var = float_data(bn->running_var, st.channels, "running_var");
    for (int o = 0; o < st.channels; ++o) {
      const float al = static_cast<float>(gamma[o] / std::sqrt(running_var[o] + eps));
      m.alpha[st.first + o] = al;
      m.beta[st.first + o] = beta[o] - running_mean[o] * al;
    }
  }
  HeadArgs h = m.head_args();
  h.rwin = m.rwin.data();
  const int64_t in_size = 3LL * g.s * g.s;
  for (int64_t b = 0; b < batch; ++b) {
    m.kernels.pass1_eval(m.pass1_args(inputs + b * in_size, m.rwin.data(), m.idx.data()));
    h.logits = logits + b * m.k;
    m.kernels.head_eval(h);
  }
}

}  // namespace mer::models
