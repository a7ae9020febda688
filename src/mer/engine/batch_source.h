#pragma once
// Mini-batches of a dataset as models see them (models::Batch): the flows, labels and, where
// the dataset has them, the landmarks, face crops, onset crops and AU vectors, all on one
// device.
#include "mer/data/dataset.h"
#include "mer/models/model_spec.h"

namespace mer::engine {

// What the dataset offers beyond the flow maps, for fitting a model's options to it.
models::DataTraits data_traits(const data::Dataset& dataset);

class BatchSource {
 public:
  // Copies what the dataset has to `device` once (crops stay uint8 there until gathered).
  BatchSource(const data::Dataset& dataset, torch::Device device);
  // The samples at `indices` ([n] int64 on any device). Labels only when with_labels (an
  // inference batch carries none). Crops come as [n, 1, C, C] float32 0..255.
  models::Batch gather(const torch::Tensor& indices, bool with_labels) const;

 private:
  torch::Device device_;
  torch::Tensor flows_, labels_, landmarks_, faces_, onsets_, aus_;
};

}  // namespace mer::engine
