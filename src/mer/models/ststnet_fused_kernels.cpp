#include "mer/models/ststnet_fused_kernels.h"

#include <algorithm>
#include <cstring>

#include "mer/core/error.h"

// The 16-lane vector helpers below are always inlined into target-specific entry points, so the
// "vector argument/return changes the ABI" note never applies to a real call.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace mer::models::fused {

namespace {

#define MER_ALWAYS_INLINE inline __attribute__((always_inline))

// ---------------------------------------------------------------------------------------------
// 16-lane vectors (one lane per conv channel) built from kCh/W native vectors of W floats:
// W = 16 on AVX-512, 8 on AVX2, 4 on SSE2. A plain 64-byte GCC vector type would do on every
// target, but GCC lowers vectors wider than the target's registers element by element through
// the stack (70x slower on AVX2), so each variant works in its native width.
// ---------------------------------------------------------------------------------------------

template <int W>
struct Native;
template <>
struct Native<16> {
  typedef float F __attribute__((vector_size(64)));
  typedef int32_t I __attribute__((vector_size(64)));
};
template <>
struct Native<8> {
  typedef float F __attribute__((vector_size(32)));
  typedef int32_t I __attribute__((vector_size(32)));
};
template <>
struct Native<4> {
  typedef float F __attribute__((vector_size(16)));
  typedef int32_t I __attribute__((vector_size(16)));
};

template <int W>
struct Vf {  // 16 floats
  static constexpr int kParts = kCh / W;
  typename Native<W>::F part[kParts];
};
template <int W>
struct Vi {  // 16 int32 lanes: comparison results (all ones / zero)
  typename Native<W>::I part[kCh / W];
};

#define MER_FOR_PARTS _Pragma("GCC unroll 4") for (int i = 0; i < kCh / W; ++i)

// Loads and stores go part by part: a whole-struct memcpy is expanded into narrower moves,
// and reading those back as full vectors stalls on store forwarding.
template <int W>
MER_ALWAYS_INLINE Vf<W> vload(const float* p) {
  Vf<W> v;
  MER_FOR_PARTS std::memcpy(&v.part[i], p + i * W, sizeof v.part[i]);
  return v;
}
template <int W>
MER_ALWAYS_INLINE void vstore(float* p, const Vf<W>& v) {
  MER_FOR_PARTS std::memcpy(p + i * W, &v.part[i], sizeof v.part[i]);
}
template <int W>
MER_ALWAYS_INLINE Vf<W> vsplat(float x) {
  Vf<W> v;
  MER_FOR_PARTS v.part[i] = typename Native<W>::F{} + x;
  return v;
}
template <int W>
MER_ALWAYS_INLINE Vf<W> operator+(const Vf<W>& a, const Vf<W>& b) {
  Vf<W> r;
  MER_FOR_PARTS r.part[i] = a.part[i] + b.part[i];
  return r;
}
template <int W>
MER_ALWAYS_INLINE Vf<W> operator+(const Vf<W>& a, float b) {
  Vf<W> r;
  MER_FOR_PARTS r.part[i] = a.part[i] + b;
  return r;
}
template <int W>
MER_ALWAYS_INLINE Vf<W> operator-(const Vf<W>& a, const Vf<W>& b) {
  Vf<W> r;
  MER_FOR_PARTS r.part[i] = a.part[i] - b.part[i];
  return r;
}
template <int W>
MER_ALWAYS_INLINE Vf<W> operator*(const Vf<W>& a, const Vf<W>& b) {
  Vf<W> r;
  MER_FOR_PARTS r.part[i] = a.part[i] * b.part[i];
  return r;
}
template <int W>
MER_ALWAYS_INLINE Vf<W> operator*(const Vf<W>& a, float b) {
  Vf<W> r;
  MER_FOR_PARTS r.part[i] = a.part[i] * b;
  return r;
}
template <int W>
MER_ALWAYS_INLINE Vf<W>& operator+=(Vf<W>& a, const Vf<W>& b) {
  MER_FOR_PARTS a.part[i] += b.part[i];
  return a;
}
template <int W>
MER_ALWAYS_INLINE Vi<W> operator>(const Vf<W>& a, const Vf<W>& b) {
  Vi<W> r;
  MER_FOR_PARTS r.part[i] = a.part[i] > b.part[i];
  return r;
}
template <int W>
MER_ALWAYS_INLINE Vf<W> select(const Vi<W>& m, const Vf<W>& a, const Vf<W>& b) {
  Vf<W> r;
  MER_FOR_PARTS r.part[i] = m.part[i] ? a.part[i] : b.part[i];
  return r;
}
template <int W>
MER_ALWAYS_INLINE float hsum(const Vf<W>& v) {
  float lanes[kCh];
  vstore(lanes, v);
  float s = 0.0f;
  for (int l = 0; l < kCh; ++l) s += lanes[l];
  return s;
}
// dst[0..W) += v, widened to double in two native-width halves (GCC leaves the obvious scalar
// loop unvectorised: it extracts and converts every lane separately).
template <int H>
struct Widen;  // H floats and H doubles
template <>
struct Widen<8> {
  typedef float F __attribute__((vector_size(32)));
  typedef double D __attribute__((vector_size(64)));
};
template <>
struct Widen<4> {
  typedef float F __attribute__((vector_size(16)));
  typedef double D __attribute__((vector_size(32)));
};
template <>
struct Widen<2> {
  typedef float F __attribute__((vector_size(8)));
  typedef double D __attribute__((vector_size(16)));
};
template <int W>
MER_ALWAYS_INLINE void add_to(double* dst, const typename Native<W>::F& v) {
  constexpr int H = W / 2;
  typedef typename Widen<H>::F Fh;
  typedef typename Widen<H>::D Dh;
  Fh lo, hi;
  std::memcpy(&lo, &v, sizeof lo);
  std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
  Dh d0, d1;
  std::memcpy(&d0, dst, sizeof d0);
  std::memcpy(&d1, dst + H, sizeof d1);
  d0 += __builtin_convertvector(lo, Dh);
  d1 += __builtin_convertvector(hi, Dh);
  std::memcpy(dst, &d0, sizeof d0);
  std::memcpy(dst + H, &d1, sizeof d1);
}
// dst[0..16) += v, widened to double.
template <int W>
MER_ALWAYS_INLINE void add_to(double* dst, const Vf<W>& v) {
  MER_FOR_PARTS add_to<W>(dst + i * W, v.part[i]);
}

#undef MER_FOR_PARTS

// Copies the sample into the interior of the zero-padded plane buffer xp, whose 2-wide zero
// border the caller has written once (it is never overwritten). Inline vector copies: a libc
// memcpy per 28-float row costs more than the copy itself.
template <int W>
MER_ALWAYS_INLINE void pad_input(const Geometry& g, const float* x, float* xp) {
  for (int ci = 0; ci < 3; ++ci) {
    for (int y = 0; y < g.s; ++y) {
      const float* src = x + (ci * g.s + y) * g.s;
      float* dst = xp + ci * g.plane + (y + 2) * g.w4 + 2;
      if (g.s < kCh) {
        for (int i = 0; i < g.s; ++i) dst[i] = src[i];
        continue;
      }
      for (int i = 0; i + kCh <= g.s; i += kCh) vstore(dst + i, vload<W>(src + i));
      vstore(dst + g.s - kCh, vload<W>(src + g.s - kCh));  // overlapping tail
    }
  }
}

// Conv + ReLU for NB consecutive output positions of one row. xp_at points at the padded input
// element (ci=0, y, x); the NB accumulators stay in registers, one weight vector is loaded per
// tap and the input values are broadcast.
template <int W, int NB>
MER_ALWAYS_INLINE void conv_block(const float* xp_at, int w4, int plane, const float* wt,
                                  const Vf<W>& bias, float* out) {
  Vf<W> acc[NB];
#pragma GCC unroll 16
  for (int j = 0; j < NB; ++j) acc[j] = bias;
#pragma GCC unroll 3
  for (int ci = 0; ci < 3; ++ci) {
#pragma GCC unroll 3
    for (int ky = 0; ky < 3; ++ky) {
      const float* row = xp_at + ci * plane + ky * w4;
#pragma GCC unroll 3
      for (int kx = 0; kx < 3; ++kx) {
        const Vf<W> w = vload<W>(wt + ((ci * 3 + ky) * 3 + kx) * kCh);
#pragma GCC unroll 16
        for (int j = 0; j < NB; ++j) acc[j] += w * row[j + kx];
      }
    }
  }
  const Vf<W> zero = vsplat<W>(0.0f);
#pragma GCC unroll 16
  for (int j = 0; j < NB; ++j) vstore(out + j * kCh, select(acc[j] > zero, acc[j], zero));
}

template <int W, int NB>
MER_ALWAYS_INLINE void conv_row(const Geometry& g, const float* xp, int y, const float* wt,
                                const Vf<W>& bias, float* out) {
  const float* base = xp + y * g.w4;
  int x = 0;
  for (; x + NB <= g.c; x += NB)
    conv_block<W, NB>(base + x, g.w4, g.plane, wt, bias, out + x * kCh);
  for (; x < g.c; ++x) conv_block<W, 1>(base + x, g.w4, g.plane, wt, bias, out + x * kCh);
}

// Batch-norm sums and the dense gradient moments M1, M2 over rows [r0, r1) held in band.
// TG taps (a divisor of 27) are accumulated per sweep over the band, sized to the register file.
template <int W, int TG>
MER_ALWAYS_INLINE void accumulate_band(const Geometry& g, const float* xp, const float* band,
                                       int r0, int r1, const Vf<W>& shift, BatchAccum* a) {
  const Vf<W> zero = vsplat<W>(0.0f), one = vsplat<W>(1.0f);
  for (int y = r0; y < r1; ++y) {
    const float* rrow = band + (y - r0) * g.c * kCh;
    Vf<W> s1 = zero, s2 = zero, count = zero, sum_rs = zero;
    for (int x = 0; x < g.c; ++x) {
      const Vf<W> r = vload<W>(rrow + x * kCh);
      const Vf<W> d = r - shift;
      const Vi<W> pos = r > zero;
      s1 += d;
      s2 += d * d;
      count += select(pos, one, zero);
      sum_rs += select(pos, d, zero);
    }
    add_to(a->s1, s1);
    add_to(a->s2, s2);
    add_to(a->count, count);
    add_to(a->sum_rs, sum_rs);
  }
  // The moments run over one native vector of channels at a time, so that 2*TG accumulators
  // plus the per-position values fit the register file also where W < 16.
  typedef typename Native<W>::F F;
  const F fzero = {}, fone = fzero + 1.0f;
  for (int part = 0; part < kCh / W; ++part) {
    const F sh = shift.part[part];
    for (int t0 = 0; t0 < kTaps; t0 += TG) {
      F m1[TG], m2[TG];
      int offset[TG];
#pragma GCC unroll 27
      for (int k = 0; k < TG; ++k) {
        const int t = t0 + k;
        m1[k] = fzero;
        m2[k] = fzero;
        offset[k] = (t / 9) * g.plane + (t / 3 % 3) * g.w4 + t % 3;
      }
      for (int y = r0; y < r1; ++y) {
        const float* rrow = band + (y - r0) * g.c * kCh + part * W;
        const float* xrow = xp + y * g.w4;
        for (int x = 0; x < g.c; ++x) {
          F r;
          std::memcpy(&r, rrow + x * kCh, sizeof r);
          const auto pos = r > fzero;
          const F d = pos ? r - sh : fzero;
          const F pos01 = pos ? fone : fzero;
#pragma GCC unroll 27
          for (int k = 0; k < TG; ++k) {
            const float xv = xrow[x + offset[k]];
            m2[k] += d * xv;
            // AVX-512: a merge-masked add, which runs beside the FMAs on the add pipes.
            // Narrower targets have no masked add; an FMA with the 0/1 mask is one op.
            if constexpr (W == 16) {
              m1[k] = pos ? m1[k] + xv : m1[k];
            } else {
              m1[k] += pos01 * xv;
            }
          }
        }
      }
#pragma GCC unroll 27
      for (int k = 0; k < TG; ++k) {
        add_to<W>(a->m1 + (t0 + k) * kCh + part * W, m1[k]);
        add_to<W>(a->m2 + (t0 + k) * kCh + part * W, m2[k]);
      }
    }
  }
}

// Winners of one row of pooling windows (rows [r0, r1) of the band): first argmax of sign * r
// in row-major scan order, lane-wise for the 16 channels.
template <int W>
MER_ALWAYS_INLINE void pool_row(const Geometry& g, const float* band, int r0, int r1,
                                const Vf<W>& sign, float* rwin, float* idx) {
  for (int j = 0; j < g.p; ++j) {
    const int c0 = std::max(0, 3 * j - 1), c1 = std::min(g.c, 3 * j + 2);
    Vf<W> best_r = vload<W>(band + c0 * kCh);
    Vf<W> best_s = sign * best_r;
    // Positions travel as floats (exact below 2^24): GCC 12 assembles int32 splats in these
    // structs lane by lane, but float splats are single broadcasts.
    Vf<W> best_i = vsplat<W>(static_cast<float>(r0 * g.w4 + c0));
    for (int y = r0; y < r1; ++y) {
      for (int x = (y == r0 ? c0 + 1 : c0); x < c1; ++x) {
        const Vf<W> r = vload<W>(band + ((y - r0) * g.c + x) * kCh);
        const Vf<W> s = sign * r;
        const Vi<W> better = s > best_s;
        best_s = select(better, s, best_s);
        best_r = select(better, r, best_r);
        best_i = select(better, vsplat<W>(static_cast<float>(y * g.w4 + x)), best_i);
      }
    }
    vstore(rwin + j * kCh, best_r);
    vstore(idx + j * kCh, best_i);
  }
}

template <int W, bool kTrain, int NB, int TG>
MER_ALWAYS_INLINE void pass1_impl(const Pass1Args& a) {
  const Geometry& g = *a.g;
  pad_input<W>(g, a.x, a.xp);
  const Vf<W> bias = vload<W>(a.bias), sign = vload<W>(a.sign);
  const Vf<W> shift = kTrain ? vload<W>(a.shift) : vsplat<W>(0.0f);
  // Band i < P holds the rows of pooling-window row i (3i-1 .. 3i+1, clipped); band P holds
  // the rows after the last window (no pooling, but they count for batch norm and gradients).
  for (int i = 0; i <= g.p; ++i) {
    int r0 = std::max(0, 3 * i - 1), r1 = std::min(g.c, 3 * i + 2);
    if (i == g.p) {
      if (!kTrain) break;
      r0 = 3 * g.p - 1;
      r1 = g.c;
      if (r0 >= r1) break;
    }
    for (int y = r0; y < r1; ++y)
      conv_row<W, NB>(g, a.xp, y, a.wt, bias, a.band + (y - r0) * g.c * kCh);
    if (kTrain) accumulate_band<W, TG>(g, a.xp, a.band, r0, r1, shift, a.acc);
    if (i < g.p)
      pool_row<W>(g, a.band, r0, r1, sign, a.rwin + i * g.p * kCh, a.idx + i * g.p * kCh);
  }
}


// ---------------------------------------------------------------------------------------------
// Head: pooled features -> dropout -> avg-pool -> fc -> cross entropy, and its backward to the
// pooling winners. Channel-minor like pass 1; the few per-sample scalars (logits) are cheap.
// ---------------------------------------------------------------------------------------------

template <int W>
MER_ALWAYS_INLINE void head_forward_impl(const HeadArgs& h) {
  const Geometry& g = *h.g;
  const int qq = g.q * g.q, pp = g.p * g.p;
  if (h.mask) {
    for (int c = 0; c < kCh; ++c)
      for (int w = 0; w < pp; ++w) h.mask_t[w * kCh + c] = h.mask[c * pp + w];
  }
  const Vf<W> alpha = vload<W>(h.alpha), beta = vload<W>(h.beta);
  for (int s = 0; s < qq; ++s) {
    Vf<W> d[4];
    for (int j = 0; j < 4; ++j) {
      const int w = h.covered[4 * s + j];
      const Vf<W> y = alpha * vload<W>(h.rwin + w * kCh) + beta;
      d[j] = h.mask ? y * vload<W>(h.mask_t + w * kCh) : y;
    }
    // Summation order of torch's avg_pool2d; x * 0.25 == x / 4 exactly.
    vstore(h.features + s * kCh, (((d[0] + d[1]) + d[2]) + d[3]) * 0.25f);
  }
  for (int k = 0; k < h.k; ++k) {
    const float* w = h.fc_wt + k * qq * kCh;
    Vf<W> a0 = vsplat<W>(0.0f), a1 = a0;
    int s = 0;
    for (; s + 2 <= qq; s += 2) {
      a0 += vload<W>(w + s * kCh) * vload<W>(h.features + s * kCh);
      a1 += vload<W>(w + (s + 1) * kCh) * vload<W>(h.features + (s + 1) * kCh);
    }
    if (s < qq) a0 += vload<W>(w + s * kCh) * vload<W>(h.features + s * kCh);
    h.logits[k] = hsum(a0 + a1) + h.fc_b[k];
  }
}

// Cross entropy and backward of one sample after head_forward_impl; returns w[y] * nll.
template <int W>
MER_ALWAYS_INLINE float head_backward_impl(const HeadArgs& h, const HeadBackArgs& b) {
  const Geometry& g = *h.g;
  const int qq = g.q * g.q, nw = 4 * qq;
  float* dl = h.logits;  // logits are overwritten by their gradient
  float mx = dl[0];
  for (int k = 1; k < h.k; ++k) mx = std::max(mx, dl[k]);
  float se = 0.0f;
  for (int k = 0; k < h.k; ++k) se += std::exp(dl[k] - mx);
  const float lse = mx + std::log(se);
  const float nll = lse - dl[b.label];
  for (int k = 0; k < h.k; ++k) {
    dl[k] = (std::exp(dl[k] - lse) - (k == b.label ? 1.0f : 0.0f)) * b.grad_scale;
    b.dfc_b[k] += dl[k];
  }

  // fc backward; avg-pool backward folded in as the factor 1/4.
  for (int s = 0; s < qq; ++s) {
    Vf<W> df = vsplat<W>(0.0f);
    for (int k = 0; k < h.k; ++k) df += vload<W>(h.fc_wt + (k * qq + s) * kCh) * dl[k];
    vstore(b.dfeatures + s * kCh, df * 0.25f);
  }
  for (int k = 0; k < h.k; ++k) {
    float* dw = b.dfc_wt + k * qq * kCh;
    for (int s = 0; s < qq; ++s)
      vstore(dw + s * kCh, vload<W>(dw + s * kCh) + vload<W>(h.features + s * kCh) * dl[k]);
  }

  // Dropout and max-pool backward: dy lands on each window's winner.
  // Per window: dy at the winner (0 where r = 0: [z>0] of the ReLU backward), whether it is
  // non-zero (as 0 / -1), and the winner's patch offset as int32.
  const Vf<W> zero = vsplat<W>(0.0f), mean = vload<W>(b.mean);
  Vf<W> sdy = zero, tp = zero;
  for (int j = 0; j < nw; ++j) {
    const int w = h.covered[j];
    const Vf<W> df = vload<W>(b.dfeatures + (j / 4) * kCh);
    const Vf<W> dy = h.mask ? df * vload<W>(h.mask_t + w * kCh) : df;
    const Vf<W> r = vload<W>(h.rwin + w * kCh);
    sdy += dy;
    tp += dy * (r - mean);
    const Vf<W> dy_pos = select(r > zero, dy, zero);
    vstore(b.dy + j * kCh, dy_pos);
    const Vf<W> at = vload<W>(b.idx + w * kCh);
    for (int i = 0; i < kCh / W; ++i) {
      const typename Native<W>::I nz = dy_pos.part[i] != zero.part[i];
      const typename Native<W>::I at_i = __builtin_convertvector(at.part[i], typename Native<W>::I);
      std::memcpy(b.nonzero + j * kCh + i * W, &nz, sizeof nz);
      std::memcpy(b.at + j * kCh + i * W, &at_i, sizeof at_i);
    }
  }
  add_to(b.sdy, sdy);
  add_to(b.tp, tp);

  // Sparse moment G = sum_winners [r>0] dy x_patch, per channel over the windows with a
  // non-zero gradient (about half are dropped; branch-free compaction, since a data-dependent
  // branch per window and channel mispredicts constantly). Each 3x3 patch row is one 4-lane
  // load; the 4th lane is ignored.
  pad_input<W>(g, b.x, b.xp);
  typedef float V4 __attribute__((vector_size(16)));
  for (int c = 0; c < kCh; ++c) {
    int n = 0;
    for (int j = 0; j < nw; ++j) {
      b.active_dy[n] = b.dy[j * kCh + c];
      b.active_at[n] = b.at[j * kCh + c];
      n -= b.nonzero[j * kCh + c];
    }
    V4 acc[9] = {};
    float gb = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float dy = b.active_dy[i];
      const float* patch = b.xp + b.active_at[i];
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) {
        V4 x;
        std::memcpy(&x, patch + (t / 3) * g.plane + (t % 3) * g.w4, sizeof x);
        acc[t] += dy * x;
      }
      gb += dy;
    }
    double* gc = b.g_sparse + c * (kTaps + 1);
    for (int t = 0; t < 9; ++t)
      for (int kx = 0; kx < 3; ++kx) gc[t * 3 + kx] += acc[t][kx];
    gc[kTaps] += gb;
  }
  return b.loss_weight * nll;
}

#define MER_KERNEL_VARIANT(NAME, TARGET, W, NB, TG)                                      \
  TARGET void NAME##_pass1_train(const Pass1Args& a) { pass1_impl<W, true, NB, TG>(a); } \
  TARGET void NAME##_pass1_eval(const Pass1Args& a) { pass1_impl<W, false, NB, TG>(a); } \
  TARGET float NAME##_head_train(const HeadArgs& h, const HeadBackArgs& b) {             \
    head_forward_impl<W>(h);                                                             \
    return head_backward_impl<W>(h, b);                                                  \
  }                                                                                      \
  TARGET void NAME##_head_eval(const HeadArgs& h) { head_forward_impl<W>(h); }           \
  constexpr Kernels NAME = {NAME##_pass1_train, NAME##_pass1_eval, NAME##_head_train,    \
                            NAME##_head_eval};

MER_KERNEL_VARIANT(kernels_avx512,
                   __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2"))),
                   16, 10, 9)
MER_KERNEL_VARIANT(kernels_avx2, __attribute__((target("avx2,fma,bmi,bmi2"))), 8, 5, 3)
MER_KERNEL_VARIANT(kernels_generic, , 4, 2, 3)

#undef MER_KERNEL_VARIANT
#undef MER_ALWAYS_INLINE

}  // namespace

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
}

Kernels kernels_for(FusedIsa isa) {
  if (isa == FusedIsa::kAuto) {
    isa = cpu_has_avx512() ? FusedIsa::kAvx512
                           : (cpu_has_avx2() ? FusedIsa::kAvx2 : FusedIsa::kGeneric);
  }
  switch (isa) {
    case FusedIsa::kAvx512:
      MER_CHECK(cpu_has_avx512(), "ststnet fused: this CPU lacks AVX-512");
      return kernels_avx512;
    case FusedIsa::kAvx2:
      MER_CHECK(cpu_has_avx2(), "ststnet fused: this CPU lacks AVX2/FMA");
      return kernels_avx2;
    default:
      return kernels_generic;
  }
}

}  // namespace mer::models::fused
