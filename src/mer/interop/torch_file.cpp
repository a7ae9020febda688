#include "mer/interop/torch_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mer/core/atomic_file.h"
#include "mer/core/error.h"
#include "mer/interop/legacy_torch_file.h"
#include "mer/interop/tensor_pickle.h"

namespace mer::interop {

namespace {

std::string read_all(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw DataError(path + ": weights file not found");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in && !in.eof()) throw DataError(path + ": cannot read");
  return bytes.str();
}

bool is_zip(std::string_view bytes) { return bytes.size() >= 4 && bytes.substr(0, 4) == "PK\x03\x04"; }

StateDict read_zip(const std::string& bytes) {
  std::istringstream stream(bytes);
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  std::string pickle;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(&stream);
    if (!reader->hasRecord("data.pkl")) throw PickleError("a zip file without data.pkl, not a torch.save file");
    auto [data, size] = reader->getRecord("data.pkl");
    pickle.assign(static_cast<const char*>(data.get()), size);
  } catch (const c10::Error&) {
    throw PickleError("a damaged zip file or not one torch.save wrote");
  }
  TensorPickle object;
  size_t offset = 0;
  object.read(pickle, &offset);
  return object.state_dict([&](const StorageRecord& record) {
    const std::string name = "data/" + record.key;
    try {
      if (!reader->hasRecord(name)) throw PickleError("storage '" + printable(record.key) + "' is missing");
      auto [data, size] = reader->getRecord(name);
      if (static_cast<uint64_t>(record.numel) > size / static_cast<uint64_t>(element_size(record.dtype))) {
        throw PickleError("storage '" + printable(record.key) + "' holds " + std::to_string(size) +
                          " bytes, fewer than its " + std::to_string(record.numel) + " elements need");
      }
      const auto expected = static_cast<size_t>(record.numel * element_size(record.dtype));
      auto tensor = torch::empty({record.numel}, torch::TensorOptions().dtype(record.dtype));
      std::memcpy(tensor.data_ptr(), data.get(), expected);
      return tensor;
    } catch (const c10::Error&) {
      throw PickleError("storage '" + printable(record.key) + "' cannot be read (damaged zip file)");
    }
  });
}

}  // namespace

StateDict read_torch_state_dict(const std::string& path) {
  const std::string bytes = read_all(path);
  try {
    if (is_zip(bytes)) return read_zip(bytes);
    if (looks_like_legacy_torch_file(bytes)) return read_legacy_torch_file(bytes);
  } catch (const PickleError& e) {
    throw DataError(path + ": not a readable PyTorch state_dict: " + e.what());
  }
  throw DataError(path + ": not a PyTorch state_dict file (neither torch.save's zip format nor its "
                         "older pickle format)");
}

void write_torch_state_dict(const std::string& path, const StateDict& weights) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, tensor] : weights) dict.insert(name, tensor.detach().contiguous());
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  write_file_atomic(path, std::string_view(bytes.data(), bytes.size()));
}

}  // namespace mer::interop
