// mer.models(), mer.model_spec(name): the registered models and their contracts.
#include "bindings.h"
#include "mer/models/registry.h"

namespace mer::python {

void bind_models(py::module_& m) {
  m.def(
      "models",
      [] {
        std::vector<std::string> names;
        for (const auto* spec : models::model_registry()) names.push_back(spec->name);
        return names;
      },
      "The registered models' names (what mer.loso(model=...) takes).");
  m.def(
      "model_spec", [](const std::string& name) { return to_python(models::find_model(name).to_json()); },
      py::arg("name"),
      "A model's contract as a dict: options (name, type, default, range, help), inputs, "
      "training defaults, explanations (what `mer models NAME --json` prints).");
}

}  // namespace mer::python
