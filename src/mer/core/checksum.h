#pragma once
// Content hashing for traceability (which data a result came from) and for telling finished
// artifacts from partial ones. FNV-1a 64: fast and stable across machines; not cryptographic.
#include <cstddef>
#include <cstdint>
#include <string>

namespace mer {

class Fnv1a {
 public:
  void update(const void* data, size_t bytes);
  void update(const std::string& text) { update(text.data(), text.size()); }
  uint64_t digest() const { return state_; }
  std::string hex() const;  // 16 lowercase hex digits

 private:
  uint64_t state_ = 0xcbf29ce484222325ULL;
};

}  // namespace mer
