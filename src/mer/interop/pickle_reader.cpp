#include "mer/interop/pickle_reader.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace mer::interop {

std::string printable(const std::string& text) {
  std::string out = text.substr(0, 200);
  for (auto& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

std::string PickleValue::kind_name() const {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kBigInt: return "long int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kGlobal: return "global " + printable(text);
    case Kind::kObject: return printable(text) + "(...)";
  }
  return "?";
}

namespace {

using Kind = PickleValue::Kind;

PickleRef make(Kind kind) {
  auto v = std::make_shared<PickleValue>();
  v->kind = kind;
  return v;
}

class Unpickler {
 public:
  Unpickler(std::string_view bytes, size_t offset, const PickleReadOptions& options)
      : bytes_(bytes), pos_(offset), options_(options) {}

  PickleRef run();
  size_t position() const { return pos_; }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw PickleError("pickle at byte " + std::to_string(op_start_) + ": " + what);
  }
  void need(size_t n) const {
    if (n > bytes_.size() - pos_) fail("truncated (needs " + std::to_string(n) + " more bytes)");
  }
  uint8_t u8() {
    need(1);
    return static_cast<uint8_t>(bytes_[pos_++]);
  }
  uint64_t little_endian(size_t n) {
    need(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }
  std::string take(uint64_t n) {
    if (n > bytes_.size() - pos_) fail("truncated (a " + std::to_string(n) + "-byte string)");
    std::string s(bytes_.substr(pos_, static_cast<size_t>(n)));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  std::string line() {
    const size_t end = bytes_.find('\n', pos_);
    if (end == std::string_view::npos) fail("truncated (a line without its newline)");
    std::string s(bytes_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }

  PickleRef pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PickleRef& top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  // The items since the last MARK, which is removed.
  std::vector<PickleRef> pop_mark() {
    if (marks_.empty()) fail("no MARK before a marked opcode");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleRef> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  void push_string(Kind kind, std::string text) {
    auto v = make(kind);
    v->text = std::move(text);
    stack_.push_back(v);
  }
  void push_int(int64_t i) {
    auto v = make(Kind::kInt);
    v->integer = i;
    stack_.push_back(v);
  }
  void push_long(const std::string& le_bytes) {
    if (le_bytes.size() <= 8) {
      uint64_t v = 0;
      for (size_t i = 0; i < le_bytes.size(); ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(le_bytes[i])) << (8 * i);
      if (!le_bytes.empty() && le_bytes.size() < 8 && (static_cast<uint8_t>(le_bytes.back()) & 0x80)) {
        v |= ~uint64_t{0} << (8 * le_bytes.size());  // sign-extend
      }
      push_int(static_cast<int64_t>(v));
    } else {
      push_string(Kind::kBigInt, le_bytes);
    }
  }
  void push_global(const std::string& module, const std::string& name) {
    push_string(Kind::kGlobal, module + "." + name);
  }
  void set_items(const PickleRef& dict, const std::vector<PickleRef>& kv) {
    if (!dict->is(Kind::kDict)) fail("SETITEM on a " + dict->kind_name());
    if (kv.size() % 2) fail("SETITEMS with an odd number of items");
    for (size_t i = 0; i < kv.size(); i += 2) {
      auto key = kv[i];
      auto it = std::find_if(dict->entries.begin(), dict->entries.end(), [&](const auto& e) {
        return e.first->kind == key->kind && e.first->text == key->text &&
               e.first->integer == key->integer && (key->is(Kind::kString) || key->is(Kind::kInt));
      });
      if (it != dict->entries.end()) it->second = kv[i + 1];
      else dict->entries.emplace_back(key, kv[i + 1]);
    }
  }
  void call(const PickleRef& callable, const PickleRef& args) {
    if (!callable->is(Kind::kGlobal)) fail("REDUCE on a " + callable->kind_name());
    if (!args->is(Kind::kTuple)) fail("REDUCE with arguments that are not a tuple");
    const auto& allowed = options_.callable_globals;
    if (callable->text == "collections.OrderedDict") {
      if (!args->items.empty()) fail("OrderedDict with arguments");
      stack_.push_back(make(Kind::kDict));
      return;
    }
    if (std::find(allowed.begin(), allowed.end(), callable->text) == allowed.end()) {
      fail("refers to " + callable->text + ", which a weights file does not contain");
    }
    auto object = make(Kind::kObject);
    object->text = callable->text;
    object->items = args->items;
    stack_.push_back(object);
  }

  std::string_view bytes_;
  size_t pos_;
  size_t op_start_ = 0;
  const PickleReadOptions& options_;
  std::vector<PickleRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleRef> memo_;
};

PickleRef Unpickler::run() {
  for (;;) {
    op_start_ = pos_;
    if (pos_ >= bytes_.size()) fail("truncated (no STOP)");
    const uint8_t op = u8();
    switch (op) {
      case 0x80: {  // PROTO
        const int protocol = u8();
        if (protocol < 2 || protocol > 5) fail("pickle protocol " + std::to_string(protocol) + " is not supported");
        break;
      }
      case 0x95: little_endian(8); break;  // FRAME: the frame's length, informational here
      case '.': {  // STOP
        if (!marks_.empty() || stack_.size() != 1) fail("STOP with a malformed stack");
        return stack_.back();
      }
      case '(': marks_.push_back(stack_.size()); break;
      case 'N': stack_.push_back(make(Kind::kNone)); break;
      case 0x88: case 0x89: {
        auto v = make(Kind::kBool);
        v->boolean = op == 0x88;
        stack_.push_back(v);
        break;
      }
      case 'J': push_int(static_cast<int32_t>(static_cast<uint32_t>(little_endian(4)))); break;
      case 'K': push_int(u8()); break;
      case 'M': push_int(static_cast<int64_t>(little_endian(2))); break;
      case 0x8a: push_long(take(u8())); break;
      case 0x8b: push_long(take(little_endian(4))); break;
      case 'G': {
        need(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(bytes_[pos_ + i]);
        pos_ += 8;
        auto v = make(Kind::kFloat);
        std::memcpy(&v->number, &bits, sizeof bits);
        stack_.push_back(v);
        break;
      }
      case 'X': push_string(Kind::kString, take(little_endian(4))); break;
      case 0x8c: push_string(Kind::kString, take(u8())); break;
      case 0x8d: push_string(Kind::kString, take(little_endian(8))); break;
      case 'T': push_string(Kind::kString, take(little_endian(4))); break;
      case 'U': push_string(Kind::kString, take(u8())); break;
      case 'B': push_string(Kind::kBytes, take(little_endian(4))); break;
      case 'C': push_string(Kind::kBytes, take(u8())); break;
      case 0x8e: push_string(Kind::kBytes, take(little_endian(8))); break;
      case ')': stack_.push_back(make(Kind::kTuple)); break;
      case 't': {
        auto v = make(Kind::kTuple);
        v->items = pop_mark();
        stack_.push_back(v);
        break;
      }
      case 0x85: case 0x86: case 0x87: {
        auto v = make(Kind::kTuple);
        v->items.resize(op - 0x84);
        for (size_t i = v->items.size(); i-- > 0;) v->items[i] = pop();
        stack_.push_back(v);
        break;
      }
      case ']': stack_.push_back(make(Kind::kList)); break;
      case 'l': {
        auto v = make(Kind::kList);
        v->items = pop_mark();
        stack_.push_back(v);
        break;
      }
      case 'a': {
        auto item = pop();
        auto& list = top();
        if (!list->is(Kind::kList)) fail("APPEND on a " + list->kind_name());
        list->items.push_back(item);
        break;
      }
      case 'e': {
        auto items = pop_mark();
        auto& list = top();
        if (!list->is(Kind::kList)) fail("APPENDS on a " + list->kind_name());
        list->items.insert(list->items.end(), items.begin(), items.end());
        break;
      }
      case '}': stack_.push_back(make(Kind::kDict)); break;
      case 'd': {
        auto v = make(Kind::kDict);
        set_items(v, pop_mark());
        stack_.push_back(v);
        break;
      }
      case 's': {
        auto value = pop();
        auto key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {
        auto kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      case 'c': {
        auto module = line();
        auto name = line();
        push_global(module, name);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = pop();
        auto module = pop();
        if (!name->is(Kind::kString) || !module->is(Kind::kString)) fail("STACK_GLOBAL without strings");
        push_global(module->text, name->text);
        break;
      }
      case 'R': case 0x81: {  // REDUCE, NEWOBJ
        auto args = pop();
        auto callable = pop();
        call(callable, args);
        break;
      }
      case 'b': {  // BUILD
        auto state = pop();
        auto& object = top();
        if (object->is(Kind::kObject)) object->state = state;
        else if (!object->is(Kind::kDict)) fail("BUILD on a " + object->kind_name());
        // A dict's state is an OrderedDict's attributes (a state_dict's _metadata): not weights.
        break;
      }
      case 'Q': {  // BINPERSID
        auto id = pop();
        if (!options_.persistent_load) fail("persistent id where none is expected");
        stack_.push_back(options_.persistent_load(id));
        break;
      }
      case 'q': memo_[u8()] = top(); break;
      case 'r': memo_[little_endian(4)] = top(); break;
      case 0x94: memo_[memo_.size()] = top(); break;
      case 'p': {
        const auto text = line();
        memo_[std::strtoull(text.c_str(), nullptr, 10)] = top();
        break;
      }
      case 'h': case 'j': case 'g': {
        const uint64_t key = op == 'h' ? u8() : op == 'j' ? little_endian(4)
                                                           : std::strtoull(line().c_str(), nullptr, 10);
        auto it = memo_.find(key);
        if (it == memo_.end()) fail("memo entry " + std::to_string(key) + " is not defined");
        stack_.push_back(it->second);
        break;
      }
      case '0': pop(); break;
      case '2': stack_.push_back(top()); break;
      case '1': pop_mark(); break;
      default: {
        static const char* hex = "0123456789abcdef";
        fail(std::string("unsupported or invalid opcode 0x") + hex[op >> 4] + hex[op & 15]);
      }
    }
  }
}

}  // namespace

PickleRef read_pickle(std::string_view bytes, size_t* offset, const PickleReadOptions& options) {
  Unpickler unpickler(bytes, *offset, options);
  auto value = unpickler.run();
  *offset = unpickler.position();
  return value;
}

}  // namespace mer::interop
