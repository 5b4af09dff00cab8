#include "ota/agent/lifecycle.h"

#include "test_support.h"

namespace ota::agent {
namespace {

const State kAll[] = {State::kIdle,        State::kChecking,        State::kDownloading,
                      State::kVerifying,   State::kCapabilityCheck, State::kShadowing,
                      State::kSwitching,   State::kConfirming,      State::kCommitted,
                      State::kRollingBack, State::kFailed};
const Event kEvents[] = {Event::kUpdateFound,  Event::kNoUpdate,        Event::kOk,
                         Event::kRetryLater,   Event::kRefetch,         Event::kError,
                         Event::kLoopDetected, Event::kRollbackOrdered, Event::kConfirmationFailed};

TEST(LifecycleTest, HappyPathVisitsEveryStepInOrder) {
  std::vector<State> path = {State::kChecking};
  State s = NextState(State::kChecking, Event::kUpdateFound).to;
  while (!IsTerminal(s)) {
    path.push_back(s);
    s = NextState(s, Event::kOk).to;
  }
  path.push_back(s);
  const std::vector<State> expected = {
      State::kChecking,  State::kDownloading, State::kVerifying,  State::kCapabilityCheck,
      State::kShadowing, State::kSwitching,   State::kConfirming, State::kCommitted};
  EXPECT_EQ(path, expected);
}

// Every cell leads somewhere sensible: a failure before the switch ends in
// failed, from the switch on it goes through rolling-back; retry-later
// pauses in place (verifying's refetch pauses in downloading).
TEST(LifecycleTest, EveryCellKeepsTheSwitchRule) {
  for (State s : kAll) {
    for (Event e : kEvents) {
      SCOPED_TRACE(std::string(StateName(s)) + " + " + std::string(EventName(e)));
      const Transition t = NextState(s, e);
      if (IsTerminal(s)) {
        EXPECT_EQ(t, (Transition{s, false}));
        continue;
      }
      if (e == Event::kRetryLater) {
        EXPECT_EQ(t, (Transition{s, true}));
        continue;
      }
      if (e == Event::kOk || (s == State::kChecking && e == Event::kUpdateFound)) {
        EXPECT_FALSE(t.pause);
        continue;
      }
      if (s == State::kChecking && e == Event::kNoUpdate) {
        EXPECT_EQ(t.to, State::kIdle);
        continue;
      }
      if (e == Event::kRefetch && (s == State::kDownloading || s == State::kVerifying)) {
        EXPECT_EQ(t, (Transition{State::kDownloading, true}));
        continue;
      }
      const bool after = Info(s).after_switch;
      if (s == State::kRollingBack) {
        EXPECT_EQ(t, (Transition{State::kFailed, false}));
      } else {
        EXPECT_EQ(t, (Transition{after ? State::kRollingBack : State::kFailed, false}));
      }
    }
  }
}

// The switch happens inside `switching`: a failure there may leave the
// candidate active, so it must roll back, never end failed.
TEST(LifecycleTest, FailuresFromTheSwitchOnRollBack) {
  EXPECT_EQ(NextState(State::kSwitching, Event::kError).to, State::kRollingBack);
  EXPECT_EQ(NextState(State::kSwitching, Event::kLoopDetected).to, State::kRollingBack);
  EXPECT_EQ(NextState(State::kConfirming, Event::kConfirmationFailed).to, State::kRollingBack);
  EXPECT_EQ(NextState(State::kConfirming, Event::kRollbackOrdered).to, State::kRollingBack);
  EXPECT_EQ(NextState(State::kShadowing, Event::kError).to, State::kFailed);
  EXPECT_EQ(NextState(State::kRollingBack, Event::kOk).to, State::kFailed);
}

TEST(LifecycleTest, NamesRoundTripAndOlderNamesAreRead) {
  for (State s : kAll) EXPECT_EQ(ParseState(StateName(s)), s);
  EXPECT_EQ(ParseState("staged"), State::kCapabilityCheck);
  EXPECT_EQ(ParseState("draining"), State::kSwitching);
  EXPECT_EQ(ParseState("activating"), State::kConfirming);
  EXPECT_FALSE(ParseState("exploded").has_value());
  EXPECT_EQ(StateForUnknownName(), State::kRollingBack);
}

TEST(LifecycleTest, ResumeAndAttributes) {
  EXPECT_EQ(ResumeState(State::kChecking), State::kDownloading);
  for (State s : kAll) {
    if (s != State::kChecking) {
      EXPECT_EQ(ResumeState(s), s) << StateName(s);
    }
  }
  EXPECT_TRUE(Info(State::kDownloading).needs_network);
  EXPECT_TRUE(Info(State::kSwitching).waits_for_sessions);
  for (State s : {State::kSwitching, State::kConfirming, State::kRollingBack}) {
    EXPECT_TRUE(Info(s).after_switch) << StateName(s);
  }
  for (State s : {State::kIdle, State::kCommitted, State::kFailed}) EXPECT_TRUE(IsTerminal(s));
}

}  // namespace
}  // namespace ota::agent
