#pragma once
// From one prepared clip (face/clip_preprocessor.h) to the batch a trained model reads: every
// input its checkpoint declares (flow map, apex and onset crops, landmarks, AUs), built the
// way `mer prepare` stores them and `mer loso` reads them back, so that a model sees a new
// clip exactly as it saw its training data.
#include <string>
#include <vector>

#include "mer/engine/checkpoint.h"
#include "mer/face/clip_preprocessor.h"
#include "mer/models/model_spec.h"

namespace mer::predict {

struct ClipBatchOptions {
  // Side of the crops the model was trained on (checkpoint "crop_side"); 0 = as prepared.
  TORCH_ARG(int64_t, crop_side) = 0;
  // > 0: the crops pass through the JPEG coding at this quality, as `mer prepare` stores
  // them (its manifest's jpeg_quality), so that their pixels equal the training data's.
  TORCH_ARG(int, jpeg_quality) = 0;
  // The clip's FACS action units as a 21-vector (data/action_units.h order), or empty.
  TORCH_ARG(std::vector<float>, action_units) = {};
};

// The inputs `inputs` names, as a batch of one: flow [1, 3, S, S] (the stored 0..255 values,
// prepared-dataset channel order), face/onset [1, 1, C, C] float 0..255 grey, landmarks
// [1, 68, 2] in flow-map pixels (rounded to the 0.01 crop pixel landmarks.csv stores), aus
// [1, 21]. Inputs not named stay undefined.
models::Batch clip_batch(const face::PreparedClip& clip, const models::ModelInputs& inputs,
                         const ClipBatchOptions& options = {});

// "1,2,12" or "1+2+12" (AU numbers, as the sheets write them) -> the 21-vector. Throws
// ConfigError naming an AU outside data::kActionUnitList.
std::vector<float> action_unit_vector(const std::string& text);

// How to prepare a clip for `checkpoint`: the preprocessing its training data was prepared
// with (recorded manifest), else `mer prepare`'s defaults; the motion map at the checkpoint's
// input size either way. `jpeg_quality` receives the crops' JPEG quality (0: not known).
face::ClipPreprocessorOptions preprocessing_for(const engine::LoadedCheckpoint& checkpoint,
                                                int* jpeg_quality = nullptr);

}  // namespace mer::predict
