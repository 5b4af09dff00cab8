#include "ota/agent/lifecycle.h"

#include "test_support.h"

namespace ota::agent {
namespace {

const State kAll[] = {State::kIdle,       State::kChecking,  State::kDownloading,
                      State::kVerifying,  State::kStaged,    State::kCapabilityCheck,
                      State::kShadowing,  State::kDraining,  State::kActivating,
                      State::kConfirming, State::kCommitted, State::kRollingBack,
                      State::kFailed};

TEST(LifecycleTest, HappyPathVisitsEveryStepInOrder) {
  std::vector<State> path = {State::kChecking};
  State s = *NextState(State::kChecking, Event::kUpdateFound);
  while (!IsTerminal(s)) {
    path.push_back(s);
    s = *NextState(s, Event::kDone);
  }
  path.push_back(s);
  const std::vector<State> expected = {
      State::kChecking,        State::kDownloading, State::kVerifying, State::kStaged,
      State::kCapabilityCheck, State::kShadowing,   State::kDraining,  State::kActivating,
      State::kConfirming,      State::kCommitted};
  EXPECT_EQ(path, expected);
}

TEST(LifecycleTest, EveryNonTerminalStateHasAnErrorExit) {
  for (State s : kAll) {
    if (IsTerminal(s)) continue;
    auto next = NextState(s, Event::kError);
    ASSERT_TRUE(next.has_value()) << StateName(s);
    EXPECT_TRUE(*next == State::kFailed || *next == State::kRollingBack) << StateName(s);
  }
}

TEST(LifecycleTest, ErrorsAfterTheSwitchRollBack) {
  EXPECT_EQ(NextState(State::kActivating, Event::kError), State::kRollingBack);
  EXPECT_EQ(NextState(State::kConfirming, Event::kError), State::kRollingBack);
  EXPECT_EQ(NextState(State::kShadowing, Event::kError), State::kFailed);
  EXPECT_EQ(NextState(State::kRollingBack, Event::kDone), State::kFailed);
}

TEST(LifecycleTest, NamesRoundTrip) {
  for (State s : kAll) EXPECT_EQ(ParseState(StateName(s)), s);
  EXPECT_FALSE(ParseState("exploded").has_value());
}

TEST(LifecycleTest, ResumeTable) {
  EXPECT_EQ(ResumeState(State::kChecking), State::kDownloading);
  EXPECT_EQ(ResumeState(State::kDownloading), State::kDownloading);
  EXPECT_EQ(ResumeState(State::kActivating), State::kActivating);
  EXPECT_EQ(ResumeState(State::kCommitted), State::kCommitted);
  EXPECT_EQ(ResumeState(State::kRollingBack), State::kRollingBack);
}

}  // namespace
}  // namespace ota::agent
