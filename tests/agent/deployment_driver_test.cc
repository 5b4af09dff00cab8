// The deployment driver against fakes, in the manner of Mender's state
// tests: a scripted event per state, the states the driver saves, where it
// stops. Every cell of the lifecycle table a deployment can reach is driven,
// with expectations written out here rather than read from the table.
#include "deployment_driver.h"

#include <map>
#include <string>
#include <vector>

#include "test_support.h"

namespace ota::agent {
namespace {

using S = State;
using E = Event;

// Each state's work ends with the scripted event (once), else ok. The
// candidate becomes active when switching ends ok or with an error after the
// switch, and inactive when a rollback ends ok.
class FakeSteps : public DeploymentSteps {
 public:
  std::map<State, Event> script;
  std::vector<State> ran;
  bool candidate_active = false;
  bool switch_before_error = true;

  StepResult Run(State state) override {
    ran.push_back(state);
    Event e = Event::kOk;
    if (auto it = script.find(state); it != script.end()) {
      e = it->second;
      script.erase(it);
    }
    if (state == State::kSwitching && (e == Event::kOk || switch_before_error)) {
      candidate_active = true;
    }
    if (state == State::kRollingBack && e == Event::kOk) candidate_active = false;
    StepResult r{e, std::nullopt};
    if (e != Event::kOk) {
      r.error = MakeError(e == Event::kRetryLater ? ErrorCode::kRetryLater : ErrorCode::kIo,
                          std::string(StateName(state)) + " " + std::string(EventName(e)));
    }
    return r;
  }
  bool CandidateActive() override { return candidate_active; }
};

class FakeJournal : public DeploymentJournal {
 public:
  std::vector<State> saved;
  std::vector<bool> with_failure;
  bool fail = false;
  Status Save(State state, bool /*terminal*/, const std::optional<Error>& failure) override {
    if (fail) return MakeError(ErrorCode::kIo, "disk full");
    saved.push_back(state);
    with_failure.push_back(failure.has_value());
    return Ok();
  }
};

struct Case {
  const char* name;
  State saved;
  std::map<State, Event> script;
  std::vector<State> expect_saved;
  State expect_final;
  bool expect_paused;
  bool expect_returned = false;
  int saves = 1;
  bool candidate_active_at_start = false;
};

const int kMaxSaves = 64;

TEST(DeploymentDriverTest, Scenarios) {
  const std::vector<Case> cases = {
      {"happy path from a new deployment",
       S::kDownloading,
       {},
       {S::kVerifying, S::kCapabilityCheck, S::kShadowing, S::kSwitching, S::kConfirming,
        S::kCommitted},
       S::kCommitted,
       false},
      {"a restart in checking goes on downloading",
       S::kChecking,
       {},
       {S::kDownloading, S::kVerifying, S::kCapabilityCheck, S::kShadowing, S::kSwitching,
        S::kConfirming, S::kCommitted},
       S::kCommitted,
       false},
      {"download retry-later pauses in place, nothing saved",
       S::kDownloading,
       {{S::kDownloading, E::kRetryLater}},
       {},
       S::kDownloading,
       true},
      {"verify refetch is saved in downloading, then pauses",
       S::kDownloading,
       {{S::kVerifying, E::kRefetch}},
       {S::kVerifying, S::kDownloading},
       S::kDownloading,
       true},
      {"capability error ends failed",
       S::kDownloading,
       {{S::kCapabilityCheck, E::kError}},
       {S::kVerifying, S::kCapabilityCheck, S::kFailed},
       S::kFailed,
       false},
      {"shadow retry pauses in shadowing",
       S::kShadowing,
       {{S::kShadowing, E::kRetryLater}},
       {},
       S::kShadowing,
       true},
      // switch-new-first switched, then waiting for old sessions failed:
      // the candidate is active, so the deployment must roll back.
      {"an error after the switch rolls back",
       S::kShadowing,
       {{S::kSwitching, E::kError}},
       {S::kSwitching, S::kRollingBack, S::kFailed},
       S::kFailed,
       false,
       /*returned=*/true},
      {"a deferred drain pauses in switching",
       S::kSwitching,
       {{S::kSwitching, E::kRetryLater}},
       {},
       S::kSwitching,
       true},
      {"a failed confirmation rolls back",
       S::kConfirming,
       {{S::kConfirming, E::kConfirmationFailed}},
       {S::kRollingBack, S::kFailed},
       S::kFailed,
       false,
       /*returned=*/true,
       1,
       /*candidate_active_at_start=*/true},
      {"an open window pauses in confirming",
       S::kConfirming,
       {{S::kConfirming, E::kRetryLater}},
       {},
       S::kConfirming,
       true,
       false,
       1,
       true},
      {"a rollback ordered by hand, resumed",
       S::kRollingBack,
       {},
       {S::kFailed},
       S::kFailed,
       false,
       /*returned=*/true,
       1,
       true},
      {"a rollback that fails ends failed, nothing returned",
       S::kRollingBack,
       {{S::kRollingBack, E::kError}},
       {S::kFailed},
       S::kFailed,
       false,
       false,
       1,
       true},
      {"a restart loop before the switch ends failed without work",
       S::kShadowing,
       {},
       {S::kFailed},
       S::kFailed,
       false,
       false,
       kMaxSaves},
      {"a restart loop in switching rolls back",
       S::kSwitching,
       {},
       {S::kRollingBack, S::kFailed},
       S::kFailed,
       false,
       /*returned=*/true,
       kMaxSaves,
       true},
      {"a restart loop in confirming rolls back",
       S::kConfirming,
       {},
       {S::kRollingBack, S::kFailed},
       S::kFailed,
       false,
       /*returned=*/true,
       kMaxSaves,
       true},
      {"a committed deployment stays committed",
       S::kCommitted,
       {},
       {S::kCommitted},
       S::kCommitted,
       false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeSteps steps;
    steps.script = c.script;
    steps.candidate_active = c.candidate_active_at_start;
    FakeJournal journal;
    const DriveResult r = DriveDeployment(c.saved, c.saves, kMaxSaves, steps, journal);
    EXPECT_EQ(journal.saved, c.expect_saved);
    EXPECT_EQ(r.state, c.expect_final);
    EXPECT_EQ(r.paused, c.expect_paused);
    EXPECT_EQ(r.returned, c.expect_returned);
    // A rollback resumed as ordered carries no new error: its reason was
    // saved when it was ordered.
    const bool ended_ok = (r.state == S::kCommitted && !r.paused) ||
                          (c.saved == S::kRollingBack && c.script.empty() && c.saves < kMaxSaves);
    EXPECT_EQ(r.error.has_value(), !ended_ok);
    if (c.saves >= kMaxSaves) {
      ASSERT_TRUE(r.error.has_value());
      EXPECT_EQ(r.error->code, ErrorCode::kRestartDeployment);
      for (State s : steps.ran) EXPECT_EQ(s, S::kRollingBack);  // Only the rollback runs.
    }
  }
}

// Every event in every state the driver runs: the first state saved after
// the event (or the pause in place), against this hand-written table.
// Codes: N the next step (ok), P pause in place, D pause in downloading,
// F failed, R rolling-back.
TEST(DeploymentDriverTest, EveryCell) {
  struct Row {
    State state;
    State next;            // The happy successor.
    const char* expected;  // One code per Event, in enum order.
  };
  const Row rows[] = {
      {S::kDownloading, S::kVerifying, "FFNPPFFFF"},
      {S::kVerifying, S::kCapabilityCheck, "FFNPDFFFF"},
      {S::kCapabilityCheck, S::kShadowing, "FFNPFFFFF"},
      {S::kShadowing, S::kSwitching, "FFNPFFFFF"},
      {S::kSwitching, S::kConfirming, "RRNPRRRRR"},
      {S::kConfirming, S::kCommitted, "RRNPRRRRR"},
      {S::kRollingBack, S::kFailed, "FFNPFFFFF"},
  };
  const Event events[] = {E::kUpdateFound,  E::kNoUpdate,        E::kOk,
                          E::kRetryLater,   E::kRefetch,         E::kError,
                          E::kLoopDetected, E::kRollbackOrdered, E::kConfirmationFailed};
  for (const Row& row : rows) {
    for (int i = 0; i < kEventCount; ++i) {
      SCOPED_TRACE(std::string(StateName(row.state)) + " + " + std::string(EventName(events[i])));
      FakeSteps steps;
      steps.script = {{row.state, events[i]}};
      steps.candidate_active = Info(row.state).after_switch;
      FakeJournal journal;
      const DriveResult r = DriveDeployment(row.state, 1, kMaxSaves, steps, journal);
      ASSERT_FALSE(steps.ran.empty());
      EXPECT_EQ(steps.ran[0], row.state);
      const char code = row.expected[i];
      if (code == 'P') {
        EXPECT_TRUE(r.paused);
        EXPECT_EQ(r.state, row.state);
        EXPECT_TRUE(journal.saved.empty());
        continue;
      }
      ASSERT_FALSE(journal.saved.empty());
      const State first = journal.saved[0];
      switch (code) {
        case 'N':
          EXPECT_EQ(first, row.next);
          break;
        case 'D':
          EXPECT_EQ(first, S::kDownloading);
          EXPECT_TRUE(r.paused);
          break;
        case 'F':
          EXPECT_EQ(first, S::kFailed);
          EXPECT_TRUE(journal.with_failure[0]);
          break;
        case 'R':
          EXPECT_EQ(first, S::kRollingBack);
          EXPECT_EQ(journal.saved.back(), S::kFailed);
          EXPECT_TRUE(journal.with_failure[0]);
          break;
        default:
          FAIL() << "bad code " << code;
      }
    }
  }
}

TEST(DeploymentDriverTest, ASaveThatFailsPausesBeforeAnyWork) {
  FakeSteps steps;
  FakeJournal journal;
  journal.fail = true;
  const DriveResult r = DriveDeployment(S::kChecking, 1, kMaxSaves, steps, journal);
  EXPECT_TRUE(r.paused);
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.error->message, "disk full");
  EXPECT_TRUE(steps.ran.empty());
}

}  // namespace
}  // namespace ota::agent
