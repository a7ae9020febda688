#include "mer/models/ststnet_fused.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "mer/core/error.h"

// The 16-lane vector helpers below are always inlined into target-specific entry points, so the
// "vector argument/return changes the ABI" note never applies to a real call.
#pragma GCC diagnostic ignored "-Wpsabi"

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

bool cpu_has_avx512();
bool cpu_has_avx2();

}  // namespace

FastRng::FastRng(uint64_t seed) {
  uint64_t s = seed;
  for (auto& word : state_) word = mix64(s += kGolden);  // splitmix64 seeding
}

void fill_dropout_scale(FastRng& rng, float p, float* out, int64_t n) {
  MER_CHECK(p >= 0.0f && p < 1.0f, "dropout probability must be in [0, 1)");
  static const FillFn fill =
      cpu_has_avx512() ? fill_avx512 : (cpu_has_avx2() ? fill_avx2 : fill_generic);
  // p < 1 (a float) gives at most 2^32 - 256: fits.
  const auto threshold = static_cast<uint32_t>(std::llround(static_cast<double>(p) * 0x1.0p32));
  const float scale = 1.0f / (1.0f - p);
  uint32_t scale_bits;
  std::memcpy(&scale_bits, &scale, sizeof scale_bits);
  fill(rng.next(), threshold, scale_bits, out, n);
}

// ---------------------------------------------------------------------------------------------
// Kernels
//
// Notation: S input side, C = S+2 conv output side, P max-pool side, Q = P/2 avg-pool side,
// N = B*C*C values per batch-norm channel. The 16 conv channels of the three streams (3+5+8)
// are processed together as one 16-lane vector per spatial position ("channel-minor"), which
// fills exactly one AVX-512 register and makes batch norm, ReLU and max-pool lane-wise.
//
// Training step, per batch:
//   pass 1 (per sample, cache-resident): zero-pad the input; conv + ReLU row band by row
//     band (3 rows = one row of pooling windows); per band accumulate the batch-norm sums and
//     the two dense weight-gradient moments M1 = sum [r>0] x_patch and M2 = sum [r>0](r-s)
//     x_patch; record each pooling window's winner (position and r value).
//   batch norm statistics -> mean, invstd, running stats.
//   pass 2 (per sample, tiny): pooled features, dropout, avg-pool, fc, cross entropy,
//     backward to the pooling winners: sums Sdy = sum dy, T' = sum dy (r-mean) and the sparse
//     moment G = sum_winners [r>0] dy x_patch.
//   combine: the batch-norm backward
//     dz = [r>0] K (N dy - Sdy - xhat T),   K = gamma invstd / N,  T = invstd T'
//   is, summed against the input patches, K N G - K Sdy M1 - K T invstd (M2 + (s-mean) M1),
//   so no per-position gradient map is ever stored.
//
// Max-pool winners: y = gamma xhat + beta is monotone in r, so the window's winner is the
// first (row-major) argmax of r for gamma > 0, the first argmin for gamma < 0 and the first
// position for gamma == 0 (all y equal), exactly torch's first-maximum rule. Handled uniformly
// as the first argmax of sign(gamma) * r with a strict comparison.
//
// Precision: every float partial sum is short (one row or one 3-row band) and is added into a
// double batch total. The partial sums are also centred by a per-channel shift s (the mean of
// r over the batch's first sample, from a throwaway pass 1 of that sample), so that
// E[(r-s)^2] - E[r-s]^2 and M2 + (s - mean) M1 stay well conditioned even when r has a large
// mean relative to its spread (e.g. raw 0..255 inputs with small variation).
// ---------------------------------------------------------------------------------------------

namespace {

constexpr int kCh = 16;    // conv channels of the three streams: 3 + 5 + 8
constexpr int kTaps = 27;  // 3 input channels x 3x3 kernel

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

struct Geometry {
  int s = 0;      // input side
  int c = 0;      // conv output side, s + 2
  int w4 = 0;     // zero-padded input side, s + 4
  int plane = 0;  // w4 * w4
  int p = 0;      // max-pool output side
  int q = 0;      // avg-pool output side
  int features() const { return kCh * q * q; }
};

// Pass-1 sums over the batch (channel-minor, 16 lanes each). The kernels add short float
// partial sums (one row, or one 3-row band for the moments) into these doubles, which keeps the
// float rounding of each partial at the level of a few ulps.
struct BatchAccum {
  alignas(64) double s1[kCh];          // sum (r - s)
  alignas(64) double s2[kCh];          // sum (r - s)^2
  alignas(64) double count[kCh];       // sum [r>0]             (bias column of M1)
  alignas(64) double sum_rs[kCh];      // sum [r>0] (r - s)     (bias column of M2)
  alignas(64) double m1[kTaps * kCh];  // [tap][ch] sum [r>0] x_tap
  alignas(64) double m2[kTaps * kCh];  // [tap][ch] sum [r>0] (r - s) x_tap
};

struct Pass1Args {
  const Geometry* g;
  const float* x;      // sample input [3][S][S]
  float* xp;           // scratch: zero-padded input [3][w4][w4], border already zero
  float* band;         // scratch: r of up to 3 rows [3][C][16]
  const float* wt;     // conv weights [27 taps][16 ch]
  const float* bias;   // [16]
  const float* sign;   // [16] sign(gamma) as +1, -1 or 0
  const float* shift;  // [16] (training only)
  float* rwin;         // out: winner r per window [P*P][16]
  float* idx;          // out: winner position per window as offset y*w4+x into a padded
                       // input plane (the patch's top-left; an exact float), [P*P][16]
  BatchAccum* acc;     // training only: pass-1 sums are added here
};

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

struct HeadArgs {
  const Geometry* g;
  int k;                   // classes
  const float* alpha;      // [16] batch-norm output y = alpha * r + beta
  const float* beta;       // [16]
  const float* fc_wt;      // [k][q*q][16] fc weight, channel-minor
  const float* fc_b;       // [k]
  const int32_t* covered;  // [4*q*q] the windows inside the avg-pool: covered[4s + j] is the
                           // j-th (row-major) window of feature cell s = qi*q + qj
  // Per sample:
  const float* rwin;  // [P*P][16] winner r per window
  const float* mask;  // [16][P*P] dropout scale (torch layout), or nullptr
  float* mask_t;      // scratch [P*P][16]: the mask, channel-minor
  float* features;    // out [q*q][16]
  float* logits;      // out [k]
};

struct HeadBackArgs {
  const float* idx;   // [P*P][16] winner offsets into the padded input plane
  const float* x;     // sample input [3][S][S]
  float* xp;          // scratch: zero-padded input, border already zero (+ 4 floats of slack)
  const float* mean;  // [16] batch mean of r
  int64_t label;
  float loss_weight;   // w[y] (1 without class weights)
  float grad_scale;    // w[y] / sum_i w[y_i]
  float* dfeatures;    // scratch [q*q][16]
  float* dy;           // scratch [4*q*q][16]
  int32_t* nonzero;    // scratch [4*q*q][16]
  int32_t* at;         // scratch [4*q*q][16]
  float* active_dy;    // scratch [4*q*q]
  int32_t* active_at;  // scratch [4*q*q]
  float* dfc_wt;       // accumulated (float) [k][q*q][16]
  double* dfc_b;       // accumulated [k]
  double* sdy;         // accumulated [16] sum dy
  double* tp;          // accumulated [16] sum dy (r - mean)
  double* g_sparse;    // accumulated [16][28] sum_winners [r>0] dy x_tap (28th: dy)
};

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

// ---------------------------------------------------------------------------------------------
// Entry points per instruction set: vector width W, NB conv accumulators and 2*TG moment
// accumulators sized to the register file (32 zmm; 16 ymm; 16 xmm).
// ---------------------------------------------------------------------------------------------

struct Kernels {
  void (*pass1_train)(const Pass1Args&);
  void (*pass1_eval)(const Pass1Args&);
  float (*head_train)(const HeadArgs&, const HeadBackArgs&);
  void (*head_eval)(const HeadArgs&);
};

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

}  // namespace

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
  switch (isa) {
    case FusedIsa::kAvx512:
      MER_CHECK(cpu_has_avx512(), "ststnet fused: this CPU lacks AVX-512");
      m.kernels = kernels_avx512;
      break;
    case FusedIsa::kAvx2:
      MER_CHECK(cpu_has_avx2(), "ststnet fused: this CPU lacks AVX2/FMA");
      m.kernels = kernels_avx2;
      break;
    default:
      m.kernels = kernels_generic;
      isa = FusedIsa::kGeneric;
      break;
  }
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
