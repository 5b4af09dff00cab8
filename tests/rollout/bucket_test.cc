#include "ota/rollout/bucket.h"

#include <array>
#include <string>

#include "test_support.h"

namespace ota::rollout {
namespace {

TEST(BucketTest, StableAndInRange) {
  const std::uint32_t b = CohortBucket("device-1", "rollout-a");
  EXPECT_EQ(b, CohortBucket("device-1", "rollout-a"));
  EXPECT_LT(b, kBucketCount);
  // Pinned value: the bucket is part of the wire contract between fleet
  // tools and devices; changing the function moves devices between cohorts.
  // Value: first 64 bits of SHA-256("device-1\0rollout-a") mod 10000.
  EXPECT_EQ(CohortBucket("device-1", "rollout-a"), 1777u);
}

TEST(BucketTest, SeparatorDistinguishesSplits) {
  EXPECT_NE(CohortBucket("ab", "c"), CohortBucket("a", "bc"));
}

TEST(BucketTest, DependsOnRollout) {
  int same = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = "dev-" + std::to_string(i);
    if (CohortBucket(id, "r1") == CohortBucket(id, "r2")) ++same;
  }
  EXPECT_LT(same, 5);
}

TEST(BucketTest, RoughlyUniformChiSquare) {
  // 100 cells over 100k ids: chi-square with 99 degrees of freedom; 99.9%
  // critical value is about 148.2.
  constexpr int kIds = 100000;
  std::array<int, 100> cells{};
  for (int i = 0; i < kIds; ++i) {
    ++cells[CohortBucket("device-" + std::to_string(i), "rollout") / 100];
  }
  const double expected = kIds / 100.0;
  double chi2 = 0.0;
  for (int c : cells) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 148.2);
}

TEST(BucketTest, WideningOnlyAddsDevices) {
  for (int i = 0; i < 2000; ++i) {
    const std::uint32_t b = CohortBucket("d" + std::to_string(i), "r");
    if (InStage(b, 100)) {
      EXPECT_TRUE(InStage(b, 1000));
    }
  }
  EXPECT_FALSE(InStage(0, 0));
  EXPECT_TRUE(InStage(9999, 10000));
}

}  // namespace
}  // namespace ota::rollout
