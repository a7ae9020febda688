#pragma once
// The Python module `mer` (python/mer/_mer): one bind_* function per part of the library,
// each in its own file, called by module.cpp. Tensors cross as torch.Tensor (torch's own
// pybind11 casters over the same LibTorch, no copies); JSON results cross as dicts.
#include <torch/extension.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "mer/engine/data_source.h"

namespace mer::python {

namespace py = pybind11;

// mer.Dataset: an opened dataset with what results record about it (its label, landmarks'
// source, preprocessing), so that a LOSO on it records what `mer loso` would.
struct DatasetHandle {
  engine::OpenedData opened;
};

void bind_errors(py::module_& m);
void bind_data(py::module_& m);
void bind_models(py::module_& m);
void bind_engine(py::module_& m);
#ifdef MER_WITH_VISION
void bind_predict(py::module_& m);
#endif

// nlohmann::json <-> Python (dict, list, str, int, float, bool, None).
py::object to_python(const nlohmann::json& value);
nlohmann::json from_python(const py::handle& value);

// {"key": value} with values given as str, int, float or bool -> the "key=value" text form of
// --model-opt (booleans as true/false).
std::map<std::string, std::string> option_texts(const py::dict& options);

}  // namespace mer::python
