#pragma once
// Training-time augmentation: left-right mirroring of whole training samples. A mirrored
// sample is the same expression filmed in a mirror: its flow map flipped left-right with the
// horizontal flow negated, its landmarks flipped and relabelled (a left eye corner becomes the
// right eye's), its face crops flipped. Only training batches are mirrored; predictions never
// are. Which samples a fold mirrors comes from the fold's own random stream, so a fold draws
// the same mirrors trained alone or stacked with others.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "mer/core/rng.h"
#include "mer/models/model.h"

namespace mer::engine {

// The --augment choices: none, or flip (each training sample mirrored with probability 1/2,
// drawn anew every epoch).
const std::vector<std::string>& augment_names();
// Throws ConfigError naming the choices when `name` is not one of them.
void check_augment(const std::string& name);

// Landmark i of the iBUG 68-point layout maps to landmark mirrored_landmark_order()[i] of
// the mirror image (an involution: jaw 0 <-> 16, outer eye corners 36 <-> 45, ...).
const std::array<int64_t, 68>& mirrored_landmark_order();

// Replaces the samples of `batch` whose `flip` entry ([B] bool, on the batch's device) is true
// by their mirror images. The horizontal flow becomes (min + max) - u per sample: exactly the
// map of -u under the per-sample min-max normalisation of stored flow maps (0..255), so a
// mirrored map is one the data could hold. Landmarks x -> (S - 1) - x (pixel-centre
// coordinates of an S-wide map) in mirrored order; AU vectors are left as they are.
void mirror_samples(models::Batch& batch, const torch::Tensor& flip);

// Which of the next n training samples to mirror ([n] bool, CPU): one draw per sample.
torch::Tensor draw_flips(SplitMix64& rng, int64_t n);

// The seed of a fold's augmentation stream, from the run's seed and the fold's position
// among all folds (as the fold's other seeds).
uint64_t augment_seed(uint64_t run_seed, int64_t fold_index);

}  // namespace mer::engine
