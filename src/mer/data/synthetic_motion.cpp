#include "mer/data/synthetic_motion.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace mer::data::synth {

namespace {

// The apex displacement is a sum of Gaussian blobs (smooth local motion of skin around a
// facial feature) plus a rigid head motion. Blob displacements are in reference pixels
// (kReferenceSide), sigmas in normalised units of the template (scaled per subject).

// Appends the blobs of `action` at amplitude `amp`, with side factors side[0], side[1]. The
// numbers below are, per blob, the offset from its facial landmark and the Gaussian's sigma
// (normalised units of the template face, scaled with the subject's face) and the peak
// displacement (u, v) in reference pixels for amp = 1; they follow the direction of the
// imitated action unit and a plausible extent of the skin moving with it.
void add_action(Action action, const FaceGeometry& g, double amp, const std::array<double, 2>& side,
                std::vector<Blob>& out) {
  const double s = g.scale;
  auto add = [&](Vec2 at, double sigma, Vec2 d) { out.push_back({at, s * sigma, amp * d}); };
  const double both = 0.5 * (side[0] + side[1]);
  switch (action) {
    case kJawDrop:  // midline actions
      add(g.chin, 0.12, {0.0, 0.9 * both});
      add(g.mouth_center + Vec2{0.0, 0.04 * s}, 0.05, {0.0, 0.5 * both});
      return;
    case kLipsPart:
      add(g.mouth_center + Vec2{0.0, 0.03 * s}, 0.045, {0.0, 0.45 * both});
      return;
    default:
      break;
  }
  for (int k = 0; k < 2; ++k) {
    const double o = outward(k);
    const double f = side[k];
    const Vec2 brow_mid = 0.5 * (g.brow_inner[k] + g.brow_outer[k]);
    switch (action) {
      case kBrowLower:
        add(g.brow_inner[k], 0.06, {-o * 0.45 * f, 0.6 * f});
        add(brow_mid, 0.05, {-o * 0.2 * f, 0.35 * f});
        break;
      case kInnerBrowRaise:
        add(g.brow_inner[k], 0.045, {0.0, -0.6 * f});
        break;
      case kLipStretch:
        add(g.mouth_corner[k], 0.05, {o * 0.6 * f, 0.1 * f});
        break;
      case kLidTighten:
        add(g.eye[k] + Vec2{0.0, 0.025 * s}, 0.035, {0.0, -0.35 * f});
        break;
      case kNoseWrinkle:
        add(g.nostril[k] + Vec2{0.0, -0.04 * s}, 0.05, {-o * 0.15 * f, -0.5 * f});
        break;
      case kLipCornerDepress:
        add(g.mouth_corner[k], 0.05, {o * 0.1 * f, 0.6 * f});
        break;
      case kLipCornerPull:
        add(g.mouth_corner[k], 0.055, {o * 0.6 * f, -0.7 * f});
        break;
      case kCheekRaise:
        add(g.eye[k] + Vec2{o * 0.02 * s, 0.1 * s}, 0.07, {0.0, -0.4 * f});
        break;
      case kBrowRaise:
        add(g.brow_inner[k], 0.05, {0.0, -0.75 * f});
        add(brow_mid, 0.05, {0.0, -0.7 * f});
        add(g.brow_outer[k], 0.05, {0.0, -0.55 * f});
        break;
      case kUpperLidRaise:
        add(g.eye[k] + Vec2{0.0, -0.025 * s}, 0.03, {0.0, -0.4 * f});
        break;
      case kBlink:
        add(g.eye[k] + Vec2{0.0, -0.015 * s}, 0.03, {0.0, 0.9 * f});
        break;
      case kJawDrop:
      case kLipsPart:
        break;
    }
  }
}

// Limits of the per-subject style (make_style).
constexpr double kAmplitudeLogSd = 0.3, kAmplitudeMin = 0.5, kAmplitudeMax = 2.0;
constexpr double kAsymmetrySd = 0.2, kAsymmetryMax = 0.5;
constexpr double kUseSd = 0.25, kUseMin = 0.05, kPrimaryUseMin = 0.5;
constexpr double kBlinkRateMin = 0.1, kBlinkRateMax = 0.45;
constexpr double kHeadMotionMin = 0.5, kHeadMotionMax = 1.5;

// Calibration of `intensity`: at 1 (and the default noise) STSTNet trained under LOSO with
// the paper's Adam lr 5e-5 for 200 epochs reaches a UF1 of about 0.75, and about 0.9 with a
// faster lr 1e-3: clearly learnable, far from perfect.
constexpr double kExpressionGain = 1.9;
// Per-sample variation of the expression.
constexpr double kWeakShare = 0.25, kWeakMin = 0.3, kWeakMax = 0.6;  // weak samples
constexpr double kStrengthLogSd = 0.25, kStrengthMin = 0.6, kStrengthMax = 1.8;
constexpr double kActionGainLogSd = 0.2;
constexpr double kUnilateralShare = 0.15, kUnilateralFactor = 0.25;
// Distractors and head motion (in reference pixels / radians / relative zoom).
constexpr double kBlinkMin = 0.5, kBlinkMax = 1.2;
constexpr int kMaxRandomMotions = 3;
constexpr double kRandomMotionShare = 0.5;  // each of kMaxRandomMotions occurs with this chance
constexpr double kRandomMotionSd = 0.55, kRandomSigmaMin = 0.03, kRandomSigmaMax = 0.08;
constexpr double kRandomMotionHalfWidth = 0.35, kRandomMotionTop = 0.2, kRandomMotionHeight = 0.7;
constexpr double kTranslationSd = 1.0;
constexpr double kRotationSd = 0.012;
constexpr double kZoomSd = 0.008;
// Clips of one subject are not cropped identically: each sample's face (flow and drawing) is
// shifted by this much (normalised units, about 0.6 pixel of a 28x28 map).
constexpr double kCropJitterSd = 0.02, kCropJitterMax = 0.05;

}  // namespace

const std::vector<std::vector<ActionUse>>& class_actions() {
  static const std::vector<std::vector<ActionUse>> table = {
      {{kBrowLower, 0.85},
       {kLipCornerDepress, 0.35},
       {kNoseWrinkle, 0.3},
       {kLidTighten, 0.35},
       {kInnerBrowRaise, 0.15},
       {kLipStretch, 0.2}},
      {{kLipCornerPull, 0.95}, {kCheekRaise, 0.5}, {kLipsPart, 0.3}},
      {{kBrowRaise, 0.9}, {kUpperLidRaise, 0.4}, {kJawDrop, 0.45}},
  };
  return table;
}

SubjectStyle make_style(Random& rng) {
  SubjectStyle st;
  st.amplitude = std::clamp(std::exp(kAmplitudeLogSd * rng.normal()), kAmplitudeMin, kAmplitudeMax);
  st.asymmetry = rng.normal(0.0, kAsymmetrySd, -kAsymmetryMax, kAsymmetryMax);
  for (const auto& actions : class_actions()) {
    std::vector<double> use;
    for (size_t a = 0; a < actions.size(); ++a) {
      use.push_back(
          rng.normal(actions[a].base_use, kUseSd, a == 0 ? kPrimaryUseMin : kUseMin, 1.0));
    }
    st.use.push_back(use);
  }
  st.blink_rate = rng.uniform(kBlinkRateMin, kBlinkRateMax);
  st.head_motion = rng.uniform(kHeadMotionMin, kHeadMotionMax);
  return st;
}

SampleMotion make_motion(Random& rng, int64_t label, const FaceGeometry& g, const SubjectStyle& st,
                         double intensity) {
  SampleMotion m;
  // Expression strength: a share of the samples is weak, as in the real databases.
  const double strength =
      rng.bernoulli(kWeakShare)
          ? rng.uniform(kWeakMin, kWeakMax)
          : std::clamp(std::exp(kStrengthLogSd * rng.normal()), kStrengthMin, kStrengthMax);
  std::array<double, 2> side = {1.0 + st.asymmetry, 1.0 - st.asymmetry};
  if (rng.bernoulli(kUnilateralShare)) side[rng.uniform_int(0, 1)] *= kUnilateralFactor;

  const auto& actions = class_actions()[static_cast<size_t>(label)];
  const auto& use = st.use[static_cast<size_t>(label)];
  std::vector<Action> chosen;
  for (size_t a = 0; a < actions.size(); ++a) {
    if (rng.bernoulli(use[a])) chosen.push_back(actions[a].action);
  }
  if (chosen.empty()) chosen.push_back(actions[0].action);  // an expression shows something
  for (Action a : chosen) {
    const double gain = std::exp(kActionGainLogSd * rng.normal());
    const size_t first = m.blobs.size();
    add_action(a, g, kExpressionGain * intensity * st.amplitude * strength * gain, side, m.blobs);
    for (size_t i = first; i < m.blobs.size(); ++i) m.blobs[i].expression = true;
  }

  // Distractors, independent of the class.
  if (rng.bernoulli(st.blink_rate)) {
    add_action(kBlink, g, rng.uniform(kBlinkMin, kBlinkMax), {1.0, 1.0}, m.blobs);
  }
  for (int i = 0; i < kMaxRandomMotions; ++i) {
    if (!rng.bernoulli(kRandomMotionShare)) continue;
    Blob b;
    b.at = {g.face_center.x + g.scale * kRandomMotionHalfWidth * rng.uniform(-1.0, 1.0),
            kRandomMotionTop + g.scale * kRandomMotionHeight * rng.uniform()};
    b.sigma = g.scale * rng.uniform(kRandomSigmaMin, kRandomSigmaMax);
    b.d = {kRandomMotionSd * rng.normal(), kRandomMotionSd * rng.normal()};
    m.blobs.push_back(b);
  }
  m.head.translation = {kTranslationSd * rng.normal(), kTranslationSd * rng.normal()};
  m.head.rotation = st.head_motion * kRotationSd * rng.normal();
  m.head.zoom = st.head_motion * kZoomSd * rng.normal();
  m.crop_shift = {rng.normal(0.0, kCropJitterSd, -kCropJitterMax, kCropJitterMax),
                  rng.normal(0.0, kCropJitterSd, -kCropJitterMax, kCropJitterMax)};
  for (Blob& b : m.blobs) b.at = b.at + m.crop_shift;
  m.head_center = g.face_center + m.crop_shift;
  return m;
}

void render_flow(const SampleMotion& m, int64_t side, double noise, Random& rng,
                 std::vector<double>& u, std::vector<double>& v) {
  const double n = static_cast<double>(side);
  const double to_pixels = n / kReferenceSide;
  u.assign(static_cast<size_t>(side * side), 0.0);
  v.assign(static_cast<size_t>(side * side), 0.0);
  for (int64_t i = 0; i < side; ++i) {
    for (int64_t j = 0; j < side; ++j) {
      const Vec2 p{(static_cast<double>(j) + 0.5) / n, (static_cast<double>(i) + 0.5) / n};
      double du = 0.0, dv = 0.0;
      for (const Blob& b : m.blobs) {
        const Vec2 r = p - b.at;
        const double w = std::exp(-dot(r, r) / (2.0 * b.sigma * b.sigma));
        du += w * b.d.x;
        dv += w * b.d.y;
      }
      // Rigid head motion: small rotation and zoom about the face centre (in grid pixels,
      // since the displacement of a rotation grows with the distance) plus a translation. The
      // translation alone would vanish in the per-channel min-max normalisation (as it does in
      // real data); rotation and zoom leave ramps that shift where "no motion" lands in 0..255.
      const Vec2 c = n * (p - m.head_center);
      const size_t idx = static_cast<size_t>(i * side + j);
      u[idx] = to_pixels * (du + m.head.translation.x) - m.head.rotation * c.y + m.head.zoom * c.x;
      v[idx] = to_pixels * (dv + m.head.translation.y) + m.head.rotation * c.x + m.head.zoom * c.y;
    }
  }
  for (size_t k = 0; k < u.size(); ++k) {
    u[k] += to_pixels * noise * rng.normal();
    v[k] += to_pixels * noise * rng.normal();
  }
}

}  // namespace mer::data::synth
