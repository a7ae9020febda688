#pragma once
// The faces of the synthetic dataset (synthetic.h): a subject's face geometry drawn around a
// template, its 68 landmarks, and the grey-level drawing of the face; plus the random streams
// the whole generator draws from. Internal to the generator (synthetic.cpp).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "mer/core/rng.h"
#include "mer/data/dataset.h"

namespace mer::data::synth {

constexpr double kPi = 3.14159265358979323846;

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

// Face geometry, in image coordinates normalised to [0, 1] (x right, y down), shared by the
// face drawing and the flow map. Index 0 of a pair is the image-left feature.
struct Vec2 {
  double x = 0.0;
  double y = 0.0;
};
inline Vec2 operator+(Vec2 a, Vec2 b) { return {a.x + b.x, a.y + b.y}; }
inline Vec2 operator-(Vec2 a, Vec2 b) { return {a.x - b.x, a.y - b.y}; }
inline Vec2 operator*(double s, Vec2 a) { return {s * a.x, s * a.y}; }
inline double dot(Vec2 a, Vec2 b) { return a.x * b.x + a.y * b.y; }
inline double norm(Vec2 a) { return std::sqrt(dot(a, a)); }

// Outward x direction of side k (0 = image-left, 1 = image-right).
inline double outward(int k) { return k == 0 ? -1.0 : 1.0; }

struct FaceGeometry {
  double scale = 1.0;  // face size relative to the template
  Vec2 face_center;
  Vec2 face_radii;
  std::array<Vec2, 2> brow_inner, brow_outer, eye, nostril, mouth_corner;
  Vec2 eye_radii;
  Vec2 nose_top, nose_tip, mouth_center, chin;
};

// A subject's face: the template with a drawn scale, offset and feature jitter.
FaceGeometry make_geometry(Random& rng);
// The template face itself (no deviation).
FaceGeometry template_geometry();

// The 68 landmarks of a face geometry in the iBUG 300-W order (normalised units).
using LandmarkPoints = std::array<Vec2, kNumLandmarks>;
LandmarkPoints landmarks_of(const FaceGeometry& g);

// Writes `points` shifted by `shift` (normalised) as flow-map pixel coordinates of a map of
// `side` (pixel centres at integers) to out[0..135].
void store_landmarks(const LandmarkPoints& points, Vec2 shift, int64_t side, float* out);

// The face drawn in grey levels on a side x side image (row-major).
std::vector<uint8_t> draw_face(const FaceGeometry& g, int64_t side);

// Copies the side x side image `img` shifted by `shift` (normalised units, rounded to whole
// pixels) to `out`; uncovered pixels get the background grey.
void shift_image(const std::vector<uint8_t>& img, int64_t side, Vec2 shift, uint8_t* out);

}  // namespace mer::data::synth
