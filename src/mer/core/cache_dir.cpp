#include "mer/core/cache_dir.h"

#include <cstdlib>
#include <filesystem>

namespace mer {

std::string mer_cache_dir() {
  namespace fs = std::filesystem;
  if (const char* dir = std::getenv("MER_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return (fs::path(xdg) / "mer").string();
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return (fs::path(home) / ".cache" / "mer").string();
  }
  return {};
}

}  // namespace mer
