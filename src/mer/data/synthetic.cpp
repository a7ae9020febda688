#include "mer/data/synthetic.h"

#include <algorithm>
#include <array>
#include <map>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "mer/core/error.h"
#include "mer/core/parallel.h"
#include "mer/core/rng.h"

namespace mer::data {

namespace {

// ---------------------------------------------------------------------------------------------
// Limits of the options (validate()).
constexpr int64_t kMaxSubjects = 999;  // subject names keep at most 3 digits
constexpr int64_t kMaxSamplesPerSubject = 10000;
constexpr int64_t kMinFlowSize = 8;  // smallest map STSTNet accepts
constexpr int64_t kMaxFlowSize = 512;
constexpr int64_t kMinFaceSize = 16;
constexpr int64_t kMaxFaceSize = 2048;
constexpr double kMaxNoise = 100.0;
constexpr double kMaxIntensity = 100.0;

// Motion amplitudes and the noise are given in pixels of a map of this side and scaled to the
// requested flow_size, so that another resolution shows the same face motion.
constexpr double kReferenceSide = 28.0;
constexpr double kPi = 3.14159265358979323846;
constexpr double kMaxPixelValue = 255.0;

// Class proportions of the MEGC2019 composite (250 : 109 : 83 of 442 samples, rounded).
constexpr double kNegativeShare = 0.55;
constexpr double kPositiveShare = 0.25;
constexpr int64_t kNegative = 0;
constexpr int64_t kPositive = 1;
constexpr int64_t kSurprise = 2;
constexpr int64_t kNumClasses = 3;

// Each subject's sample count is samples_per_subject +- samples_per_subject / this divisor
// (uniform integer), i.e. +-20%.
constexpr int64_t kSampleCountSpreadDivisor = 5;

// ---------------------------------------------------------------------------------------------
// Randomness: mer's SplitMix64 (core/rng.h) is fully specified integer arithmetic, so the
// stream is the same on every platform; std:: distributions are implementation-defined.

class Random {
 public:
  explicit Random(uint64_t seed) : rng_(seed) {}

  double uniform() { return rng_.uniform(); }  // [0, 1), exact integer -> double
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int64_t uniform_int(int64_t lo, int64_t hi) {  // [lo, hi]
    return lo + static_cast<int64_t>(rng_.below(static_cast<uint64_t>(hi - lo + 1)));
  }
  bool bernoulli(double p) { return uniform() < p; }
  // Standard normal by Box-Muller (one value per pair of uniforms keeps the stream simple).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
  }
  double normal(double mean, double sd, double lo, double hi) {
    return std::clamp(mean + sd * normal(), lo, hi);
  }
  SplitMix64& engine() { return rng_; }

 private:
  SplitMix64 rng_;
};

// Independent streams per purpose and per subject / sample, so that e.g. a subject's face does
// not change when samples_per_subject does.
enum Stream : uint64_t { kSubjectStream = 1, kLabelStream = 2, kSampleStream = 3 };

Random make_stream(uint64_t seed, Stream stream, uint64_t a = 0, uint64_t b = 0) {
  return Random(derive_seed(derive_seed(derive_seed(seed, stream), a), b));
}

// ---------------------------------------------------------------------------------------------
// Face geometry, in image coordinates normalised to [0, 1] (x right, y down), shared by the
// face drawing and the flow map. Index 0 of a pair is the image-left feature.

struct Vec2 {
  double x = 0.0;
  double y = 0.0;
};
Vec2 operator+(Vec2 a, Vec2 b) { return {a.x + b.x, a.y + b.y}; }
Vec2 operator-(Vec2 a, Vec2 b) { return {a.x - b.x, a.y - b.y}; }
Vec2 operator*(double s, Vec2 a) { return {s * a.x, s * a.y}; }
double dot(Vec2 a, Vec2 b) { return a.x * b.x + a.y * b.y; }
double norm(Vec2 a) { return std::sqrt(dot(a, a)); }

// Outward x direction of side k (0 = image-left, 1 = image-right).
double outward(int k) { return k == 0 ? -1.0 : 1.0; }

struct FaceGeometry {
  double scale = 1.0;  // face size relative to the template
  Vec2 face_center;
  Vec2 face_radii;
  std::array<Vec2, 2> brow_inner, brow_outer, eye, nostril, mouth_corner;
  Vec2 eye_radii;
  Vec2 nose_top, nose_tip, mouth_center, chin;
};

// Template: a tight face crop as in the MEGC2019 composite (eyes at ~37%, mouth at ~76% of the
// height). x offsets are from the vertical midline, for the image-right feature.
constexpr double kMidline = 0.5;
constexpr double kTemplateCenterY = 0.5;  // the subject's scale is applied around (0.5, 0.5)
constexpr double kFaceCenterY = 0.52, kFaceRadiusX = 0.42, kFaceRadiusY = 0.5;
constexpr double kBrowInnerX = 0.07, kBrowInnerY = 0.255, kBrowOuterX = 0.27, kBrowOuterY = 0.265;
constexpr double kEyeX = 0.17, kEyeY = 0.37, kEyeRadiusX = 0.075, kEyeRadiusY = 0.03;
constexpr double kNoseTopY = 0.38, kNoseTipY = 0.6, kNostrilX = 0.05, kNostrilY = 0.61;
constexpr double kMouthX = 0.14, kMouthY = 0.76, kMouthCenterY = 0.775, kChinY = 0.93;

// Between-subject variation: global scale and offset plus independent jitter of the feature
// spacings (standard deviations in normalised units), clipped to keep the face in the image.
constexpr double kScaleSd = 0.06, kScaleMin = 0.85, kScaleMax = 1.15;
constexpr double kOffsetSd = 0.04, kOffsetMax = 0.1;
constexpr double kFeatureJitterSd = 0.012, kFeatureJitterMax = 0.03;

// A subject's deviation from the template face: global scale and offset, and the jitter of
// the feature positions (normalised units).
struct GeometryParams {
  double scale = 1.0;
  Vec2 offset;
  double brow_dy = 0.0, eye_dx = 0.0, eye_dy = 0.0, nose_dy = 0.0, mouth_dx = 0.0, mouth_dy = 0.0;
};

FaceGeometry geometry_from(const GeometryParams& p) {
  FaceGeometry g;
  g.scale = p.scale;
  // Template point (x from the midline, y absolute) -> subject image coordinates.
  auto place = [&](double x, double y) {
    return Vec2{kMidline + g.scale * x + p.offset.x,
                kTemplateCenterY + g.scale * (y - kTemplateCenterY) + p.offset.y};
  };
  g.face_center = place(0.0, kFaceCenterY);
  g.face_radii = {g.scale * kFaceRadiusX, g.scale * kFaceRadiusY};
  for (int k = 0; k < 2; ++k) {
    const double s = outward(k);
    g.brow_inner[k] = place(s * kBrowInnerX, kBrowInnerY + p.brow_dy);
    g.brow_outer[k] = place(s * (kBrowOuterX + p.eye_dx), kBrowOuterY + p.brow_dy);
    g.eye[k] = place(s * (kEyeX + p.eye_dx), kEyeY + p.eye_dy);
    g.nostril[k] = place(s * kNostrilX, kNostrilY + p.nose_dy);
    g.mouth_corner[k] = place(s * (kMouthX + p.mouth_dx), kMouthY + p.mouth_dy);
  }
  g.eye_radii = {g.scale * kEyeRadiusX, g.scale * kEyeRadiusY};
  g.nose_top = place(0.0, kNoseTopY + p.eye_dy);
  g.nose_tip = place(0.0, kNoseTipY + p.nose_dy);
  g.mouth_center = place(0.0, kMouthCenterY + p.mouth_dy);
  g.chin = place(0.0, kChinY);
  return g;
}

FaceGeometry make_geometry(Random& rng) {
  // The draws, in this order, define the dataset: keep it.
  GeometryParams p;
  p.scale = rng.normal(1.0, kScaleSd, kScaleMin, kScaleMax);
  p.offset.x = rng.normal(0.0, kOffsetSd, -kOffsetMax, kOffsetMax);
  p.offset.y = rng.normal(0.0, kOffsetSd, -kOffsetMax, kOffsetMax);
  auto jitter = [&] {
    return rng.normal(0.0, kFeatureJitterSd, -kFeatureJitterMax, kFeatureJitterMax);
  };
  p.brow_dy = jitter();
  p.eye_dx = jitter();
  p.eye_dy = jitter();
  p.nose_dy = jitter();
  p.mouth_dx = jitter();
  p.mouth_dy = jitter();
  return geometry_from(p);
}

// ---------------------------------------------------------------------------------------------
// The 68 landmarks of a face geometry in the iBUG 300-W order (normalised units): drawn from
// the same features as the face and the motion, so they sit where the drawing puts them. The
// shapes between the features (brow arch, lid and lip curves, jaw line) are approximate.

constexpr double kJawWidthShare = 0.95;   // jaw half-width relative to the face ellipse's
constexpr double kBrowArch = 0.012;       // brow midpoints above the inner-outer line
constexpr double kNostrilSpread = 0.025;  // outer nostril points beyond the nostril centres
constexpr double kNoseBaseDrop = 0.012;   // the nose base's middle point below the nostrils
constexpr double kUpperLip = 0.03, kLowerLip = 0.045;  // outer lip heights at the midline
constexpr double kInnerLip = 0.008, kInnerCornerInset = 0.012;

using LandmarkPoints = std::array<Vec2, kNumLandmarks>;

LandmarkPoints landmarks_of(const FaceGeometry& g) {
  LandmarkPoints p;
  const double s = g.scale;
  // Jaw 0-16: a half ellipse from eye level on the image-left, through the chin, to eye
  // level on the image-right.
  const double eye_level = 0.5 * (g.eye[0].y + g.eye[1].y);
  const double jaw_rx = kJawWidthShare * g.face_radii.x, jaw_ry = g.chin.y - eye_level;
  for (int j = 0; j <= 16; ++j) {
    const double phi = kPi * (1.0 - j / 16.0);
    p[j] = {g.chin.x + jaw_rx * std::cos(phi), eye_level + jaw_ry * std::sin(phi)};
  }
  // Brows 17-21 (image-left, outer to inner) and 22-26 (image-right, inner to outer).
  for (int j = 0; j < 5; ++j) {
    const double t = j / 4.0, arch = s * kBrowArch * std::sin(kPi * t);
    p[17 + j] = (1.0 - t) * g.brow_outer[0] + t * g.brow_inner[0] - Vec2{0.0, arch};
    p[22 + j] = (1.0 - t) * g.brow_inner[1] + t * g.brow_outer[1] - Vec2{0.0, arch};
  }
  // Nose: bridge 27-30 from the top to the tip, base 31-35 from image-left to image-right.
  for (int j = 0; j < 4; ++j) {
    const double t = j / 3.0;
    p[27 + j] = (1.0 - t) * g.nose_top + t * g.nose_tip;
  }
  const Vec2 base_left = g.nostril[0] - Vec2{s * kNostrilSpread, 0.0};
  const Vec2 base_right = g.nostril[1] + Vec2{s * kNostrilSpread, 0.0};
  for (int j = 0; j < 5; ++j) {
    const double t = j / 4.0;
    p[31 + j] = (1.0 - t) * base_left + t * base_right +
                Vec2{0.0, s * kNoseBaseDrop * std::sin(kPi * t)};
  }
  // Eyes: 36-41 image-left (outer corner, two upper lid points, inner corner, two lower),
  // 42-47 image-right (inner corner, upper lid, outer corner, lower): points of the drawn
  // ellipse at a third of its half-width from the centre.
  const double lid = std::sqrt(1.0 - 1.0 / 9.0);
  for (int k = 0; k < 2; ++k) {
    const Vec2 e = g.eye[k];
    const double rx = g.eye_radii.x, ry = g.eye_radii.y * lid;
    const int first = k == 0 ? 36 : 42;
    // Start at the left corner, go over the upper lid to the right corner and back below.
    const Vec2 ring[6] = {{e.x - rx, e.y},           {e.x - rx / 3.0, e.y - ry},
                          {e.x + rx / 3.0, e.y - ry}, {e.x + rx, e.y},
                          {e.x + rx / 3.0, e.y + ry}, {e.x - rx / 3.0, e.y + ry}};
    for (int j = 0; j < 6; ++j) p[first + j] = ring[j];
  }
  // Mouth: outer 48-59 (left corner, upper lip to the right corner, lower lip back), inner
  // 60-67 (left corner, upper, right corner, lower). The lip line sags from the corners to the
  // centre as the drawing's does.
  const Vec2 left = g.mouth_corner[0], right = g.mouth_corner[1];
  auto lip_line = [&](double t) {
    return (1.0 - t) * left + t * right +
           Vec2{0.0, (g.mouth_center.y - 0.5 * (left.y + right.y)) * std::sin(kPi * t)};
  };
  p[48] = left;
  p[54] = right;
  for (int j = 1; j <= 5; ++j) {
    const double up = j / 6.0, down = 1.0 - j / 6.0;
    p[48 + j] = lip_line(up) - Vec2{0.0, s * kUpperLip * std::sin(kPi * up)};
    p[54 + j] = lip_line(down) + Vec2{0.0, s * kLowerLip * std::sin(kPi * down)};
  }
  p[60] = left + Vec2{s * kInnerCornerInset, 0.0};
  p[64] = right - Vec2{s * kInnerCornerInset, 0.0};
  for (int j = 1; j <= 3; ++j) {
    const double up = j / 4.0, down = 1.0 - j / 4.0;
    p[60 + j] = lip_line(up) - Vec2{0.0, s * kInnerLip * std::sin(kPi * up)};
    p[64 + j] = lip_line(down) + Vec2{0.0, s * kInnerLip * std::sin(kPi * down)};
  }
  return p;
}

// Writes `points` shifted by `shift` (normalised) as flow-map pixel coordinates of a map of
// `side` (pixel centres at integers) to out[0..135].
void store_landmarks(const LandmarkPoints& points, Vec2 shift, int64_t side, float* out) {
  const double n = static_cast<double>(side);
  for (size_t j = 0; j < points.size(); ++j) {
    out[2 * j] = static_cast<float>((points[j].x + shift.x) * n - 0.5);
    out[2 * j + 1] = static_cast<float>((points[j].y + shift.y) * n - 0.5);
  }
}

// ---------------------------------------------------------------------------------------------
// Motion model. The apex displacement is a sum of Gaussian blobs (smooth local motion of skin
// around a facial feature) plus a rigid head motion. Blob displacements are in reference
// pixels (kReferenceSide), sigmas in normalised units of the template (scaled per subject).

struct Blob {
  Vec2 at;
  double sigma = 0.0;
  Vec2 d;
  bool expression = false;  // part of the expression (not a distractor)
};

// Facial actions, named after the FACS action units they imitate.
enum Action {
  kBrowLower,         // AU4: brows lowered and drawn together
  kInnerBrowRaise,    // AU1 (with AU4 in fear): inner brow ends raised
  kLipStretch,        // AU20 (fear): lip corners pulled straight outward
  kLidTighten,        // AU7: lower lids pushed up
  kNoseWrinkle,       // AU9: nose sides and upper lip pulled up
  kLipCornerDepress,  // AU15: lip corners pulled down
  kLipCornerPull,     // AU12: lip corners pulled up and outward
  kCheekRaise,        // AU6: cheeks pushed up
  kLipsPart,          // AU25: lower lip drops a little
  kBrowRaise,         // AU1+2: whole brows raised
  kUpperLidRaise,     // AU5: upper lids raised
  kJawDrop,           // AU26: jaw and lower lip drop
  kBlink,             // not an expression: upper lids close (distractor)
};

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

// The actions an expression of each class is made of; the first is the class's primary action.
// base_use: how likely a typical subject shows the action in a sample of that class. The
// classes share motion cues on purpose, as the real ones do: "negative" includes fear (inner
// brows raised, lips stretched outward), "positive" may part the lips like a small jaw drop.
struct ActionUse {
  Action action;
  double base_use;
};
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

// Per-subject style: how strongly and how asymmetrically the subject moves, which sub-actions
// the subject tends to use, how often the subject blinks and how much the head moves.
constexpr double kAmplitudeLogSd = 0.3, kAmplitudeMin = 0.5, kAmplitudeMax = 2.0;
constexpr double kAsymmetrySd = 0.2, kAsymmetryMax = 0.5;
constexpr double kUseSd = 0.25, kUseMin = 0.05, kPrimaryUseMin = 0.5;
constexpr double kBlinkRateMin = 0.1, kBlinkRateMax = 0.45;
constexpr double kHeadMotionMin = 0.5, kHeadMotionMax = 1.5;

struct SubjectStyle {
  double amplitude = 1.0;
  double asymmetry = 0.0;                // > 0: image-left side moves more
  std::vector<std::vector<double>> use;  // [class][action] probability of use
  double blink_rate = 0.0;
  double head_motion = 1.0;
};

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

struct HeadMotion {
  Vec2 translation;  // reference pixels
  double rotation = 0.0;
  double zoom = 0.0;
};

struct SampleMotion {
  std::vector<Blob> blobs;
  HeadMotion head;
  Vec2 head_center;  // centre of the rotation and zoom: the (shifted) face centre
  Vec2 crop_shift;   // per-clip crop misalignment already applied to the blobs
};

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

// Renders the displacement field of `m` on a side x side grid (pixel centres), in pixels of
// that grid, plus iid Gaussian noise. u, v: row-major [side * side].
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

// Per-channel min-max to 0..255 and rounding, as the MEGC2019 PNGs store the flow; a constant
// channel becomes 0. Writes side*side floats to `out`.
void normalise_to_bytes(const double* x, size_t count, float* out) {
  const auto [lo_it, hi_it] = std::minmax_element(x, x + count);
  const double lo = *lo_it, range = *hi_it - *lo_it;
  for (size_t k = 0; k < count; ++k) {
    out[k] = range > 0.0
                 ? static_cast<float>(std::floor((x[k] - lo) * kMaxPixelValue / range + 0.5))
                 : 0.0f;
  }
}

// ---------------------------------------------------------------------------------------------
// Face drawing: grey levels composed back to front with anti-aliased shapes (coverage from the
// signed distance in pixels over one pixel).

constexpr double kBackgroundGrey = 60.0, kSkinGrey = 170.0, kBrowGrey = 55.0;
constexpr double kScleraGrey = 225.0, kIrisGrey = 40.0, kNoseGrey = 125.0, kNostrilGrey = 90.0;
constexpr double kMouthGrey = 95.0;
constexpr double kBrowHalfWidth = 0.015, kNoseHalfWidth = 0.006, kMouthHalfWidth = 0.012;
constexpr double kIrisShare = 0.9;  // iris radius relative to the eye's half-height
constexpr double kNostrilRadiusX = 0.018, kNostrilRadiusY = 0.01;
constexpr double kSkinShading = 25.0;  // darker towards the face outline

// Approximate signed distance to an ellipse (Quilez' first-order estimate; exact on circles).
double ellipse_distance(Vec2 p, Vec2 c, Vec2 r) {
  const Vec2 q = p - c;
  const double k0 = std::hypot(q.x / r.x, q.y / r.y);
  const double k1 = std::hypot(q.x / (r.x * r.x), q.y / (r.y * r.y));
  return k1 > 0.0 ? k0 * (k0 - 1.0) / k1 : -std::min(r.x, r.y);
}

double segment_distance(Vec2 p, Vec2 a, Vec2 b, double half_width) {
  const Vec2 ab = b - a;
  const double t = std::clamp(dot(p - a, ab) / dot(ab, ab), 0.0, 1.0);
  return norm(p - (a + t * ab)) - half_width;
}

std::vector<uint8_t> draw_face(const FaceGeometry& g, int64_t side) {
  const double n = static_cast<double>(side);
  std::vector<uint8_t> img(static_cast<size_t>(side * side));
  auto cover = [n](double distance) { return std::clamp(0.5 - distance * n, 0.0, 1.0); };
  for (int64_t i = 0; i < side; ++i) {
    for (int64_t j = 0; j < side; ++j) {
      const Vec2 p{(static_cast<double>(j) + 0.5) / n, (static_cast<double>(i) + 0.5) / n};
      double grey = kBackgroundGrey;
      auto paint = [&grey](double level, double alpha) { grey += alpha * (level - grey); };
      const double face_d = ellipse_distance(p, g.face_center, g.face_radii);
      const double rim = std::clamp(1.0 + face_d / std::min(g.face_radii.x, g.face_radii.y), 0.0,
                                    1.0);  // 0 at the centre, 1 at the outline
      paint(kSkinGrey - kSkinShading * rim * rim, cover(face_d));
      for (int k = 0; k < 2; ++k) {
        paint(kBrowGrey, cover(segment_distance(p, g.brow_inner[k], g.brow_outer[k],
                                                g.scale * kBrowHalfWidth)));
        paint(kScleraGrey, cover(ellipse_distance(p, g.eye[k], g.eye_radii)));
        const double iris = kIrisShare * g.eye_radii.y;
        paint(kIrisGrey, cover(ellipse_distance(p, g.eye[k], {iris, iris})));
        paint(kNostrilGrey,
              cover(ellipse_distance(p, g.nostril[k],
                                     {g.scale * kNostrilRadiusX, g.scale * kNostrilRadiusY})));
        paint(kMouthGrey, cover(segment_distance(p, g.mouth_corner[k], g.mouth_center,
                                                 g.scale * kMouthHalfWidth)));
      }
      paint(kNoseGrey,
            cover(segment_distance(p, g.nose_top, g.nose_tip, g.scale * kNoseHalfWidth)));
      img[static_cast<size_t>(i * side + j)] = static_cast<uint8_t>(std::floor(grey + 0.5));
    }
  }
  return img;
}

// Copies the side x side image `img` shifted by `shift` (normalised units, rounded to whole
// pixels) to `out`; uncovered pixels get the background grey.
void shift_image(const std::vector<uint8_t>& img, int64_t side, Vec2 shift, uint8_t* out) {
  const double n = static_cast<double>(side);
  const auto dx = static_cast<int64_t>(std::floor(shift.x * n + 0.5));
  const auto dy = static_cast<int64_t>(std::floor(shift.y * n + 0.5));
  for (int64_t i = 0; i < side; ++i) {
    for (int64_t j = 0; j < side; ++j) {
      const int64_t si = i - dy, sj = j - dx;
      const bool inside = si >= 0 && si < side && sj >= 0 && sj < side;
      out[i * side + j] =
          inside ? img[static_cast<size_t>(si * side + sj)] : static_cast<uint8_t>(kBackgroundGrey);
    }
  }
}

std::string numbered(const char* prefix, int64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%02lld", prefix, static_cast<long long>(number));
  return buf;
}

// Central differences in the interior, one-sided at both ends, along `dim`.
torch::Tensor derivative(const torch::Tensor& f, int64_t dim) {
  const int64_t n = f.size(dim);
  auto d = torch::zeros_like(f);
  if (n < 2) return d;
  if (n > 2) {
    d.narrow(dim, 1, n - 2).copy_((f.narrow(dim, 2, n - 2) - f.narrow(dim, 0, n - 2)) * 0.5);
  }
  d.narrow(dim, 0, 1).copy_(f.narrow(dim, 1, 1) - f.narrow(dim, 0, 1));
  d.narrow(dim, n - 1, 1).copy_(f.narrow(dim, n - 1, 1) - f.narrow(dim, n - 2, 1));
  return d;
}

}  // namespace

void SyntheticOptions::validate() const {
  auto fail = [](const std::string& what) { throw ConfigError("synthetic data: " + what); };
  if (subjects() < 1 || subjects() > kMaxSubjects) {
    fail("subjects must be in 1.." + std::to_string(kMaxSubjects) + ", got " +
         std::to_string(subjects()));
  }
  if (samples_per_subject() < 1 || samples_per_subject() > kMaxSamplesPerSubject) {
    fail("samples_per_subject must be in 1.." + std::to_string(kMaxSamplesPerSubject) + ", got " +
         std::to_string(samples_per_subject()));
  }
  if (flow_size() < kMinFlowSize || flow_size() > kMaxFlowSize) {
    fail("flow_size must be in " + std::to_string(kMinFlowSize) + ".." +
         std::to_string(kMaxFlowSize) + ", got " + std::to_string(flow_size()));
  }
  if (face_size() != 0 && (face_size() < kMinFaceSize || face_size() > kMaxFaceSize)) {
    fail("face_size must be 0 (no faces) or in " + std::to_string(kMinFaceSize) + ".." +
         std::to_string(kMaxFaceSize) + ", got " + std::to_string(face_size()));
  }
  if (!std::isfinite(noise()) || noise() < 0.0 || noise() > kMaxNoise) {
    fail("noise must be in [0, " + std::to_string(kMaxNoise) + "], got " + std::to_string(noise()));
  }
  if (!std::isfinite(intensity()) || intensity() <= 0.0 || intensity() > kMaxIntensity) {
    fail("intensity must be in (0, " + std::to_string(kMaxIntensity) + "], got " +
         std::to_string(intensity()));
  }
  if (parts() < 1 || parts() > subjects()) {
    fail("parts must be in 1..subjects (" + std::to_string(subjects()) + "), got " +
         std::to_string(parts()));
  }
}

std::vector<std::string> synthetic_primary_parts() {
  // Parts moved by the first action of each class in class_actions().
  auto part_of = [](Action a) -> std::string {
    switch (a) {
      case kBrowLower:
      case kInnerBrowRaise:
      case kBrowRaise:
        return "brows";
      case kLidTighten:
      case kUpperLidRaise:
      case kBlink:
        return "eyes";
      case kNoseWrinkle:
        return "nose";
      case kJawDrop:
        return "jaw";
      case kCheekRaise:
        return "cheeks";  // no landmark group; never a primary action
      case kLipStretch:
      case kLipCornerDepress:
      case kLipCornerPull:
      case kLipsPart:
        return "mouth";
    }
    return "";
  };
  std::vector<std::string> out;
  for (const auto& actions : class_actions()) out.push_back(part_of(actions.front().action));
  return out;
}

torch::Tensor template_landmarks(int64_t side) {
  MER_CHECK(side > 0, "template_landmarks needs a positive side");
  auto out = torch::empty({kNumLandmarks, 2}, torch::kFloat32);
  store_landmarks(landmarks_of(geometry_from({})), {}, side, out.data_ptr<float>());
  return out;
}

torch::Tensor optical_strain(const torch::Tensor& u, const torch::Tensor& v) {
  MER_CHECK(u.defined() && v.defined() && u.dim() == 2 && u.sizes() == v.sizes(),
            "optical_strain expects u and v of the same shape [H, W]");
  MER_CHECK(u.is_floating_point() && u.scalar_type() == v.scalar_type(),
            "optical_strain expects floating u and v of the same dtype");
  const auto ux = derivative(u, 1), uy = derivative(u, 0);
  const auto vx = derivative(v, 1), vy = derivative(v, 0);
  const auto shear = uy + vx;
  // Separate multiplies and adds (no fused ops): each is correctly rounded in every kernel.
  return torch::sqrt(ux * ux + vy * vy + shear * shear * 0.5);
}

namespace {

// Everything drawn per subject and the label of every sample, in sample order.
struct Plan {
  std::vector<FaceGeometry> geometry;
  std::vector<SubjectStyle> style;
  std::vector<int64_t> count;
  std::vector<int64_t> labels;
  int64_t total = 0;
};

Plan make_plan(const SyntheticOptions& options) {
  const uint64_t seed = options.seed();
  Plan p;
  // Subjects: geometry, style and sample count.
  const int64_t spread = options.samples_per_subject() / kSampleCountSpreadDivisor;
  for (int64_t s = 0; s < options.subjects(); ++s) {
    Random rng = make_stream(seed, kSubjectStream, static_cast<uint64_t>(s));
    p.geometry.push_back(make_geometry(rng));
    p.style.push_back(make_style(rng));
    p.count.push_back(
        std::max<int64_t>(1, options.samples_per_subject() + rng.uniform_int(-spread, spread)));
  }
  for (int64_t c : p.count) p.total += c;
  const int64_t total = p.total;

  // Labels: exact class shares over the whole set, shuffled, so that subjects get uneven
  // mixes (as in the real composite) while the overall balance is fixed.
  p.labels.assign(static_cast<size_t>(total), kSurprise);
  const auto n_negative =
      static_cast<int64_t>(std::llround(kNegativeShare * static_cast<double>(total)));
  const auto n_positive =
      static_cast<int64_t>(std::llround(kPositiveShare * static_cast<double>(total)));
  std::fill_n(p.labels.begin(), n_negative, kNegative);
  std::fill_n(p.labels.begin() + n_negative, std::min(n_positive, total - n_negative), kPositive);
  {
    Random rng = make_stream(seed, kLabelStream);
    shuffle(p.labels, rng.engine());
  }
  return p;
}

}  // namespace

std::vector<std::string> synthetic_dominant_parts(const SyntheticOptions& options) {
  options.validate();
  const Plan plan = make_plan(options);
  std::vector<std::string> out;
  int64_t n = 0;
  for (int64_t s = 0; s < options.subjects(); ++s) {
    for (int64_t c = 0; c < plan.count[static_cast<size_t>(s)]; ++c, ++n) {
      Random rng = make_stream(options.seed(), kSampleStream, static_cast<uint64_t>(s),
                               static_cast<uint64_t>(c));
      const SampleMotion motion =
          make_motion(rng, plan.labels[static_cast<size_t>(n)], plan.geometry[static_cast<size_t>(s)],
                      plan.style[static_cast<size_t>(s)], options.intensity());
      // The expression's displacement at each landmark of the (shifted) face; a part's motion
      // is the largest at any of its landmarks.
      const LandmarkPoints points = landmarks_of(plan.geometry[static_cast<size_t>(s)]);
      std::map<std::string, double> motion_of;
      for (size_t j = 0; j < points.size(); ++j) {
        const Vec2 p = points[j] + motion.crop_shift;
        Vec2 d;
        for (const Blob& b : motion.blobs) {
          if (!b.expression) continue;
          const Vec2 r = p - b.at;
          d = d + std::exp(-dot(r, r) / (2.0 * b.sigma * b.sigma)) * b.d;
        }
        const char* part = j <= 16 ? "jaw" : j <= 26 ? "brows" : j <= 35 ? "nose" : j <= 47 ? "eyes" : "mouth";
        motion_of[part] = std::max(motion_of[part], norm(d));
      }
      std::string best;
      for (const auto& [part, m] : motion_of) {
        if (best.empty() || m > motion_of[best]) best = part;
      }
      out.push_back(best);
    }
  }
  return out;
}

Dataset make_synthetic(const SyntheticOptions& options) {
  options.validate();
  const uint64_t seed = options.seed();
  const int64_t side = options.flow_size();
  const int64_t face_side = options.face_size();
  const Plan plan = make_plan(options);
  const auto& geometry = plan.geometry;
  const auto& style = plan.style;
  const auto& count = plan.count;
  const auto& labels = plan.labels;
  const int64_t total = plan.total;

  Dataset ds;
  ds.class_names = megc2019_class_names();
  MER_CHECK(ds.num_classes() == kNumClasses, "synthetic data needs the 3 MEGC2019 classes");
  ds.flows = torch::empty({total, 3, side, side}, torch::kFloat32);
  if (face_side > 0) ds.faces = torch::empty({total, face_side, face_side}, torch::kUInt8);
  ds.landmarks = torch::empty({total, kNumLandmarks, 2}, torch::kFloat32);
  float* flow_out = ds.flows.data_ptr<float>();
  float* landmark_out = ds.landmarks.data_ptr<float>();
  uint8_t* face_out = face_side > 0 ? ds.faces.data_ptr<uint8_t>() : nullptr;
  const size_t plane = static_cast<size_t>(side * side);
  // The sample records first, in order; first[s] is subject s's first sample.
  std::vector<int64_t> first(static_cast<size_t>(options.subjects()) + 1, 0);
  for (int64_t s = 0, n = 0; s < options.subjects(); ++s) {
    first[static_cast<size_t>(s)] = n;
    const std::string subject = numbered("s", s + 1);
    for (int64_t c = 0; c < count[static_cast<size_t>(s)]; ++c, ++n) {
      const int64_t label = labels[static_cast<size_t>(n)];
      SampleInfo info;
      info.dataset = options.parts() > 1 ? "synth" + std::to_string(s % options.parts() + 1)
                                         : std::string("synth");
      info.subject = subject;
      info.sample = numbered("clip", c + 1);
      info.label = label;
      info.emotion = ds.class_names[static_cast<size_t>(label)];
      info.flow_path = "flow/" + info.dataset + "_" + subject + "_" + info.sample + ".png";
      info.face_path = "face/" + info.dataset + "_" + subject + "_" + info.sample + ".jpg";
      ds.samples.push_back(info);
    }
  }
  // Then the drawing, subjects in parallel: every sample draws from its own random stream
  // (seed, subject, clip), so the data do not depend on the order or the number of threads.
  parallel_chunks(options.subjects(), 0, [&](int64_t begin, int64_t end) {
    std::vector<double> u, v;
    for (int64_t s = begin; s < end; ++s) {
      std::vector<uint8_t> face;
      if (face_side > 0) face = draw_face(geometry[static_cast<size_t>(s)], face_side);
      const LandmarkPoints points = landmarks_of(geometry[static_cast<size_t>(s)]);
      for (int64_t c = 0; c < count[static_cast<size_t>(s)]; ++c) {
        const int64_t n = first[static_cast<size_t>(s)] + c;
        Random rng =
            make_stream(seed, kSampleStream, static_cast<uint64_t>(s), static_cast<uint64_t>(c));
        const SampleMotion motion =
            make_motion(rng, labels[static_cast<size_t>(n)], geometry[static_cast<size_t>(s)],
                        style[static_cast<size_t>(s)], options.intensity());
        render_flow(motion, side, options.noise(), rng, u, v);
        const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
        const auto ut = torch::from_blob(u.data(), {side, side}, opts);
        const auto vt = torch::from_blob(v.data(), {side, side}, opts);
        const auto strain = optical_strain(ut, vt).contiguous();
        float* out = flow_out + static_cast<size_t>(n) * 3 * plane;
        normalise_to_bytes(u.data(), plane, out + kFlowU * plane);
        normalise_to_bytes(v.data(), plane, out + kFlowV * plane);
        normalise_to_bytes(strain.data_ptr<double>(), plane, out + kFlowStrain * plane);
        if (face_side > 0) {
          shift_image(face, face_side, motion.crop_shift,
                      face_out + static_cast<size_t>(n * face_side * face_side));
        }
        // The exact shift of the motion (the drawing's is rounded to whole face pixels).
        store_landmarks(points, motion.crop_shift, side,
                        landmark_out + static_cast<size_t>(n) * 2 * kNumLandmarks);
      }
    }
  });
  return ds;
}

}  // namespace mer::data
