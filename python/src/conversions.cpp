#include <cmath>
#include <sstream>

#include "bindings.h"
#include "mer/core/error.h"

namespace mer::python {

py::object to_python(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return py::none();
    case nlohmann::json::value_t::boolean:
      return py::bool_(value.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return py::int_(value.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return py::int_(value.get<uint64_t>());
    case nlohmann::json::value_t::number_float:
      return py::float_(value.get<double>());
    case nlohmann::json::value_t::string:
      return py::str(value.get<std::string>());
    case nlohmann::json::value_t::array: {
      py::list list;
      for (const auto& item : value) list.append(to_python(item));
      return std::move(list);
    }
    case nlohmann::json::value_t::object: {
      py::dict dict;
      for (const auto& [key, item] : value.items()) dict[py::str(key)] = to_python(item);
      return std::move(dict);
    }
    default:
      return py::none();
  }
}

nlohmann::json from_python(const py::handle& value) {
  if (value.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>();
  if (py::isinstance<py::int_>(value)) return value.cast<int64_t>();
  if (py::isinstance<py::float_>(value)) return value.cast<double>();
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::isinstance<py::dict>(value)) {
    auto object = nlohmann::json::object();
    for (const auto& [key, item] : value.cast<py::dict>()) {
      object[py::str(key).cast<std::string>()] = from_python(item);
    }
    return object;
  }
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    auto array = nlohmann::json::array();
    for (const auto& item : value) array.push_back(from_python(item));
    return array;
  }
  throw ConfigError("cannot pass a Python " +
                    py::str(value.get_type().attr("__name__")).cast<std::string>() + " to mer");
}

std::map<std::string, std::string> option_texts(const py::dict& options) {
  std::map<std::string, std::string> texts;
  for (const auto& [key, value] : options) {
    const auto name = py::str(key).cast<std::string>();
    if (py::isinstance<py::bool_>(value)) {
      texts[name] = value.cast<bool>() ? "true" : "false";
    } else if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
      std::string list;
      for (const auto& item : value) list += (list.empty() ? "" : ",") + py::str(item).cast<std::string>();
      texts[name] = list;
    } else if (py::isinstance<py::float_>(value)) {
      // repr: the shortest text that reads back as the same float.
      texts[name] = py::repr(value).cast<std::string>();
    } else {
      texts[name] = py::str(value).cast<std::string>();
    }
  }
  return texts;
}

}  // namespace mer::python
