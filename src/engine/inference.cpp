#include "engine/inference.h"

#include "core/error.h"
#include "engine/explain.h"

namespace mer::engine {

Inference infer(const LoadedCheckpoint& checkpoint, const torch::Tensor& flow) {
  MER_CHECK(flow.defined() && (flow.dim() == 3 || flow.dim() == 4),
            "infer needs a [3, S, S] or [1, 3, S, S] flow tensor");
  auto batch = flow.dim() == 3 ? flow.unsqueeze(0) : flow;
  MER_CHECK(batch.size(0) == 1 && batch.size(1) == 3, "infer takes one 3-channel motion map");
  const int64_t expected = checkpoint.meta.value("input_size", int64_t{0});
  if (batch.size(2) != expected || batch.size(3) != expected) {
    throw ConfigError("the model was trained on " + std::to_string(expected) + "x" +
                      std::to_string(expected) + " motion maps, given " +
                      std::to_string(batch.size(3)) + "x" + std::to_string(batch.size(2)));
  }
  Inference out;
  const int64_t k = checkpoint.meta.value("num_classes", int64_t{0});
  if (checkpoint.meta.contains("class_names")) {
    out.class_names = checkpoint.meta["class_names"].get<std::vector<std::string>>();
  }
  for (auto i = static_cast<int64_t>(out.class_names.size()); i < k; ++i) {
    out.class_names.push_back("class " + std::to_string(i));
  }
  torch::NoGradGuard no_grad;
  checkpoint.model->eval();
  const auto result = checkpoint.model->forward({batch.to(torch::kFloat32).contiguous(), {}});
  const auto probs = torch::softmax(result.logits, 1)[0].to(torch::kFloat64).contiguous();
  out.probabilities.assign(probs.data_ptr<double>(), probs.data_ptr<double>() + probs.size(0));
  out.prediction = probs.argmax().item<int64_t>();
  for (const auto& [name, tensor] : result.explain) out.explain[name] = tensor_to_json(tensor[0]);
  return out;
}

}  // namespace mer::engine
