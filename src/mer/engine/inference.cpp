#include "mer/engine/inference.h"

#include "mer/core/error.h"
#include "mer/engine/explain.h"

namespace mer::engine {

models::ModelInputs checkpoint_inputs(const LoadedCheckpoint& checkpoint) {
  return models::ModelInputs::from_names(
      checkpoint.meta.value("inputs", std::vector<std::string>{"flow"}));
}

int64_t checkpoint_crop_side(const LoadedCheckpoint& checkpoint) {
  return checkpoint.meta.value("crop_side", int64_t{0});
}

namespace {

std::string side_text(int64_t side) { return std::to_string(side) + "x" + std::to_string(side); }

void check_crop(const torch::Tensor& crop, const char* what, int64_t batch, int64_t side) {
  if (!crop.defined()) {
    throw ConfigError(std::string("the model reads the ") + what +
                      " (see the checkpoint's inputs), which was not given");
  }
  if (crop.dim() != 4 || crop.size(0) != batch || crop.size(1) != 1) {
    throw ConfigError(std::string("the ") + what + " must be one grey crop per sample [" +
                      std::to_string(batch) + ", 1, C, C]");
  }
  if (side > 0 && (crop.size(2) != side || crop.size(3) != side)) {
    throw ConfigError(std::string("the model was trained on ") + side_text(side) + " " + what +
                      "s, given " + std::to_string(crop.size(3)) + "x" + std::to_string(crop.size(2)));
  }
}
}  // namespace

models::Batch checked_batch(const LoadedCheckpoint& checkpoint, const models::Batch& given) {
  const auto& flow = given.flow;
  if (!flow.defined() || flow.dim() != 4 || flow.size(1) != 3) {
    throw ConfigError("the model takes 3-channel motion maps [N, 3, S, S]");
  }
  const int64_t n = flow.size(0);
  const int64_t expected = checkpoint.meta.value("input_size", int64_t{0});
  if (flow.size(2) != expected || flow.size(3) != expected) {
    throw ConfigError("the model was trained on " + side_text(expected) + " motion maps, given " +
                      std::to_string(flow.size(3)) + "x" + std::to_string(flow.size(2)));
  }
  const auto inputs = checkpoint_inputs(checkpoint);
  const int64_t crop_side = checkpoint_crop_side(checkpoint);
  models::Batch batch;
  batch.flow = flow.to(torch::kFloat32).contiguous();
  if (inputs.apex_crop) {
    check_crop(given.face, "apex (face) crop", n, crop_side);
    batch.face = given.face.to(torch::kFloat32);
  }
  if (inputs.onset_crop) {
    check_crop(given.onset, "onset crop", n, crop_side);
    batch.onset = given.onset.to(torch::kFloat32);
  }
  if (inputs.landmarks) {
    // A model trained on landmarks falls back to its template face without them; a new clip
    // has its own, and the predictor finds them, so their absence is an error here.
    if (!given.landmarks.defined() || given.landmarks.sizes() != torch::IntArrayRef({n, 68, 2})) {
      throw ConfigError("the model reads each sample's 68 landmarks [" + std::to_string(n) +
                        ", 68, 2] in flow-map pixels, which were not given");
    }
    batch.landmarks = given.landmarks.to(torch::kFloat32);
  }
  if (inputs.action_units == models::ModelInputs::ActionUnits::kAlways) {
    if (!given.aus.defined() || given.aus.dim() != 2 || given.aus.size(0) != n) {
      throw ConfigError("the model reads the clip's FACS action units (an oracle input, e.g. "
                        "cva-fpf au=oracle), which were not given (mer predict: --aus)");
    }
    batch.aus = given.aus.to(torch::kFloat32);
  }
  return batch;
}

std::vector<std::string> checkpoint_class_names(const LoadedCheckpoint& checkpoint) {
  std::vector<std::string> names;
  const int64_t k = checkpoint.meta.value("num_classes", int64_t{0});
  if (checkpoint.meta.contains("class_names")) {
    names = checkpoint.meta["class_names"].get<std::vector<std::string>>();
  }
  for (auto i = static_cast<int64_t>(names.size()); i < k; ++i) {
    names.push_back("class " + std::to_string(i));
  }
  return names;
}

models::Output run_checkpoint(const LoadedCheckpoint& checkpoint, const models::Batch& given) {
  const auto batch = checked_batch(checkpoint, given);
  torch::NoGradGuard no_grad;
  checkpoint.model->eval();
  return checkpoint.model->forward(batch);
}

Inference infer(const LoadedCheckpoint& checkpoint, const models::Batch& given) {
  if (!given.flow.defined() || given.flow.dim() != 4 || given.flow.size(0) != 1) {
    throw ConfigError("infer takes one 3-channel motion map [1, 3, S, S]");
  }
  Inference out;
  out.class_names = checkpoint_class_names(checkpoint);
  const auto result = run_checkpoint(checkpoint, given);
  const auto probs = torch::softmax(result.logits, 1)[0].to(torch::kFloat64).contiguous();
  out.probabilities.assign(probs.data_ptr<double>(), probs.data_ptr<double>() + probs.size(0));
  out.prediction = probs.argmax().item<int64_t>();
  for (const auto& [name, tensor] : result.explain) out.explain[name] = tensor_to_json(tensor[0]);
  return out;
}

}  // namespace mer::engine
