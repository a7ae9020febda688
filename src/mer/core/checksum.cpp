#include "mer/core/checksum.h"

#include <cstdio>

namespace mer {

void Fnv1a::update(const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    state_ ^= p[i];
    state_ *= 0x100000001b3ULL;
  }
}

std::string Fnv1a::hex() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(state_));
  return buf;
}

}  // namespace mer
