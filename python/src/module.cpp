// The compiled part of the Python package `mer` (python/mer/__init__.py imports it after
// torch, whose casters it uses).
#include "bindings.h"

PYBIND11_MODULE(_mer, m) {
  m.doc() = "mer: micro-expression recognition (the C++ library's bindings)";
  m.attr("__version__") = MER_VERSION;
  mer::python::bind_errors(m);
  mer::python::bind_data(m);
  mer::python::bind_models(m);
  mer::python::bind_engine(m);
#ifdef MER_WITH_VISION
  mer::python::bind_predict(m);
  m.attr("has_vision") = true;
#else
  m.attr("has_vision") = false;
#endif
}
