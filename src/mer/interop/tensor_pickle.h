#pragma once
// The part of torch.save's format that both of its containers share: the pickled object refers
// to tensor storages through persistent ids ('storage', torch.FloatStorage, key, location,
// numel[, view]) and rebuilds each tensor with torch._utils._rebuild_tensor_v2(storage, offset,
// size, stride, ...). This turns such a pickle into a StateDict once the container supplies
// each storage's bytes.
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "mer/interop/pickle_reader.h"
#include "mer/interop/state_dict.h"

namespace mer::interop {

// A storage a pickle refers to: its key in the container, element type and element count.
struct StorageRecord {
  std::string key;
  torch::ScalarType dtype = torch::kFloat;
  int64_t numel = 0;
};

class TensorPickle {
 public:
  // Reads the pickle at `*offset` (advancing it), recording the storages it refers to.
  // Throws PickleError on anything that is not a state_dict-like pickle.
  void read(std::string_view bytes, size_t* offset);

  // Storages by key, in the order the pickle first referred to them.
  const std::vector<StorageRecord>& storages() const { return storages_; }

  // The state_dict: the pickle must be a dict (or OrderedDict) of name -> tensor. `storage`
  // returns a storage's elements as a 1-D tensor of its dtype and numel (the container checks
  // the byte count). Throws PickleError on other contents or a tensor outside its storage.
  StateDict state_dict(const std::function<torch::Tensor(const StorageRecord&)>& storage) const;

 private:
  PickleRef root_;
  std::vector<StorageRecord> storages_;
};

// The number of bytes of one element of `dtype`.
int64_t element_size(torch::ScalarType dtype);

}  // namespace mer::interop
