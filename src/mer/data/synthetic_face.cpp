#include "mer/data/synthetic_face.h"

namespace mer::data::synth {

namespace {

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

}  // namespace

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

FaceGeometry template_geometry() { return geometry_from({}); }

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
    p[31 + j] =
        (1.0 - t) * base_left + t * base_right + Vec2{0.0, s * kNoseBaseDrop * std::sin(kPi * t)};
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
    const Vec2 ring[6] = {{e.x - rx, e.y}, {e.x - rx / 3.0, e.y - ry}, {e.x + rx / 3.0, e.y - ry},
                          {e.x + rx, e.y}, {e.x + rx / 3.0, e.y + ry}, {e.x - rx / 3.0, e.y + ry}};
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

void store_landmarks(const LandmarkPoints& points, Vec2 shift, int64_t side, float* out) {
  const double n = static_cast<double>(side);
  for (size_t j = 0; j < points.size(); ++j) {
    out[2 * j] = static_cast<float>((points[j].x + shift.x) * n - 0.5);
    out[2 * j + 1] = static_cast<float>((points[j].y + shift.y) * n - 0.5);
  }
}

namespace {

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

}  // namespace

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

}  // namespace mer::data::synth
