// mer.Dataset: a prepared folder, a `mer cache` file or the built-in synthetic set, with its
// tensors as torch.Tensor views of mer's own memory.
#include <optional>

#include "bindings.h"
#include "mer/data/synthetic.h"

namespace mer::python {

namespace {

std::optional<torch::Tensor> optional_tensor(const torch::Tensor& t) {
  if (!t.defined()) return std::nullopt;
  return t;
}

DatasetHandle open_folder(const std::string& path, const std::string& landmarks,
                          const std::vector<std::string>& parts, bool crops) {
  py::gil_scoped_release release;
  return {engine::open_dataset(
      engine::DataSourceOptions().path(path).landmarks(landmarks).parts(parts).crops(crops))};
}

DatasetHandle open_synthetic(int64_t subjects, int64_t samples_per_subject, int64_t flow_size,
                             int64_t face_size, uint64_t seed, double noise, double intensity) {
  auto synthetic = data::SyntheticOptions()
                       .subjects(subjects)
                       .samples_per_subject(samples_per_subject)
                       .flow_size(flow_size)
                       .face_size(face_size)
                       .seed(seed)
                       .noise(noise)
                       .intensity(intensity);
  py::gil_scoped_release release;
  return {engine::open_dataset(engine::DataSourceOptions().synthetic(synthetic))};
}

py::dict sample_columns(const data::Dataset& d) {
  py::list dataset, subject, sample, fold, label, emotion, flow_path, face_path;
  for (const auto& s : d.samples) {
    dataset.append(s.dataset);
    subject.append(s.subject);
    sample.append(s.sample);
    fold.append(s.fold_key());
    label.append(s.label);
    emotion.append(s.emotion);
    flow_path.append(s.flow_path);
    face_path.append(s.face_path);
  }
  py::dict columns;
  columns["dataset"] = dataset;
  columns["subject"] = subject;
  columns["sample"] = sample;
  columns["fold"] = fold;
  columns["label"] = label;
  columns["emotion"] = emotion;
  columns["flow_path"] = flow_path;
  columns["face_path"] = face_path;
  return columns;
}

}  // namespace

void bind_data(py::module_& m) {
  py::class_<DatasetHandle>(m, "Dataset", R"(A micro-expression dataset in memory.

mer.Dataset(path, landmarks="", parts=None, crops=False) reads a prepared folder (labels.csv
and the files it names, e.g. the MEGC2019 composite or a `mer prepare` output) or a dataset
cache (.pt); mer.Dataset.synthetic(...) builds the built-in synthetic set. Tensors share
mer's memory: flows [N, 3, S, S] float32 (channels strain, v, u as stored, 0..255), labels
[N] int64, and where present landmarks [N, 68, 2], faces and onsets [N, H, W] uint8, aus
[N, 21].)")
      .def(py::init(&open_folder), py::arg("path"), py::arg("landmarks") = "",
           py::arg("parts") = std::vector<std::string>{}, py::arg("crops") = false)
      .def_static("synthetic", &open_synthetic, py::arg("subjects") = 16,
                  py::arg("samples_per_subject") = 15, py::arg("flow_size") = 28,
                  py::arg("face_size") = 224, py::arg("seed") = 1, py::arg("noise") = 0.1,
                  py::arg("intensity") = 1.0,
                  "The built-in synthetic set (what `mer loso` uses without --data).")
      .def("__len__", [](const DatasetHandle& h) { return h.opened.dataset.size(); })
      .def("__repr__",
           [](const DatasetHandle& h) {
             const auto& d = h.opened.dataset;
             return "<mer.Dataset " + h.opened.label + ": " + std::to_string(d.size()) +
                    " samples, " + std::to_string(d.fold_keys().size()) + " subjects, " +
                    std::to_string(d.num_classes()) + " classes>";
           })
      .def_property_readonly("flows", [](const DatasetHandle& h) { return h.opened.dataset.flows; })
      .def_property_readonly("labels", [](const DatasetHandle& h) { return h.opened.dataset.labels(); })
      .def_property_readonly("landmarks",
                             [](const DatasetHandle& h) { return optional_tensor(h.opened.dataset.landmarks); })
      .def_property_readonly("faces", [](const DatasetHandle& h) { return optional_tensor(h.opened.dataset.faces); })
      .def_property_readonly("onsets", [](const DatasetHandle& h) { return optional_tensor(h.opened.dataset.onsets); })
      .def_property_readonly("aus", [](const DatasetHandle& h) { return optional_tensor(h.opened.dataset.aus); })
      .def_property_readonly("class_names", [](const DatasetHandle& h) { return h.opened.dataset.class_names; })
      .def_property_readonly("subjects",
                             [](const DatasetHandle& h) {
                               std::vector<std::string> keys;
                               for (const auto& s : h.opened.dataset.samples) keys.push_back(s.fold_key());
                               return keys;
                             },
                             "Each sample's subject as its LOSO fold key (dataset/subject).")
      .def_property_readonly("fold_keys", [](const DatasetHandle& h) { return h.opened.dataset.fold_keys(); })
      .def_property_readonly("parts", [](const DatasetHandle& h) { return h.opened.dataset.parts(); })
      .def_property_readonly("samples", [](const DatasetHandle& h) { return sample_columns(h.opened.dataset); },
                             "Per-sample columns (dataset, subject, sample, fold, label, emotion, "
                             "flow_path, face_path): pandas.DataFrame(ds.samples).")
      .def_property_readonly("label", [](const DatasetHandle& h) { return h.opened.label; },
                             "How results name this data (its path, or the synthetic set's settings).")
      .def_property_readonly("is_synthetic", [](const DatasetHandle& h) { return h.opened.synthetic; })
      .def_property_readonly("checksum", [](const DatasetHandle& h) { return h.opened.dataset.checksum(); })
      .def_property_readonly("preprocessing",
                             [](const DatasetHandle& h) { return to_python(h.opened.preprocessing); });
}

}  // namespace mer::python
