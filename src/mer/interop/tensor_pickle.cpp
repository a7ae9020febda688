#include "mer/interop/tensor_pickle.h"

#include <algorithm>

namespace mer::interop {

namespace {

using Kind = PickleValue::Kind;
constexpr const char* kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";
constexpr const char* kRestoreTypeTag = "torch.jit._pickle.restore_type_tag";
constexpr const char* kStorageObject = "<storage>";

// torch.<Name>Storage -> dtype (the names torch.save writes for each element type).
const std::map<std::string, torch::ScalarType>& storage_types() {
  static const std::map<std::string, torch::ScalarType> types = {
      {"torch.FloatStorage", torch::kFloat},   {"torch.DoubleStorage", torch::kDouble},
      {"torch.HalfStorage", torch::kHalf},     {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kLong},     {"torch.IntStorage", torch::kInt},
      {"torch.ShortStorage", torch::kShort},   {"torch.CharStorage", torch::kChar},
      {"torch.ByteStorage", torch::kByte},     {"torch.BoolStorage", torch::kBool},
  };
  return types;
}

int64_t as_int(const PickleRef& v, const char* what) {
  if (!v || !v->is(Kind::kInt)) throw PickleError(std::string(what) + " is not an integer");
  return v->integer;
}

std::vector<int64_t> int_tuple(const PickleRef& v, const char* what) {
  if (!v || !(v->is(Kind::kTuple) || v->is(Kind::kList))) {
    throw PickleError(std::string(what) + " is not a tuple");
  }
  std::vector<int64_t> out;
  for (const auto& item : v->items) out.push_back(as_int(item, what));
  return out;
}

}  // namespace

int64_t element_size(torch::ScalarType dtype) { return static_cast<int64_t>(c10::elementSize(dtype)); }

void TensorPickle::read(std::string_view bytes, size_t* offset) {
  PickleReadOptions options;
  options.callable_globals = {kRebuildTensor, kRebuildParameter, kRestoreTypeTag};
  options.persistent_load = [this](const PickleRef& id) {
    if (!id->is(Kind::kTuple) || id->items.size() < 5 || !id->items[0]->is(Kind::kString) ||
        id->items[0]->text != "storage") {
      throw PickleError("a persistent id that is not a tensor storage");
    }
    const auto& type = id->items[1];
    auto it = type->is(Kind::kGlobal) ? storage_types().find(type->text) : storage_types().end();
    if (it == storage_types().end()) {
      throw PickleError("storage of unsupported type " + type->kind_name());
    }
    if (!id->items[2]->is(Kind::kString)) throw PickleError("a storage key that is not a string");
    StorageRecord record{id->items[2]->text, it->second, as_int(id->items[4], "a storage size")};
    if (record.numel < 0) throw PickleError("a storage of negative size");
    if (id->items.size() > 5 && !id->items[5]->is(Kind::kNone)) {
      throw PickleError("storage views (saved by PyTorch < 0.4) are not supported");
    }
    auto known = std::find_if(storages_.begin(), storages_.end(),
                              [&](const StorageRecord& r) { return r.key == record.key; });
    if (known == storages_.end()) {
      storages_.push_back(record);
    } else if (known->dtype != record.dtype || known->numel != record.numel) {
      throw PickleError("storage '" + printable(record.key) + "' is described twice differently");
    }
    auto ref = std::make_shared<PickleValue>();
    ref->kind = Kind::kObject;
    ref->text = kStorageObject;
    auto key = std::make_shared<PickleValue>();
    key->kind = Kind::kString;
    key->text = record.key;
    ref->items.push_back(key);
    return ref;
  };
  root_ = read_pickle(bytes, offset, options);
}

StateDict TensorPickle::state_dict(
    const std::function<torch::Tensor(const StorageRecord&)>& storage) const {
  if (!root_) throw PickleError("nothing was read");
  auto root = root_;
  if (root->is(Kind::kObject) && root->text == kRestoreTypeTag && !root->items.empty()) root = root->items[0];
  if (!root->is(Kind::kDict)) {
    throw PickleError("holds a " + root->kind_name() + ", not a state_dict (a dict of tensors)");
  }
  std::map<std::string, torch::Tensor> storage_tensors;
  for (const auto& record : storages_) storage_tensors[record.key] = storage(record);

  StateDict out;
  for (const auto& [key, value] : root->entries) {
    if (!key->is(Kind::kString)) throw PickleError("a state_dict key that is not a string");
    const std::string& name = key->text;
    const std::string shown = printable(name);  // for messages
    auto v = value;
    if (v->is(Kind::kObject) && v->text == kRebuildParameter && !v->items.empty()) v = v->items[0];
    if (!v->is(Kind::kObject) || v->text != kRebuildTensor || v->items.size() < 4) {
      throw PickleError("entry '" + shown + "' is a " + v->kind_name() + ", not a tensor");
    }
    const auto& ref = v->items[0];
    if (!ref->is(Kind::kObject) || ref->text != kStorageObject) {
      throw PickleError("entry '" + shown + "' has no storage");
    }
    const auto& data = storage_tensors.at(ref->items[0]->text);
    const int64_t offset = as_int(v->items[1], "a storage offset");
    const auto size = int_tuple(v->items[2], "a tensor size");
    const auto stride = int_tuple(v->items[3], "a tensor stride");
    if (size.size() != stride.size()) throw PickleError("entry '" + shown + "': size and stride differ in length");
    // The last element the view reaches must lie inside the storage (a garbage file must not
    // make as_strided read outside it).
    __int128 last = offset, count = 1;
    for (size_t d = 0; d < size.size(); ++d) {
      if (size[d] < 0 || stride[d] < 0) throw PickleError("entry '" + shown + "': negative size or stride");
      if (size[d] > data.numel() + 1 && stride[d] > 0) {
        throw PickleError("entry '" + shown + "' lies outside its storage");
      }
      count *= size[d];
      if (size[d] > 0) last += static_cast<__int128>(size[d] - 1) * stride[d];
    }
    if (offset < 0 || (count > 0 && last >= data.numel())) {
      throw PickleError("entry '" + shown + "' lies outside its storage");
    }
    out.emplace_back(name, count == 0 ? torch::empty(size, data.options())
                                      : data.as_strided(size, stride, offset).clone());
  }
  return out;
}

}  // namespace mer::interop
