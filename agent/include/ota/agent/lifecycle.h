// The device update lifecycle as an explicit state machine (Mender-style):
// an enum of states, an enum of events and one transition table that reads
// top to bottom. Pure: no I/O.
#ifndef OTA_AGENT_LIFECYCLE_H_
#define OTA_AGENT_LIFECYCLE_H_

#include <optional>
#include <string_view>

namespace ota::agent {

enum class State {
  kIdle,
  kChecking,
  kDownloading,
  kVerifying,
  kStaged,
  kCapabilityCheck,
  kShadowing,
  kDraining,
  kActivating,
  kConfirming,
  kCommitted,
  kRollingBack,
  kFailed,
};

enum class Event {
  kUpdateFound,  // checking: a newer target exists
  kNoUpdate,     // checking: nothing to do
  kDone,         // the state's work finished successfully
  kError,        // the state's work failed; the deployment must not go on
  kRefetch,      // verifying: the downloaded bytes were discarded; download again later
};

std::string_view StateName(State state);
std::optional<State> ParseState(std::string_view name);

// The next state for `event` in `state`, or nullopt if the pair is not in
// the table (a programming error the caller turns into a rollback).
std::optional<State> NextState(State state, Event event);

// True for states a deployment ends in.
bool IsTerminal(State state);

// Where a restarted agent continues a deployment whose last saved state is
// `saved`. Every step is idempotent, so most states resume in place; an
// activation in progress is re-checked, since the switch itself is atomic.
State ResumeState(State saved);

}  // namespace ota::agent

#endif  // OTA_AGENT_LIFECYCLE_H_
