#include "mer/interop/state_dict.h"

#include <map>

#include "mer/core/error.h"
#include "mer/interop/pickle_reader.h"  // printable

namespace mer::interop {

namespace {

void collect(const torch::nn::Module& module, const std::string& prefix, StateDict& out) {
  for (const auto& p : module.named_parameters(/*recurse=*/false)) {
    out.emplace_back(prefix + p.key(), p.value().detach());
  }
  for (const auto& b : module.named_buffers(/*recurse=*/false)) {
    out.emplace_back(prefix + b.key(), b.value().detach());
  }
  for (const auto& child : module.named_children()) {
    collect(*child.value(), prefix + child.key() + ".", out);
  }
}

std::string shape_text(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& item : items) s += (s.empty() ? "" : ", ") + item;
  return s;
}

}  // namespace

StateDict state_dict_of(const torch::nn::Module& module) {
  StateDict out;
  collect(module, "", out);
  return out;
}

std::string StateDictMismatch::describe() const {
  std::string s;
  auto part = [&](const char* label, const std::vector<std::string>& names) {
    if (names.empty()) return;
    s += (s.empty() ? "" : "; ") + std::string(label) + ": " + join(names);
  };
  part("missing", missing);
  part("unexpected", unexpected);
  part("wrong shape", wrong_shape);
  return s;
}

StateDictMismatch compare_state_dicts(const StateDict& model, const StateDict& given) {
  std::map<std::string, const torch::Tensor*> by_name;
  for (const auto& [name, tensor] : given) by_name[name] = &tensor;
  StateDictMismatch m;
  std::map<std::string, bool> known;
  for (const auto& [name, tensor] : model) {
    known[name] = true;
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      m.missing.push_back(name);
    } else if (it->second->sizes() != tensor.sizes()) {
      m.wrong_shape.push_back(name + ": file " + shape_text(*it->second) + ", model " +
                              shape_text(tensor));
    }
  }
  for (const auto& [name, tensor] : given) {
    if (!known.count(name)) m.unexpected.push_back(printable(name));
  }
  return m;
}

void load_state_dict(torch::nn::Module& module, const StateDict& weights,
                     const std::string& source, const std::string& what) {
  const auto own = state_dict_of(module);
  const auto mismatch = compare_state_dicts(own, weights);
  if (!mismatch.empty()) {
    throw DataError(source + ": the weights do not match " + what + ": " + mismatch.describe());
  }
  std::map<std::string, torch::Tensor> by_name(weights.begin(), weights.end());
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : own) tensor.copy_(by_name.at(name));
}

}  // namespace mer::interop
