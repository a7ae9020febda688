#pragma once
// Builds legacy (non-zip) torch.save files in memory, opcode by opcode as Python's pickle
// protocol 2 writes them, so the legacy reader is tested without Python. Each tensor gets its
// own storage.
#include <torch/torch.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace mer::interop::testing {

class PickleBytes {
 public:
  PickleBytes& proto() { return raw("\x80\x02", 2); }
  PickleBytes& stop() { return op('.'); }
  PickleBytes& op(char c) { bytes_ += c; return *this; }
  PickleBytes& raw(const char* p, size_t n) { bytes_.append(p, n); return *this; }
  PickleBytes& integer(int32_t v) {
    op('J');
    return little(static_cast<uint32_t>(v), 4);
  }
  PickleBytes& text(const std::string& s) {
    op('X');
    little(static_cast<uint32_t>(s.size()), 4);
    bytes_ += s;
    return *this;
  }
  PickleBytes& global(const std::string& module, const std::string& name) {
    op('c');
    bytes_ += module + "\n" + name + "\n";
    return *this;
  }
  PickleBytes& little(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_ += static_cast<char>((v >> (8 * i)) & 0xff);
    return *this;
  }
  const std::string& str() const { return bytes_; }

 private:
  std::string bytes_;
};

inline const char* storage_type_name(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat: return "FloatStorage";
    case torch::kDouble: return "DoubleStorage";
    case torch::kHalf: return "HalfStorage";
    case torch::kLong: return "LongStorage";
    case torch::kInt: return "IntStorage";
    case torch::kByte: return "ByteStorage";
    case torch::kBool: return "BoolStorage";
    default: throw std::invalid_argument("legacy_torch_file: no storage type for this dtype");
  }
}

inline std::string legacy_torch_file(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  PickleBytes out;
  out.proto().raw("\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 12).stop();  // magic
  out.proto().op('M').little(1001, 2).stop();
  out.proto().op('}').op('(').text("protocol_version").op('M').little(1001, 2);
  out.text("little_endian").raw("\x88", 1).text("type_sizes").op('}').op('(');
  out.text("short").integer(2).text("int").integer(4).text("long").integer(4).op('u').op('u').stop();

  out.proto().global("collections", "OrderedDict").op(')').op('R').op('(');
  std::vector<std::string> keys;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    const std::string key = "1000" + std::to_string(i);
    keys.push_back(key);
    out.text(name).global("torch._utils", "_rebuild_tensor_v2").op('(');
    out.op('(').text("storage").global("torch", storage_type_name(t.scalar_type()));
    out.text(key).text("cpu").integer(static_cast<int32_t>(t.numel())).op('N').op('t').op('Q');
    out.integer(0).op('(');
    for (auto s : t.sizes()) out.integer(static_cast<int32_t>(s));
    out.op('t').op('(');
    for (auto s : t.contiguous().strides()) out.integer(static_cast<int32_t>(s));
    out.op('t').raw("\x89", 1).global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
  }
  out.op('u').stop();
  out.proto().op(']').op('(');
  for (const auto& key : keys) out.text(key);
  out.op('e').stop();
  std::string bytes = out.str();
  for (const auto& [name, t] : tensors) {
    const auto c = t.contiguous();
    const int64_t numel = c.numel();
    bytes.append(reinterpret_cast<const char*>(&numel), 8);
    bytes.append(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.nbytes()));
  }
  return bytes;
}

}  // namespace mer::interop::testing
