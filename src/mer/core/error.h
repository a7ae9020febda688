#pragma once
// Error hierarchy of mer. Every failure a user can cause (bad path, malformed file, nonsense
// option) is an exception from this hierarchy whose message names the file and the problem;
// the CLI prints that one line and exits non-zero.
#include <stdexcept>
#include <string>

namespace mer {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Input data: prepared datasets, annotation sheets, images.
class DataError : public Error {
 public:
  using Error::Error;
};

// Options and configuration values out of range or clashing.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// Checkpoints and result files: missing, corrupt or of an unknown version.
class CheckpointError : public Error {
 public:
  using Error::Error;
};

// A failed MER_CHECK: what() is the explanation for the user; the check expression and the
// source location are internal details (the CLI shows them with --verbose).
class CheckFailure : public Error {
 public:
  CheckFailure(const std::string& message, std::string detail)
      : Error(message), detail_(std::move(detail)) {}
  const std::string& detail() const { return detail_; }

 private:
  std::string detail_;
};

// The internal details of an error ("" for errors that have none).
inline std::string error_detail(const Error& error) {
  const auto* check = dynamic_cast<const CheckFailure*>(&error);
  return check ? check->detail() : std::string();
}

namespace detail {
[[noreturn]] void throw_check_failure(const char* expr, const char* file, int line,
                                      const std::string& message);
}  // namespace detail

}  // namespace mer

// Always-on precondition check (also in release builds): throws mer::CheckFailure with the
// explanation as its message and the expression and source location as its detail.
#define MER_CHECK(cond, msg)                                                   \
  do {                                                                         \
    if (!(cond)) ::mer::detail::throw_check_failure(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)
