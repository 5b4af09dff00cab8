#include "ota/agent/lifecycle.h"

#include <array>

namespace ota::agent {
namespace {

using S = State;
constexpr Transition Go(State to) { return Transition{to, false}; }
constexpr Transition Pause(State to) { return Transition{to, true}; }

struct Row {
  State state;
  StateInfo info;
  // One cell per Event, in the enum's order:
  //  update-found   no-update      ok             retry-later    refetch
  //  error          loop           rollback       confirmation-failed
  std::array<Transition, kEventCount> next;
};

constexpr Transition kF = Go(S::kFailed);
constexpr Transition kRb = Go(S::kRollingBack);

// The whole lifecycle. Before the switch every failure ends in failed with
// the previous version active; from the switch on (after_switch) every
// failure goes through rolling-back. Events a state cannot produce get the
// same safe exit as its errors.
// clang-format off
constexpr std::array<Row, kStateCount> kTable = {{
  {S::kIdle, {"idle", true, false, false, false, S::kIdle},
   {Go(S::kIdle), Go(S::kIdle), Go(S::kIdle), Go(S::kIdle), Go(S::kIdle),
    Go(S::kIdle), Go(S::kIdle), Go(S::kIdle), Go(S::kIdle)}},
  // The target is recorded before checking is left: a restart goes on downloading.
  {S::kChecking, {"checking", false, true, false, false, S::kDownloading},
   {Go(S::kDownloading), Go(S::kIdle), Go(S::kDownloading), Pause(S::kChecking), kF,
    kF, kF, kF, kF}},
  {S::kDownloading, {"downloading", false, true, false, false, S::kDownloading},
   {kF, kF, Go(S::kVerifying), Pause(S::kDownloading), Pause(S::kDownloading),
    kF, kF, kF, kF}},
  // refetch: bytes that failed their check for a reason that may be the
  // transport's (docs/architecture.md "Downloads"), fetched on a later cycle.
  {S::kVerifying, {"verifying", false, false, false, false, S::kVerifying},
   {kF, kF, Go(S::kCapabilityCheck), Pause(S::kVerifying), Pause(S::kDownloading),
    kF, kF, kF, kF}},
  {S::kCapabilityCheck, {"capability-check", false, false, false, false, S::kCapabilityCheck},
   {kF, kF, Go(S::kShadowing), Pause(S::kCapabilityCheck), kF,
    kF, kF, kF, kF}},
  {S::kShadowing, {"shadowing", false, false, false, false, S::kShadowing},
   {kF, kF, Go(S::kSwitching), Pause(S::kShadowing), kF,
    kF, kF, kF, kF}},
  // The switch happens inside this state (after the drain, or before it under
  // switch-new-first): its failures may leave the candidate active.
  {S::kSwitching, {"switching", false, false, true, true, S::kSwitching},
   {kRb, kRb, Go(S::kConfirming), Pause(S::kSwitching), kRb,
    kRb, kRb, kRb, kRb}},
  {S::kConfirming, {"confirming", false, false, false, true, S::kConfirming},
   {kRb, kRb, Go(S::kCommitted), Pause(S::kConfirming), kRb,
    kRb, kRb, kRb, kRb}},
  {S::kCommitted, {"committed", true, false, false, false, S::kCommitted},
   {Go(S::kCommitted), Go(S::kCommitted), Go(S::kCommitted), Go(S::kCommitted),
    Go(S::kCommitted), Go(S::kCommitted), Go(S::kCommitted), Go(S::kCommitted),
    Go(S::kCommitted)}},
  // Whatever its outcome the deployment ends failed (the rollback itself
  // bounds its attempts, deployment.cc).
  {S::kRollingBack, {"rolling-back", false, false, false, true, S::kRollingBack},
   {kF, kF, kF, Pause(S::kRollingBack), kF,
    kF, kF, kF, kF}},
  {S::kFailed, {"failed", true, false, false, false, S::kFailed},
   {kF, kF, kF, kF, kF, kF, kF, kF, kF}},
}};
// clang-format on

constexpr bool TableInOrder() {
  for (std::size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<std::size_t>(kTable[i].state) != i) return false;
  }
  return true;
}
static_assert(TableInOrder(), "kTable rows must follow the State enum");

constexpr std::array<std::string_view, kEventCount> kEventNames = {
    "update-found",  "no-update",        "ok",
    "retry-later",   "refetch",          "error",
    "loop-detected", "rollback-ordered", "confirmation-failed"};

const Row& RowOf(State state) { return kTable[static_cast<std::size_t>(state)]; }

}  // namespace

const StateInfo& Info(State state) { return RowOf(state).info; }

std::string_view StateName(State state) { return Info(state).name; }

std::string_view EventName(Event event) { return kEventNames[static_cast<std::size_t>(event)]; }

std::optional<State> ParseState(std::string_view name) {
  for (const Row& row : kTable) {
    if (row.info.name == name) return row.state;
  }
  if (name == "staged") return State::kCapabilityCheck;
  if (name == "draining") return State::kSwitching;
  if (name == "activating") return State::kConfirming;
  return std::nullopt;
}

State StateForUnknownName() { return State::kRollingBack; }

Transition NextState(State state, Event event) {
  return RowOf(state).next[static_cast<std::size_t>(event)];
}

bool IsTerminal(State state) { return Info(state).terminal; }

State ResumeState(State saved) { return Info(saved).resumes_to; }

}  // namespace ota::agent
