#include "mer/engine/explain.h"

#include <cmath>

#include "mer/core/error.h"
#include "mer/engine/batch_source.h"

namespace mer::engine {

nlohmann::json explanation_schema(const models::ModelSpec& spec) {
  nlohmann::json schema = nlohmann::json::object();
  for (const auto& e : spec.explanations) schema[e.name] = models::explanation_kind_name(e.kind);
  return schema;
}

std::string sample_key(const data::SampleInfo& sample) {
  return sample.dataset + "/" + sample.subject + "/" + sample.sample;
}

nlohmann::json tensor_to_json(const torch::Tensor& tensor, double round_to) {
  const auto t = tensor.detach().to(torch::kCPU).to(torch::kFloat64).contiguous();
  if (t.dim() == 0) {
    // Divide by an exact integer scale: the result is then the double nearest the decimal,
    // which JSON prints short (0.6988, not 0.6988000000000001).
    const double scale = std::round(1.0 / round_to);
    return std::round(t.item<double>() * scale) / scale;
  }
  nlohmann::json out = nlohmann::json::array();
  for (int64_t i = 0; i < t.size(0); ++i) out.push_back(tensor_to_json(t[i], round_to));
  return out;
}

torch::Tensor tensor_from_json(const nlohmann::json& json) {
  if (json.is_number()) return torch::tensor(json.get<double>(), torch::kFloat32);
  MER_CHECK(json.is_array() && !json.empty(), "explanation tensors are non-empty nested arrays");
  std::vector<torch::Tensor> rows;
  for (const auto& row : json) rows.push_back(tensor_from_json(row));
  return torch::stack(rows);
}

nlohmann::json explain_fold(const models::ModelPtr& model, const data::Dataset& dataset,
                            const FoldOutcome& outcome, int64_t model_epoch) {
  if (outcome.samples.empty()) return nullptr;
  torch::NoGradGuard no_grad;
  model->eval();
  const auto device = model->parameters().empty() ? torch::Device(torch::kCPU)
                                                  : model->parameters().front().device();
  const auto idx = torch::tensor(outcome.samples, torch::kInt64);
  const auto out = model->forward(BatchSource(dataset, device).gather(idx, /*with_labels=*/false));
  if (out.explain.empty()) return nullptr;
  nlohmann::json samples = nlohmann::json::array();
  for (size_t i = 0; i < outcome.samples.size(); ++i) {
    const auto& info = dataset.samples[outcome.samples[i]];
    nlohmann::json values;
    for (const auto& [name, tensor] : out.explain) values[name] = tensor_to_json(tensor[i]);
    samples.push_back({{"key", sample_key(info)},
                       {"index", outcome.samples[i]},
                       {"label", info.label},
                       {"prediction", outcome.predictions[i]},
                       {"explain", values}});
  }
  nlohmann::json result = {{"fold", outcome.key}, {"model_epoch", model_epoch}, {"samples", samples}};
  const auto info = model->explain_info();
  if (!info.is_null()) result["model_info"] = info;
  return result;
}

}  // namespace mer::engine
