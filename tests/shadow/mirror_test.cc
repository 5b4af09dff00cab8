#include "ota/shadow/mirror.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "fake_runtime.h"
#include "test_support.h"

namespace ota::shadow {
namespace {

using testing::FakeModel;
using testing::FakeSpec;

std::uint64_t SampledOutOf(std::uint64_t seed, int offers, double rate) {
  FakeModel model{FakeSpec{}};
  ota::testing::ManualClock clock;
  MirrorOptions options;
  options.sample_rate = rate;
  options.seed = seed;
  options.queue_capacity = 1024;
  auto mirror = Mirror::Start(model, options, clock);
  EXPECT_TRUE(mirror.ok());
  for (int i = 0; i < offers; ++i) (*mirror)->Offer("q", "ok");
  (*mirror)->WaitIdle();
  const MirrorStats s = (*mirror)->Stats();
  EXPECT_EQ(s.offered, static_cast<std::uint64_t>(offers));
  EXPECT_EQ(s.replayed + s.dropped, s.sampled);
  return s.sampled;
}

TEST(MirrorTest, SamplingIsDeterministicPerSeedAndNearTheRate) {
  const std::uint64_t a = SampledOutOf(42, 1000, 0.2);
  EXPECT_EQ(SampledOutOf(42, 1000, 0.2), a);
  EXPECT_NE(SampledOutOf(43, 1000, 0.2), a);
  EXPECT_GT(a, 150u);
  EXPECT_LT(a, 250u);
  EXPECT_EQ(SampledOutOf(1, 200, 0.0), 0u);
  EXPECT_EQ(SampledOutOf(1, 200, 1.0), 200u);
}

TEST(MirrorTest, AccumulatesAgreementAndCheckRegressions) {
  FakeSpec spec;
  spec.output = [](const std::string& prompt) {
    return prompt == "bad" ? std::string("not json") : std::string("{\"a\": 1}");
  };
  FakeModel candidate(spec);
  ota::testing::ManualClock clock;
  Result<Check> json_check = Check::FromJson({{"kind", "json"}}, "check");
  ASSERT_TRUE(json_check.ok());
  MirrorOptions options;
  options.sample_rate = 1.0;
  options.checks = {&*json_check};
  auto mirror = Mirror::Start(candidate, options, clock);
  ASSERT_TRUE(mirror.ok());
  EXPECT_TRUE((*mirror)->Offer("good", "{\"a\": 1}"));
  EXPECT_TRUE((*mirror)->Offer("bad", "{\"a\": 1}"));
  (*mirror)->WaitIdle();
  const MirrorStats s = (*mirror)->Stats();
  EXPECT_EQ(s.replayed, 2u);
  EXPECT_EQ(*s.exact_match_rate, 0.5);
  EXPECT_EQ(*s.pass_rate_production, 1.0);
  EXPECT_EQ(*s.pass_rate_candidate, 0.5);
  EXPECT_EQ(s.regressions, 1u);
  EXPECT_EQ(s.positions, 16u);  // Both production outputs, 8 tokens each.
  ASSERT_TRUE(s.same_top1.has_value());
  ASSERT_TRUE(s.perplexity.has_value());
}

TEST(MirrorTest, FullQueueDropsInsteadOfBlocking) {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  FakeSpec spec;
  spec.on_generate = [&] {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  FakeModel candidate(spec);
  ota::testing::ManualClock clock;
  MirrorOptions options;
  options.sample_rate = 1.0;
  options.queue_capacity = 2;
  auto mirror = Mirror::Start(candidate, options, clock);
  ASSERT_TRUE(mirror.ok());
  EXPECT_TRUE((*mirror)->Offer("first", "ok"));
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });  // The worker holds the first one.
  }
  EXPECT_TRUE((*mirror)->Offer("second", "ok"));
  EXPECT_TRUE((*mirror)->Offer("third", "ok"));
  EXPECT_FALSE((*mirror)->Offer("fourth", "ok"));                 // Queue full: dropped at once.
  EXPECT_FALSE((*mirror)->Offer(std::string(20000, 'x'), "ok"));  // Too large.
  {
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  }
  (*mirror)->WaitIdle();
  const MirrorStats s = (*mirror)->Stats();
  EXPECT_EQ(s.sampled, 5u);
  EXPECT_EQ(s.dropped, 1u);
  EXPECT_EQ(s.too_large, 1u);
  EXPECT_EQ(s.replayed, 3u);
}

// Replays take 1 s of (fake) time each; a 25% budget pauses 3 s after each.
class SteppingClock : public ota::testing::ManualClock {
 public:
  std::chrono::steady_clock::time_point Monotonic() const override {
    const_cast<SteppingClock*>(this)->Advance(std::chrono::milliseconds(500));
    return ManualClock::Monotonic();
  }
  void SleepFor(std::chrono::milliseconds d) override {
    slept += d;
    Advance(d);
  }
  std::chrono::milliseconds slept{0};
};

TEST(MirrorTest, PausesToStayWithinTheCpuBudget) {
  FakeModel candidate{FakeSpec{}};
  SteppingClock clock;
  MirrorOptions options;
  options.sample_rate = 1.0;
  options.cpu_budget = 0.25;
  auto mirror = Mirror::Start(candidate, options, clock);
  ASSERT_TRUE(mirror.ok());
  (*mirror)->Offer("a", "ok");
  (*mirror)->WaitIdle();
  (*mirror)->Stop();
  EXPECT_DOUBLE_EQ((*mirror)->Stats().busy_seconds, 0.5);
  EXPECT_EQ(clock.slept, std::chrono::milliseconds(1500));
}

TEST(MirrorTest, RefusesBadOptions) {
  FakeModel candidate{FakeSpec{}};
  ota::testing::ManualClock clock;
  MirrorOptions options;
  options.sample_rate = 1.5;
  EXPECT_FALSE(Mirror::Start(candidate, options, clock).ok());
  options.sample_rate = 0.5;
  options.cpu_budget = 0;
  EXPECT_FALSE(Mirror::Start(candidate, options, clock).ok());
  options.cpu_budget = 0.5;
  options.queue_capacity = 0;
  EXPECT_FALSE(Mirror::Start(candidate, options, clock).ok());
}

}  // namespace
}  // namespace ota::shadow
