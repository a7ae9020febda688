#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "mer/core/checksum.h"
#include "mer/core/rng.h"

namespace mer {

TEST(Rng, SameSeedSameStreamOtherSeedOtherStream) {
  SplitMix64 a(7), b(7), c(8);
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    EXPECT_EQ(x, b.next());
    EXPECT_NE(x, c.next());
  }
}

TEST(Rng, KnownFirstValueIsStableAcrossMachines) {
  // SplitMix64 reference value for seed 0 (Vigna's reference implementation).
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xe220a8397b1dcdafULL);
}

TEST(Rng, ShuffleIsAPermutationAndBelowIsInRange) {
  SplitMix64 rng(3);
  std::vector<int> v(50);
  std::iota(v.begin(), v.end(), 0);
  shuffle(v, rng);
  EXPECT_EQ(std::set<int>(v.begin(), v.end()).size(), 50u);
  EXPECT_NE(v[0] * 100 + v[1], 1);  // not the identity start
  for (int i = 0; i < 1000; ++i) EXPECT_LT(rng.below(7), 7u);
}

TEST(Checksum, Fnv1aKnownVectors) {
  Fnv1a empty;
  EXPECT_EQ(empty.hex(), "cbf29ce484222325");
  Fnv1a a;
  a.update("a");
  EXPECT_EQ(a.hex(), "af63dc4c8601ec8c");
}

}  // namespace mer
