#include "mer/interop/legacy_torch_file.h"

#include <cstring>
#include <map>

#include "mer/interop/tensor_pickle.h"

namespace mer::interop {

namespace {

using Kind = PickleValue::Kind;

// 0x1950a86a20f9469cfc6c as LONG1 stores it: two's-complement little-endian bytes.
const std::string& magic_bytes() {
  static const std::string bytes("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
  return bytes;
}
constexpr int64_t kProtocolVersion = 1001;

PickleRef plain_pickle(std::string_view bytes, size_t* offset, const char* what) {
  try {
    return read_pickle(bytes, offset, {});
  } catch (const PickleError& e) {
    throw PickleError(std::string(what) + ": " + e.what());
  }
}

void check_sys_info(const PickleRef& info) {
  if (!info->is(Kind::kDict)) throw PickleError("the system information record is not a dict");
  for (const auto& [key, value] : info->entries) {
    if (key->is(Kind::kString) && key->text == "little_endian" && value->is(Kind::kBool) &&
        !value->boolean) {
      throw PickleError("written on a big-endian machine, which is not supported");
    }
  }
}

}  // namespace

bool looks_like_legacy_torch_file(std::string_view bytes) {
  // PROTO 2, LONG1 10 <magic>
  return bytes.size() >= 13 && static_cast<uint8_t>(bytes[0]) == 0x80 &&
         static_cast<uint8_t>(bytes[2]) == 0x8a && static_cast<uint8_t>(bytes[3]) == 10 &&
         bytes.substr(4, 10) == magic_bytes();
}

StateDict read_legacy_torch_file(std::string_view bytes) {
  size_t offset = 0;
  const auto magic = plain_pickle(bytes, &offset, "the magic number");
  if (!magic->is(Kind::kBigInt) || magic->text != magic_bytes()) {
    throw PickleError("not a PyTorch file (wrong magic number)");
  }
  const auto version = plain_pickle(bytes, &offset, "the protocol version");
  if (!version->is(Kind::kInt) || version->integer != kProtocolVersion) {
    throw PickleError("legacy protocol version " +
                      (version->is(Kind::kInt) ? std::to_string(version->integer) : version->kind_name()) +
                      " is not supported (this reader knows 1001)");
  }
  check_sys_info(plain_pickle(bytes, &offset, "the system information"));

  TensorPickle object;
  try {
    object.read(bytes, &offset);
  } catch (const PickleError& e) {
    throw PickleError(std::string("the saved object: ") + e.what());
  }
  const auto keys = plain_pickle(bytes, &offset, "the storage key list");
  if (!keys->is(Kind::kList)) throw PickleError("the storage key list is not a list");

  std::map<std::string, torch::Tensor> storages;
  std::map<std::string, StorageRecord> declared;
  for (const auto& record : object.storages()) declared[record.key] = record;
  for (const auto& key : keys->items) {
    if (!key->is(Kind::kString)) throw PickleError("a storage key that is not a string");
    auto it = declared.find(key->text);
    if (it == declared.end()) throw PickleError("storage '" + printable(key->text) + "' is listed but never used");
    const auto& record = it->second;
    if (bytes.size() - offset < 8) throw PickleError("truncated before storage '" + printable(key->text) + "'");
    int64_t numel = 0;
    std::memcpy(&numel, bytes.data() + offset, 8);  // little endian, as the machines mer runs on
    offset += 8;
    if (numel < 0 || static_cast<uint64_t>(numel) > bytes.size() - offset) {
      throw PickleError("truncated in storage '" + printable(key->text) + "'");
    }
    if (numel != record.numel) {
      throw PickleError("storage '" + printable(key->text) + "' holds " + std::to_string(numel) +
                        " elements where " + std::to_string(record.numel) + " were declared");
    }
    const int64_t size = numel * element_size(record.dtype);
    if (static_cast<uint64_t>(size) > bytes.size() - offset) {
      throw PickleError("truncated in storage '" + printable(key->text) + "'");
    }
    auto tensor = torch::empty({numel}, torch::TensorOptions().dtype(record.dtype));
    std::memcpy(tensor.data_ptr(), bytes.data() + offset, static_cast<size_t>(size));
    offset += static_cast<size_t>(size);
    storages[key->text] = tensor;
  }
  if (offset != bytes.size()) {
    throw PickleError(std::to_string(bytes.size() - offset) + " unexpected bytes after the last storage");
  }
  return object.state_dict([&](const StorageRecord& record) {
    auto it = storages.find(record.key);
    if (it == storages.end()) throw PickleError("storage '" + printable(record.key) + "' is missing");
    return it->second;
  });
}

}  // namespace mer::interop
