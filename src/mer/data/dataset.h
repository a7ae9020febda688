#pragma once
// A prepared micro-expression dataset in memory: one onset->apex motion map per sample plus
// the identity (dataset part, subject) that LOSO folds are built from.
//
// On disk it is a folder with labels.csv (dataset,subject,sample,label,emotion,flow,face[,...])
// and the files it names: exactly the layout of the MEGC2019 composite distribution
// (prepared_io.h reads and writes it).
#include <torch/torch.h>

#include <string>
#include <vector>

namespace mer::data {

struct SampleInfo {
  std::string dataset;    // part of a composite, e.g. "casme2", "samm", "smic", "synth"
  std::string subject;    // unique within its dataset part
  std::string sample;     // clip name, unique within (dataset, subject)
  int64_t label = -1;     // class index into Dataset::class_names
  std::string emotion;    // class name as written in labels.csv
  std::string flow_path;  // relative to the dataset root, as in labels.csv
  std::string face_path;  // relative to the dataset root, as in labels.csv

  // LOSO fold identity: one fold per (dataset, subject).
  std::string fold_key() const { return dataset + "/" + subject; }
};

// Channel indices of the motion maps (Dataset::flows, Batch::flow, flow PNGs as OpenCV reads
// them).
constexpr int64_t kFlowStrain = 0;  // optical strain magnitude
constexpr int64_t kFlowV = 1;       // vertical flow
constexpr int64_t kFlowU = 2;       // horizontal flow

struct Dataset {
  std::string root;                      // folder read from; empty for an in-memory dataset
  std::vector<std::string> class_names;  // index = label
  std::vector<SampleInfo> samples;
  // [N, 3, S, S] float32 with the stored 0..255 values, channels in OpenCV's BGR file order:
  // kFlowStrain, kFlowV, kFlowU (the MEGC2019 composite's files hold u, v, strain in RGB
  // order; measured against our own TV-L1 maps of the same clips). Integral values: a
  // dataset written and read back is identical.
  torch::Tensor flows;
  // Optional [N, H, W] uint8 grey face crops (synthetic data fills it; read_prepared fills it
  // only when asked for crops, with the apex crop that face_path names).
  torch::Tensor faces;
  // Optional [N, 68, 2] float32 facial landmarks of each sample (the iBUG 68-point layout:
  // jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67) as (x, y) in flow-map pixel
  // coordinates: the centre of the flow pixel in row i, column j is (x, y) = (j, i), so the
  // map spans [-0.5, S - 0.5] on both axes (OpenCV's and dlib's convention). Points may lie
  // slightly outside the map. Filled by the synthetic generator, by read_prepared from a
  // landmarks file (data/landmarks_io.h), or undefined.
  torch::Tensor landmarks;
  // Optional [N, H, W] uint8 grey aligned onset crops, same size as faces (read_prepared with
  // crops, from the onset_face column of a `mer prepare` folder). Undefined on flow-only data.
  torch::Tensor onsets;
  // Optional [N, 21] float32 0/1 Action Unit vectors in kActionUnitList order (action_units.h),
  // from the au1..au45 columns of a `mer prepare` labels.csv. Undefined when the data has none.
  torch::Tensor aus;

  int64_t size() const { return static_cast<int64_t>(samples.size()); }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  int64_t flow_side() const { return flows.defined() ? flows.size(-1) : 0; }
  torch::Tensor labels() const;                    // [N] int64
  std::vector<std::string> parts() const;          // distinct dataset parts, first-seen order
  std::vector<std::string> fold_keys() const;      // distinct (dataset/subject), sorted
  // Content hash (hex) of the sample list, labels and flow values; written into results so
  // that figures can be traced to the exact data they came from.
  std::string checksum() const;
  // Content hash (hex) of the landmark values; empty when landmarks is undefined. Kept apart
  // from checksum() so that adding landmarks to a dataset does not change the identity of
  // its flows (runs of models that ignore landmarks stay valid).
  std::string landmarks_checksum() const;
  // Throws DataError if the in-memory invariants do not hold (sizes, labels in range,
  // duplicate samples, landmarks of the wrong shape, dtype or with non-finite values).
  void validate() const;
};

// Number of points of the landmark layout of Dataset::landmarks.
inline constexpr int64_t kNumLandmarks = 68;

// The samples of the given dataset parts only (e.g. {"casme2"} of the MEGC2019 composite, to
// train and test on CASME II alone), in their order, with their flows and faces; class names
// and labels unchanged. Throws DataError naming the parts the dataset has when a part given
// has no sample, or when `parts` is empty.
Dataset select_parts(const Dataset& dataset, const std::vector<std::string>& parts);

// The MEGC2019 composite class names, label order 0, 1, 2.
std::vector<std::string> megc2019_class_names();

}  // namespace mer::data
