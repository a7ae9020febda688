#pragma once
// Built-in synthetic micro-expression dataset, so that everything in mer (LOSO training,
// reports, inference) runs without the licensed databases.
//
// Each sample is an onset->apex motion map of a drawn face in the layout of the MEGC2019
// composite set: 3 channels (kFlowU, kFlowV, kFlowStrain of dataset.h, in the composite order),
// each min-max normalised per sample to 0..255 and rounded to integers (exactly what a PNG
// stores), 3 classes with the composite's labels (0 = negative, 1 = positive, 2 = surprise)
// in proportions of about 55% / 25% / 20%.
//
// The motion is built from facial-action-like local displacement fields whose position follows
// a per-subject face geometry: positive = lip corners pulled up and outward (+ cheek raise,
// lips part), negative = brows lowered and drawn together (+ lip corners down, nose wrinkle,
// lid tighten, fear's inner-brow raise and lip stretch), surprise = brows raised (+ upper lids
// raised, jaw drop). Classes share some cues, as real ones do. Nuisance factors unrelated to the
// class: per-subject style (amplitude, asymmetry, which sub-actions the subject uses), weak
// samples, rigid head motion (translation, in-plane rotation, zoom), eye blinks, random small
// local motions, per-clip crop misalignment and per-pixel flow noise. With the defaults
// STSTNet learns it under LOSO to a UF1 well above chance but clearly below 1 (about 0.75
// after 200 epochs at the paper's Adam lr 5e-5 with batch 256, about 0.9 with lr 1e-3).
//
// Determinism: the dataset is a pure function of the options. All randomness comes from mer's
// own splitmix64 generator (never std:: distributions or torch's RNG), the arithmetic is plain
// double precision without fused operations, and the result is rounded to integers, so the
// same options give a bitwise identical dataset on any machine. (The only inexact functions
// are libm's exp/log/cos/hypot; a last-ulp difference between C libraries could only show if
// a value fell within ~1e-13 of a rounding boundary.)
#include <torch/torch.h>

#include <cstdint>

#include "mer/data/dataset.h"

namespace mer::data {

struct SyntheticOptions {
  TORCH_ARG(int64_t, subjects) = 16;             // 1..999, named s01..sNN
  TORCH_ARG(int64_t, samples_per_subject) = 15;  // average; each subject varies by about 20%
  TORCH_ARG(int64_t, flow_size) = 28;            // side of the flow maps, 8..512
  TORCH_ARG(int64_t, face_size) = 224;           // side of the face drawings, 0 = no faces
  TORCH_ARG(uint64_t, seed) = 1;
  // Standard deviation of the per-pixel flow noise, in pixels of a 28x28 map (scaled with
  // flow_size so that the dataset is the same face at another resolution).
  TORCH_ARG(double, noise) = 0.1;
  // Scale of the expression (class) motion; the nuisance motions keep their size, so this
  // sets how easy the task is. 1 = the default difficulty.
  TORCH_ARG(double, intensity) = 1.0;
  // Number of dataset parts the subjects are spread over, like the databases of the MEGC2019
  // composite (for leave-one-database-out protocols): 1 = every subject in part "synth";
  // N > 1 = subject i (0-based) in part "synth<i mod N + 1>". The samples are the same either
  // way; only the part names (and with them the data's checksum) change.
  TORCH_ARG(int64_t, parts) = 1;

 public:  // TORCH_ARG leaves the access at private
  // Throws mer::ConfigError naming the option when a value is out of range.
  void validate() const;
};

// The synthetic dataset for `options` (validated first): dataset part "synth", subjects
// "s01".."sNN", samples "clip01".., flow_path "flow/synth_<subject>_<sample>.png", face_path
// "face/synth_<subject>_<sample>.jpg", root empty. flows: [N, 3, flow_size, flow_size] float32
// with integer values 0..255, every channel of every sample spanning exactly 0..255 unless it
// is constant (then all 0). faces: [N, face_size, face_size] uint8 grey drawing of the onset
// (neutral) face of the sample's subject, in the same geometry as the flow (the flow map is
// the face image scaled by flow_size / face_size); undefined when face_size is 0.
// landmarks: [N, 68, 2] in flow-map pixels (Dataset::landmarks), the iBUG 68-point layout of
// the subject's face geometry (the features the face is drawn from and the actions move: brows,
// eyes, nose, mouth corners; approximate curves between them) shifted with the sample's crop;
// they do not move with the expression (they are the onset face's). Computing them draws no
// random numbers, so the flows are those of a generator without landmarks.
Dataset make_synthetic(const SyntheticOptions& options = {});

// The landmarks of the generator's template face (scale 1, centred, no feature jitter) in
// pixels of a map of `side` (as Dataset::landmarks): [68, 2] float32. The subjects' faces
// vary around it; it follows the tight face crops of the MEGC2019 composite.
torch::Tensor template_landmarks(int64_t side);

// Ground truth for interpretability checks: per class (label order), the facial part its
// primary action moves (the action a sample of the class shows most often and most strongly):
// negative -> "brows" (brows lowered), positive -> "mouth" (lip corners pulled), surprise ->
// "brows" (brows raised). Part names are the coarse landmark groups jaw, brows, nose, eyes,
// mouth.
std::vector<std::string> synthetic_primary_parts();

// Ground truth per sample (dataset order of make_synthetic(options)): the facial part whose
// landmarks the sample's expression moves most: the part with the largest displacement, at
// any of its landmarks, of the expression's actions (distractors, head motion and noise
// excluded). Usually the class's primary part; not when a sample shows no primary action (a
// subject uses it in only a share of its samples) or another of its actions is stronger.
std::vector<std::string> synthetic_dominant_parts(const SyntheticOptions& options = {});

// Optical strain magnitude as used throughout mer (STSTNet eq. 5-7):
//   |e| = sqrt(ux^2 + vy^2 + 0.5 * (uy + vx)^2)
// with x along the last (width) axis, y along the first (height) axis, derivatives in units
// of pixels by central differences in the interior and one-sided differences at the border
// (0 along an axis of length 1). u, v: [H, W] floating tensors of the same shape and dtype;
// returns [H, W] of that dtype. Uses only correctly rounded elementwise operations, so the
// result does not depend on the CPU's vector width.
torch::Tensor optical_strain(const torch::Tensor& u, const torch::Tensor& v);

}  // namespace mer::data
