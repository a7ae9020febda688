#pragma once
// MER_ARG: TORCH_ARG for the libraries that must build without LibTorch (annotation sheets,
// adapters, protocols, the face/motion pipeline), which keeps their compiles fast. Same semantics, so options read alike everywhere:
//   Options().sheet("label").keep_out_of_order(true); options.sheet() -> "label".
// Like TORCH_ARG it leaves the access at private: write `public:` after the last one.
#include <utility>

#define MER_ARG(T, name)                                                \
 public:                                                                \
  inline auto name(const T& new_##name)->decltype(*this) { /* NOLINT */ \
    this->name##_ = new_##name;                                         \
    return *this;                                                       \
  }                                                                     \
  inline auto name(T&& new_##name)->decltype(*this) { /* NOLINT */      \
    this->name##_ = std::move(new_##name);                              \
    return *this;                                                       \
  }                                                                     \
  inline const T& name() const noexcept { /* NOLINT */                  \
    return this->name##_;                                               \
  }                                                                     \
  inline T& name() noexcept { /* NOLINT */                              \
    return this->name##_;                                               \
  }                                                                     \
                                                                        \
 private:                                                               \
  T name##_ /* NOLINT */
