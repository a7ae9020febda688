#pragma once
// Deterministic pseudo-random numbers that are identical on every machine and standard
// library (std::shuffle and std:: distributions are implementation-defined). SplitMix64:
// tiny state, good statistical quality for shuffling and sampling.
#include <cstdint>
#include <utility>
#include <vector>

namespace mer {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (n > 0), by Lemire's multiply-shift (bias < 2^-32 for our sizes).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  double uniform() { return (next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  uint64_t state_;
};

// Fisher-Yates shuffle with SplitMix64.
template <typename T>
void shuffle(std::vector<T>& values, SplitMix64& rng) {
  for (size_t i = values.size(); i > 1; --i) {
    std::swap(values[i - 1], values[rng.below(i)]);
  }
}

// Mixes a run seed with a stream index (e.g. a fold index) into an independent seed.
inline uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  SplitMix64 mix(seed * 0x9e3779b97f4a7c15ULL + stream + 1);
  mix.next();
  return mix.next();
}

}  // namespace mer
