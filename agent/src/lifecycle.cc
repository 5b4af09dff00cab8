#include "ota/agent/lifecycle.h"

#include <array>

namespace ota::agent {
namespace {

struct Transition {
  State from;
  Event event;
  State to;
};

// The whole lifecycle. Every failure before activation leaves the previous
// version active and ends in kFailed; a failure at or after activation goes
// through kRollingBack first.
constexpr std::array kTransitions = {
    Transition{State::kIdle, Event::kDone, State::kChecking},
    Transition{State::kChecking, Event::kUpdateFound, State::kDownloading},
    Transition{State::kChecking, Event::kNoUpdate, State::kIdle},
    Transition{State::kChecking, Event::kError, State::kFailed},
    Transition{State::kDownloading, Event::kDone, State::kVerifying},
    Transition{State::kDownloading, Event::kError, State::kFailed},
    Transition{State::kVerifying, Event::kDone, State::kStaged},
    Transition{State::kVerifying, Event::kError, State::kFailed},
    // Bytes that failed their check for a reason that may be the transport's
    // (docs/architecture.md "Downloads"): fetched again on a later cycle.
    Transition{State::kVerifying, Event::kRefetch, State::kDownloading},
    Transition{State::kStaged, Event::kDone, State::kCapabilityCheck},
    Transition{State::kStaged, Event::kError, State::kFailed},
    Transition{State::kCapabilityCheck, Event::kDone, State::kShadowing},
    Transition{State::kCapabilityCheck, Event::kError, State::kFailed},
    Transition{State::kShadowing, Event::kDone, State::kDraining},
    Transition{State::kShadowing, Event::kError, State::kFailed},
    Transition{State::kDraining, Event::kDone, State::kActivating},
    Transition{State::kDraining, Event::kError, State::kFailed},
    Transition{State::kActivating, Event::kDone, State::kConfirming},
    Transition{State::kActivating, Event::kError, State::kRollingBack},
    Transition{State::kConfirming, Event::kDone, State::kCommitted},
    Transition{State::kConfirming, Event::kError, State::kRollingBack},
    Transition{State::kRollingBack, Event::kDone, State::kFailed},
    Transition{State::kRollingBack, Event::kError, State::kFailed},
};

constexpr std::array<std::string_view, 13> kNames = {
    "idle",      "checking", "downloading", "verifying",  "staged",    "capability-check",
    "shadowing", "draining", "activating",  "confirming", "committed", "rolling-back",
    "failed",
};

}  // namespace

std::string_view StateName(State state) { return kNames[static_cast<std::size_t>(state)]; }

std::optional<State> ParseState(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<State>(i);
  }
  return std::nullopt;
}

std::optional<State> NextState(State state, Event event) {
  for (const Transition& t : kTransitions) {
    if (t.from == state && t.event == event) return t.to;
  }
  return std::nullopt;
}

bool IsTerminal(State state) {
  return state == State::kCommitted || state == State::kFailed || state == State::kIdle;
}

State ResumeState(State saved) {
  switch (saved) {
    case State::kIdle:
    case State::kCommitted:
    case State::kFailed:
      return saved;
    case State::kChecking:
      // The target was recorded before leaving checking; nothing to redo.
      return State::kDownloading;
    case State::kDownloading:
    case State::kVerifying:
    case State::kStaged:
    case State::kCapabilityCheck:
    case State::kShadowing:
    case State::kDraining:
    case State::kActivating:
    case State::kConfirming:
    case State::kRollingBack:
      return saved;
  }
  return State::kRollingBack;
}

}  // namespace ota::agent
