#pragma once
// The fused STSTNet kernels behind STSTNetFusedTrainer (ststnet_fused.h): the argument
// structs the trainer fills and one set of entry points per instruction set.
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
#include <cstdint>

#include "mer/models/ststnet_fused.h"

namespace mer::models::fused {

constexpr int kCh = 16;    // conv channels of the three streams: 3 + 5 + 8
constexpr int kTaps = 27;  // 3 input channels x 3x3 kernel

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


// One instruction set's kernels: vector width W, NB conv accumulators and 2*TG moment
// accumulators sized to the register file (32 zmm; 16 ymm; 16 xmm).
struct Kernels {
  void (*pass1_train)(const Pass1Args&);
  void (*pass1_eval)(const Pass1Args&);
  float (*head_train)(const HeadArgs&, const HeadBackArgs&);
  void (*head_eval)(const HeadArgs&);
};

// Whether the CPU has what the AVX-512 (AVX-512 F/VL/BW/DQ, AVX2, FMA, BMI) or the AVX2 (AVX2,
// FMA, BMI) variant uses.
bool cpu_has_avx512();
bool cpu_has_avx2();

// The kernels of `isa` (kAuto: the best the CPU has). Throws mer::Error when the CPU lacks it.
Kernels kernels_for(FusedIsa isa);

}  // namespace mer::models::fused
