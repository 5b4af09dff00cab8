// The device update lifecycle as one table (Mender-style): a row per state
// with its attributes, a column per event, and in each cell the next state
// and whether the deployment pauses there until the next cycle. Nothing else
// in the agent picks a next state. Pure: no I/O.
//
// docs/architecture.md "Lifecycle" prints the table.
#ifndef OTA_AGENT_LIFECYCLE_H_
#define OTA_AGENT_LIFECYCLE_H_

#include <optional>
#include <string_view>

namespace ota::agent {

enum class State {
  kIdle,             // No deployment (terminal).
  kChecking,         // Choosing a target; saved only on the way to downloading.
  kDownloading,      // Fetching the bundle (or a delta) into a part file.
  kVerifying,        // Signed length and hashes, then unpacking into the store.
  kCapabilityCheck,  // Whether this device can run the version.
  kShadowing,        // The candidate against the active version, if asked.
  kSwitching,        // Waiting for sessions as the drain policy says, then the switch.
  kConfirming,       // The new version serves; the app's sessions decide.
  kCommitted,        // Done (terminal).
  kRollingBack,      // Back to the previous version.
  kFailed,           // Ended without the candidate (terminal).
};
inline constexpr int kStateCount = 11;

// What a state's work ended with (the table's columns).
enum class Event {
  kUpdateFound,         // checking: a target to install
  kNoUpdate,            // checking: nothing to do
  kOk,                  // the state's work finished
  kRetryLater,          // a transient failure: try again on a later cycle
  kRefetch,             // the downloaded bytes were discarded: fetch them again
  kError,               // a failure that ends the deployment
  kLoopDetected,        // the deployment was saved too often (a restart loop)
  kRollbackOrdered,     // a rollback by hand (ota-agent rollback, the C API)
  kConfirmationFailed,  // sessions failed, a crash loop, or the model does not load
};
inline constexpr int kEventCount = 9;

// A cell: where the deployment goes, and whether it stops there until the
// next cycle (saved first, so a restart resumes there too).
struct Transition {
  State to = State::kFailed;
  bool pause = false;
  bool operator==(const Transition&) const = default;
};

// A row's attributes.
struct StateInfo {
  std::string_view name;  // As saved in the state database and reported.
  bool terminal = false;
  // Its work needs fresh signed metadata: it resumes only in an update
  // cycle, after the refresh, never from Resume().
  bool needs_network = false;
  // It may hold a cycle while apps' sessions drain: update cycle only.
  bool waits_for_sessions = false;
  // The candidate may be active: any failure goes through rolling-back.
  bool after_switch = false;
  // Where a restarted agent continues a deployment saved in this state.
  State resumes_to = State::kFailed;
};

const StateInfo& Info(State state);
std::string_view StateName(State state);
std::string_view EventName(Event event);

// A saved name back to its state. Names of older builds of the table are
// read as the state that now does their work ("staged": capability-check,
// "draining": switching, "activating": confirming); nullopt for any other.
std::optional<State> ParseState(std::string_view name);

// The state a deployment saved under a name this build does not know (a
// newer build's, after a downgrade) is read as: rolling-back, after which
// the previous version is active whatever that state did.
State StateForUnknownName();

// The cell of the table. Total: every (state, event) pair has one; in a
// terminal state every event stays there.
Transition NextState(State state, Event event);

bool IsTerminal(State state);
State ResumeState(State saved);

}  // namespace ota::agent

#endif  // OTA_AGENT_LIFECYCLE_H_
