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
#include "mer/data/synthetic_motion.h"

namespace mer::data {

// The faces and random streams (synthetic_face.h), the motion (synthetic_motion.h).
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

constexpr double kMaxPixelValue = 255.0;  // flow maps are stored as 8-bit images

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
