#include "mer/core/error.h"

namespace mer::detail {

void throw_check_failure(const char* expr, const char* file, int line,
                         const std::string& message) {
  throw CheckFailure(message.empty() ? std::string("internal check failed") : message,
                     std::string("check `") + expr + "` failed at " + file + ":" +
                         std::to_string(line));
}

}  // namespace mer::detail
