#include "mer/data/dataset.h"

#include <algorithm>
#include <map>
#include <set>

#include "mer/core/checksum.h"
#include "mer/core/error.h"
#include "mer/core/utf8.h"

namespace mer::data {

std::vector<std::string> megc2019_class_names() { return {"negative", "positive", "surprise"}; }

torch::Tensor Dataset::labels() const {
  auto out = torch::empty({size()}, torch::kInt64);
  auto* p = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < size(); ++i) p[i] = samples[i].label;
  return out;
}

std::vector<std::string> Dataset::parts() const {
  std::vector<std::string> out;
  for (const auto& s : samples) {
    if (std::find(out.begin(), out.end(), s.dataset) == out.end()) out.push_back(s.dataset);
  }
  return out;
}

std::vector<std::string> Dataset::fold_keys() const {
  std::set<std::string> keys;
  for (const auto& s : samples) keys.insert(s.fold_key());
  return {keys.begin(), keys.end()};
}

std::string Dataset::checksum() const {
  Fnv1a hash;
  for (const auto& name : class_names) hash.update(name + "\n");
  for (const auto& s : samples) {
    hash.update(s.dataset + "," + s.subject + "," + s.sample + "," + std::to_string(s.label) +
                "\n");
  }
  if (flows.defined()) {
    const auto contiguous = flows.contiguous();
    hash.update(contiguous.data_ptr(), contiguous.numel() * contiguous.element_size());
  }
  return hash.hex();
}

std::string Dataset::landmarks_checksum() const {
  if (!landmarks.defined()) return "";
  Fnv1a hash;
  const auto contiguous = landmarks.contiguous();
  hash.update(contiguous.data_ptr(), contiguous.numel() * contiguous.element_size());
  return hash.hex();
}

void Dataset::validate() const {
  const std::string where = root.empty() ? std::string("in-memory dataset") : root;
  if (samples.empty()) throw DataError(where + ": no samples");
  if (class_names.size() < 2) throw DataError(where + ": fewer than 2 classes");
  if (!flows.defined() || flows.dim() != 4 || flows.size(0) != size() || flows.size(1) != 3 ||
      flows.size(2) != flows.size(3) || flows.scalar_type() != torch::kFloat32) {
    throw DataError(where + ": flows must be a float32 tensor [N, 3, S, S] with N = " +
                    std::to_string(size()));
  }
  // Names and paths go into run.json, checkpoints, caches and predictions: refused here,
  // before any training, rather than when the first result is written.
  for (size_t k = 0; k < class_names.size(); ++k) {
    if (!is_valid_utf8(class_names[k])) {
      throw DataError(where + ": class name " + std::to_string(k) +
                      " is not valid UTF-8 (save the labels file as UTF-8)");
    }
  }
  std::set<std::string> seen;
  for (const auto& s : samples) {
    for (const auto* text : {&s.dataset, &s.subject, &s.sample, &s.emotion, &s.flow_path, &s.face_path}) {
      if (!is_valid_utf8(*text)) {
        throw DataError(where + ": a name or path of sample " + std::to_string(&s - samples.data()) +
                        " is not valid UTF-8 (save the labels file as UTF-8)");
      }
    }
    if (s.label < 0 || s.label >= num_classes()) {
      throw DataError(where + ": sample " + s.fold_key() + "/" + s.sample + " has label " +
                      std::to_string(s.label) + " outside 0.." +
                      std::to_string(num_classes() - 1));
    }
    if (!seen.insert(s.fold_key() + "/" + s.sample).second) {
      throw DataError(where + ": duplicate sample " + s.fold_key() + "/" + s.sample);
    }
  }
  if (faces.defined() && (faces.dim() != 3 || faces.size(0) != size())) {
    throw DataError(where + ": faces must be [N, H, W] with N = " + std::to_string(size()));
  }
  if (landmarks.defined()) {
    if (landmarks.dim() != 3 || landmarks.size(0) != size() || landmarks.size(1) != kNumLandmarks ||
        landmarks.size(2) != 2 || landmarks.scalar_type() != torch::kFloat32) {
      throw DataError(where + ": landmarks must be a float32 tensor [N, 68, 2] with N = " +
                      std::to_string(size()));
    }
    if (!torch::isfinite(landmarks).all().item<bool>()) {
      throw DataError(where + ": landmarks hold non-finite values");
    }
  }
  if (onsets.defined() &&
      (!faces.defined() || onsets.sizes() != faces.sizes() || onsets.dtype() != faces.dtype())) {
    throw DataError(where + ": onsets must have the shape and type of faces [N, H, W]");
  }
  if (aus.defined() && (aus.dim() != 2 || aus.size(0) != size() || aus.size(1) != 21 ||
                        aus.scalar_type() != torch::kFloat32)) {
    throw DataError(where + ": aus must be float32 [N, 21] with N = " + std::to_string(size()));
  }
}

Dataset select_parts(const Dataset& dataset, const std::vector<std::string>& parts) {
  const auto have = dataset.parts();
  std::string known;
  for (const auto& p : have) known += (known.empty() ? "" : ", ") + p;
  const std::string where = dataset.root.empty() ? std::string("dataset") : dataset.root;
  if (parts.empty()) throw DataError(where + ": no dataset part selected (it has " + known + ")");
  for (const auto& p : parts) {
    if (std::find(have.begin(), have.end(), p) == have.end()) {
      throw DataError(where + " has no part '" + p + "' (it has " + known + ")");
    }
  }
  Dataset out;
  out.root = dataset.root;
  out.class_names = dataset.class_names;
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    const auto& s = dataset.samples[static_cast<size_t>(i)];
    if (std::find(parts.begin(), parts.end(), s.dataset) == parts.end()) continue;
    keep.push_back(i);
    out.samples.push_back(s);
  }
  const auto index = torch::tensor(keep, torch::kInt64);
  if (dataset.flows.defined()) out.flows = dataset.flows.index_select(0, index).contiguous();
  if (dataset.faces.defined()) out.faces = dataset.faces.index_select(0, index).contiguous();
  if (dataset.onsets.defined()) out.onsets = dataset.onsets.index_select(0, index).contiguous();
  if (dataset.aus.defined()) out.aus = dataset.aus.index_select(0, index).contiguous();
  return out;
}

}  // namespace mer::data
