#include "mer/engine/batch_source.h"

namespace mer::engine {

models::DataTraits data_traits(const data::Dataset& dataset) {
  models::DataTraits traits;
  traits.faces = dataset.faces.defined();
  traits.onsets = dataset.onsets.defined();
  traits.aus = dataset.aus.defined();
  return traits;
}

BatchSource::BatchSource(const data::Dataset& dataset, torch::Device device) : device_(device) {
  flows_ = dataset.flows.to(device_);
  labels_ = dataset.labels().to(device_);
  if (dataset.landmarks.defined()) landmarks_ = dataset.landmarks.to(device_);
  if (dataset.faces.defined()) faces_ = dataset.faces.to(device_);
  if (dataset.onsets.defined()) onsets_ = dataset.onsets.to(device_);
  if (dataset.aus.defined()) aus_ = dataset.aus.to(device_);
}

models::Batch BatchSource::gather(const torch::Tensor& indices, bool with_labels) const {
  const auto idx = indices.to(device_);
  auto crops = [&](const torch::Tensor& all) {
    return all.defined() ? all.index_select(0, idx).unsqueeze(1).to(torch::kFloat32)
                         : torch::Tensor();
  };
  models::Batch batch;
  batch.flow = flows_.index_select(0, idx);
  if (with_labels) batch.labels = labels_.index_select(0, idx);
  if (landmarks_.defined()) batch.landmarks = landmarks_.index_select(0, idx);
  batch.face = crops(faces_);
  batch.onset = crops(onsets_);
  if (aus_.defined()) batch.aus = aus_.index_select(0, idx);
  return batch;
}

}  // namespace mer::engine
