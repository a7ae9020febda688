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
#include "mer/data/synthetic_face.h"

namespace mer::data {

// The faces and random streams (synthetic_face.h).
using namespace synth;

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

// Independent streams per purpose and per subject / sample, so that e.g. a subject's face does
// not change when samples_per_subject does.
enum Stream : uint64_t { kSubjectStream = 1, kLabelStream = 2, kSampleStream = 3 };

Random make_stream(uint64_t seed, Stream stream, uint64_t a = 0, uint64_t b = 0) {
  return Random(derive_seed(derive_seed(derive_seed(seed, stream), a), b));
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
  store_landmarks(landmarks_of(template_geometry()), {}, side, out.data_ptr<float>());
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
