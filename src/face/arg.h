#pragma once
// MER_ARG: the options-struct accessor of style.md (a chainable setter `opts.name(value)` and a
// getter `opts.name()`), spelled like torch's TORCH_ARG so that the option structs of mer::face
// read the same as the torch-based ones, without making mer_face depend on LibTorch (the face
// library is built and linked without torch, which keeps its compile fast).
#include <utility>

#define MER_ARG(T, name)                                                         \
 public:                                                                         \
  inline auto name(const T& new_##name)->decltype(*this) { /* NOLINT */          \
    this->name##_ = new_##name;                                                  \
    return *this;                                                                \
  }                                                                              \
  inline auto name(T&& new_##name)->decltype(*this) { /* NOLINT */               \
    this->name##_ = std::move(new_##name);                                       \
    return *this;                                                                \
  }                                                                              \
  inline const T& name() const noexcept { return this->name##_; } /* NOLINT */   \
  inline T& name() noexcept { return this->name##_; }             /* NOLINT */   \
                                                                                 \
 private:                                                                        \
  T name##_ /* NOLINT */
