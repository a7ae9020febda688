// mer's exceptions as Python exceptions with the same message: MerError (a RuntimeError) and
// its kinds DataError, ConfigError (also a ValueError), CheckpointError, IoError.
#include "bindings.h"
#include "mer/core/atomic_file.h"
#include "mer/core/error.h"

namespace mer::python {

void bind_errors(py::module_& m) {
  // pybind11 tries translators newest first: the base class is registered before its kinds.
  static py::exception<mer::Error> base(m, "MerError", PyExc_RuntimeError);
  py::register_exception<mer::DataError>(m, "DataError", base.ptr());
  py::register_exception<mer::CheckpointError>(m, "CheckpointError", base.ptr());
  py::register_exception<mer::IoError>(m, "IoError", base.ptr());
  // ConfigError: a bad argument, so also catchable as ValueError.
  const py::tuple config_bases = py::make_tuple(base, py::handle(PyExc_ValueError));
  // Kept for the interpreter's lifetime (never released, like pybind11's own exceptions).
  static PyObject* config_error =
      PyErr_NewException("mer._mer.ConfigError", config_bases.ptr(), nullptr);
  m.attr("ConfigError") = py::handle(config_error);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const mer::ConfigError& e) {
      PyErr_SetString(config_error, e.what());
    }
  });
}

}  // namespace mer::python
