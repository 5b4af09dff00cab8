#include "ota/shadow/metrics.h"

#include <cmath>
#include <vector>

#include "test_support.h"

namespace ota::shadow {
namespace {

std::vector<float> Log(std::vector<double> p) {
  std::vector<float> out;
  for (double v : p) out.push_back(static_cast<float>(std::log(v)));
  return out;
}

TEST(KlTest, ZeroForIdentical) {
  auto p = Log({0.5, 0.25, 0.25});
  auto kl = KlDivergence(p, p);
  ASSERT_OK(kl);
  EXPECT_NEAR(*kl, 0.0, 1e-9);
}

TEST(KlTest, KnownValue) {
  // KL([0.5,0.5] || [0.9,0.1]) = 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1) = 0.5108...
  auto kl = KlDivergence(Log({0.5, 0.5}), Log({0.9, 0.1}));
  ASSERT_OK(kl);
  EXPECT_NEAR(*kl, 0.5 * std::log(0.5 / 0.9) + 0.5 * std::log(0.5 / 0.1), 1e-6);
}

TEST(KlTest, RenormalisesUnnormalisedLogits) {
  std::vector<float> a = {1.0f, 2.0f, 3.0f};
  std::vector<float> b = {11.0f, 12.0f, 13.0f};  // Same distribution, shifted.
  auto kl = KlDivergence(a, b);
  ASSERT_OK(kl);
  EXPECT_NEAR(*kl, 0.0, 1e-6);
}

TEST(KlTest, RejectsMismatchedAndNaN) {
  std::vector<float> a = {0.0f, 0.0f};
  std::vector<float> b = {0.0f};
  EXPECT_EQ(KlDivergence(a, b).error().code, ErrorCode::kInvalidArgument);
  std::vector<float> n = {0.0f, std::nanf("")};
  EXPECT_EQ(KlDivergence(a, n).error().code, ErrorCode::kInvalidArgument);
}

TEST(KlTest, Top1AndSummary) {
  std::vector<float> v = {0.1f, 3.0f, 3.0f, -1.0f};
  EXPECT_EQ(Top1(v), 1u);
  std::vector<double> values(100, 0.0);
  values[99] = 5.0;
  KlSummary s = SummarizeKl(values);
  EXPECT_EQ(s.count, 100u);
  EXPECT_NEAR(s.mean, 0.05, 1e-12);
  EXPECT_EQ(s.p99, 0.0);  // Nearest rank 99 of 100.
  values[98] = 4.0;
  EXPECT_EQ(SummarizeKl(values).p99, 4.0);
}

}  // namespace
}  // namespace ota::shadow
