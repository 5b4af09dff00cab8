// Server-side rollout controller (hawkBit-style), as pure functions: device
// report kinds mapped to rollout phases, per-stage counts, and the decision
// whether a stage advances, waits, or is stopped because of errors.
//
// Nothing here reads a clock, a database or the network: the server gathers
// StageCounts from its report store, calls EvaluateStage, and then acts (a new
// rollout manifest version, an audit row). Tests enumerate every case.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef OTA_ROLLOUT_CONTROLLER_H_
#define OTA_ROLLOUT_CONTROLLER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"
#include "ota/manifest/rollout_manifest.h"

namespace ota::rollout {

// Where a device stands in one rollout, from its latest report. The order is
// not a ranking; see PhaseAfter.
enum class DevicePhase {
  kDownloading,  // Fetching, verifying or staging the target.
  kShadowPass,   // The candidate passed its shadow test on the device.
  kShadowFail,   // The candidate failed its shadow test (counts as an error).
  kActivated,    // The target is active, not yet confirmed healthy.
  kConfirmed,    // Committed: the target proved healthy (success).
  kRolledBack,   // Went back to the previous version (counts as an error).
  kFailed,       // The deployment failed before activation (counts as an error).
  kIncompatible  // The device cannot run the target (not an error).
};
inline constexpr int kDevicePhaseCount = 8;

// "downloading", "shadow_pass", "shadow_fail", "activated", "confirmed",
// "rolled_back", "failed", "incompatible".
std::string_view DevicePhaseName(DevicePhase phase);
std::optional<DevicePhase> ParseDevicePhase(std::string_view name);

// The phase a report event puts a device in, or nullopt for events that say
// nothing about a rollout (enrolled, check-failed, unknown types). `event` is
// one event object of a device report (docs/server-api.md, "Report events"):
//   type "state": by "state": downloading, verifying, staged,
//     capability-check, shadowing, draining, activating -> kDownloading;
//     confirming -> kActivated; committed -> kConfirmed; rolling-back ->
//     kRolledBack; failed -> kIncompatible when "error_code" is
//     "incompatible", else kFailed.
//   type "shadow-result": "verdict" "pass" -> kShadowPass, "fail" -> kShadowFail.
//   type "insufficient-space" or "incompatible" -> kIncompatible.
//   types "activated", "confirmed", "rolled-back", "failed" -> that phase.
std::optional<DevicePhase> PhaseForEvent(const nlohmann::json& event);

// The phase to record when a device in `previous` reports `next`: `next`,
// except that a device that rolled back stays kRolledBack when its
// deployment then ends as kFailed (the agent's rolling-back -> failed), and
// one whose shadow test failed stays kShadowFail when its deployment then
// ends as kFailed or kIncompatible (the agent's shadowing -> failed).
DevicePhase PhaseAfter(std::optional<DevicePhase> previous, DevicePhase next);

// Devices of one stage by phase, plus how many the stage targets.
struct StageCounts {
  std::uint64_t targeted = 0;  // Registered devices the stage covers.
  std::uint64_t by_phase[kDevicePhaseCount] = {};

  std::uint64_t Count(DevicePhase p) const { return by_phase[static_cast<int>(p)]; }
  std::uint64_t& At(DevicePhase p) { return by_phase[static_cast<int>(p)]; }
  // Devices that reported anything about the rollout in this stage.
  std::uint64_t Reporting() const;
  // kShadowFail + kRolledBack + kFailed.
  std::uint64_t Errors() const;
  std::uint64_t Successes() const { return Count(DevicePhase::kConfirmed); }
};

enum class ErrorAction { kPause, kHalt };

// Thresholds of one stage (server-side policy; devices never see it).
struct StagePolicy {
  // Advance when confirmed / reporting >= success_percent (0..100) ...
  double success_percent = 90.0;
  // ... and at least this many devices reported (also the floor for the
  // error percentage to count).
  std::uint64_t min_reporting = 1;
  // Stop when errors / reporting >= error_percent (with min_reporting met) ...
  double error_percent = 10.0;
  // ... or errors >= max_errors, whatever the number reporting (0: off).
  std::uint64_t max_errors = 0;
  ErrorAction on_error = ErrorAction::kPause;
};

struct ControllerPolicy {
  StagePolicy defaults;
  // Per stage index; stages past the end use `defaults`.
  std::vector<StagePolicy> stages;
  // When true an operator must approve every advance.
  bool manual_approval = false;

  const StagePolicy& ForStage(std::size_t stage) const {
    return stage < stages.size() ? stages[stage] : defaults;
  }
};

// Parses the policy object of docs/server-api.md ("Controller policy"); every
// field optional, unknown fields refused. kInvalidArgument naming the field.
Result<ControllerPolicy> ParseControllerPolicy(const nlohmann::json& json);
nlohmann::json ToJson(const ControllerPolicy& policy);

enum class ControllerAction {
  kNone,           // Nothing to do now (see reason).
  kAdvance,        // Move to the next stage.
  kAwaitApproval,  // Ready to advance; an operator must approve.
  kPause,          // Error threshold reached: pause.
  kHalt,           // Error threshold reached: halt.
  kRefuseAdvance,  // More devices report than the stage targets: the counts
                   // cannot be trusted, so the stage never advances on them.
};

// "none", "advance", "await-approval", "pause", "halt", "refuse-advance".
std::string_view ControllerActionName(ControllerAction action);

struct ControllerDecision {
  ControllerAction action = ControllerAction::kNone;
  // One line, e.g. "3 errors of 20 reporting (15.0%) >= 10.0%".
  std::string reason;
};

// The decision for the current stage of `manifest` given its counts, first
// match wins:
//   1. Not active, or a rollback order exists: kNone.
//   2. errors >= max_errors (when max_errors > 0): on_error.
//   3. reporting >= min_reporting and errors/reporting >= error_percent%:
//      on_error.
//   4. Final stage: kNone.
//   5. reporting > targeted (more devices report about the stage than it
//      covers): kRefuseAdvance. Stopping on errors (2, 3) stays possible,
//      since it is the safe direction; advancing never is.
//   6. The soak has not ended (SoakEndsAt): kNone.
//   7. reporting < min_reporting: kNone.
//   8. confirmed/reporting < success_percent%: kNone.
//   9. manual_approval: kAwaitApproval; else kAdvance.
// Requires a manifest that passes manifest::ValidateRolloutManifest.
ControllerDecision EvaluateStage(const manifest::RolloutManifest& manifest,
                                 const ControllerPolicy& policy, const StageCounts& current,
                                 manifest::TimePoint now);

}  // namespace ota::rollout

#endif  // OTA_ROLLOUT_CONTROLLER_H_
