#pragma once
// A model's weights as PyTorch names them: every parameter and buffer (batch-norm running
// statistics and num_batches_tracked included) under its dotted name, in the order
// torch.nn.Module.state_dict() lists them (a module's own parameters, then its own buffers,
// then each child's in registration order).
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace mer::interop {

using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

// The module's parameters and buffers (detached, sharing their storage with the module).
StateDict state_dict_of(const torch::nn::Module& module);

// How a state_dict differs from a model's: names the model lacks a value for, names the model
// does not have, and names whose shape differs ("fc.weight: file [3, 400], model [5, 400]").
struct StateDictMismatch {
  std::vector<std::string> missing;
  std::vector<std::string> unexpected;
  std::vector<std::string> wrong_shape;
  bool empty() const { return missing.empty() && unexpected.empty() && wrong_shape.empty(); }
  // "missing: a, b; unexpected: c; wrong shape: fc.weight: file [3, 400], model [5, 400]"
  std::string describe() const;
};
StateDictMismatch compare_state_dicts(const StateDict& model, const StateDict& given);

// Copies `weights` into the module's parameters and buffers (converting the dtype where it
// differs, e.g. double weights into a float model). Throws DataError
// "<source>: the weights do not match <what>: missing: ...; unexpected: ...; wrong shape: ..."
// when any name or shape differs; the module is left unchanged then.
void load_state_dict(torch::nn::Module& module, const StateDict& weights,
                     const std::string& source, const std::string& what);

}  // namespace mer::interop
