#pragma once
// The motion of the synthetic dataset (synthetic.h): facial actions named after the action
// units they imitate, each subject's style of moving, a sample's apex displacement (Gaussian
// blobs of skin motion, distractors and a rigid head motion) and its rendering as a flow
// field. Internal to the generator (synthetic.cpp), beside the faces (synthetic_face.h).
#include <cstdint>
#include <vector>

#include "mer/data/synthetic_face.h"

namespace mer::data::synth {

// Motion amplitudes and the noise are given in pixels of a map of this side and scaled to the
// requested flow size, so that another resolution shows the same face motion.
constexpr double kReferenceSide = 28.0;

// One blob of smooth local motion: displacement `d` (reference pixels) at `at`, falling off
// as a Gaussian of `sigma` (normalised units of the template, scaled per subject).
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

// The actions an expression of each class is made of; the first is the class's primary action.
// base_use: how likely a typical subject shows the action in a sample of that class. The
// classes share motion cues on purpose, as the real ones do: "negative" includes fear (inner
// brows raised, lips stretched outward), "positive" may part the lips like a small jaw drop.
struct ActionUse {
  Action action;
  double base_use;
};
const std::vector<std::vector<ActionUse>>& class_actions();  // [class][action]

// Per-subject style: how strongly and how asymmetrically the subject moves, which sub-actions
// the subject tends to use, how often the subject blinks and how much the head moves.
struct SubjectStyle {
  double amplitude = 1.0;
  double asymmetry = 0.0;                // > 0: image-left side moves more
  std::vector<std::vector<double>> use;  // [class][action] probability of use
  double blink_rate = 0.0;
  double head_motion = 1.0;
};
SubjectStyle make_style(Random& rng);

struct HeadMotion {
  Vec2 translation;  // reference pixels
  double rotation = 0.0;
  double zoom = 0.0;
};

// The apex displacement of one sample.
struct SampleMotion {
  std::vector<Blob> blobs;
  HeadMotion head;
  Vec2 head_center;  // centre of the rotation and zoom: the (shifted) face centre
  Vec2 crop_shift;   // per-clip crop misalignment already applied to the blobs
};
// A sample of class `label` of a subject with face `g` and style `st`; `intensity` scales the
// expression (SyntheticOptions::intensity).
SampleMotion make_motion(Random& rng, int64_t label, const FaceGeometry& g, const SubjectStyle& st,
                         double intensity);

// Renders the displacement field of `m` on a side x side grid (pixel centres), in pixels of
// that grid, plus iid Gaussian noise of `noise` reference pixels. u, v: row-major [side * side].
void render_flow(const SampleMotion& m, int64_t side, double noise, Random& rng,
                 std::vector<double>& u, std::vector<double>& v);

}  // namespace mer::data::synth
