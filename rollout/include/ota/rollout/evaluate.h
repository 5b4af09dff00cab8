// Device-side rollout evaluation: given the signed rollout manifest of a
// model and what a device knows about itself, which version should the
// device run?
//
// Decide is a pure function (plan, then act): the agent gathers DeviceFacts
// and InstalledState, calls Decide, and executes the Decision. Nothing here
// reads a clock, a file or the network, so tests can enumerate every case.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef OTA_ROLLOUT_EVALUATE_H_
#define OTA_ROLLOUT_EVALUATE_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ota/manifest/rollout_manifest.h"
#include "ota/manifest/version.h"

namespace ota::rollout {

using manifest::TimePoint;

// What the device knows about itself. Plain values, so that a decision can be
// logged, replayed and tested.
struct DeviceFacts {
  std::string device_id;
  manifest::Version app_version;
  // Attribute name -> value, e.g. {"soc": "sm8650", "ram_gb": "8"}.
  std::map<std::string, std::string> attributes;
  std::set<std::string> tags;
  std::string region;  // Empty if unknown; then no region selector matches.
  // Bundle versions of this model the device is known to be able to run
  // (runtime, app compatibility, capabilities, space), as worked out by the
  // agent from signed metadata beforehand. A version not listed is treated as
  // not runnable: Decide never asks the device to install it.
  std::vector<manifest::Version> runnable_versions;
};

// What the device runs now for the manifest's model.
struct InstalledState {
  std::optional<manifest::Version> version;  // nullopt: nothing installed.
};

enum class DecisionKind {
  kInstall,          // Install `version` (the rollout target).
  kStay,             // Keep what is installed; `version` is the installed one, if any.
  kRollBack,         // Go back to `version` (a rollback order covers this device).
  kPinned,           // Run `version` because a pin matches the app version.
  kIncompatiblePin,  // A pin matches, but this device cannot run `version`;
                     // nothing changes on the device.
};

// "install", "stay", "roll-back", "pinned", "incompatible-pin".
std::string_view DecisionKindName(DecisionKind kind);

struct Decision {
  DecisionKind kind = DecisionKind::kStay;
  std::optional<manifest::Version> version;
  // One human-readable line saying why, e.g.
  // "bucket 1777 not in stage 1 (1.00%)".
  std::string reason;
};

// The rules, first match wins:
//   1. Pins: the first pin whose app_versions range holds the device's app
//      version decides. If the device cannot run the pinned version: the pin
//      is reported (kIncompatiblePin), never forced. If the rollout is halted
//      and the device is not already on the pinned version: kStay. Otherwise
//      kPinned.
//   2. Rollback order, in every state: a device that runs the target and is
//      in one of the named cohorts rolls back (kRollBack), if it can run the
//      rollback version; otherwise kStay.
//   3. A device already on the target stays on it (paused and halted
//      included).
//   4. No device newly moves to the target when a rollback order exists, the
//      rollout is halted or paused.
//   5. A device is in the rollout when CohortBucket(device_id, rollout_id) is
//      below the effective stage's percent (hundredths) and it matches the
//      effective stage's selectors; it installs the target if it can run it.
//      The effective stage is current_stage once `now` has reached
//      stage_started_at, and the stage before it until then (none before
//      stage 0): a stage signed ahead of its start time takes effect on time.
// Because buckets are stable and stage percents never decrease, raising the
// percent (with unchanged selectors) only adds devices.
// Requires a manifest that passes manifest::ValidateRolloutManifest.
Decision Decide(const manifest::RolloutManifest& manifest, const DeviceFacts& device,
                const InstalledState& installed, TimePoint now);

// True if the device matches `selectors` (every present condition holds).
// If `why_not` is not null and the device does not match, it receives the
// first failing condition, e.g. `region "us" is not one of eu, uk`.
bool MatchesSelectors(const manifest::StageSelectors& selectors, const DeviceFacts& device,
                      std::string* why_not = nullptr);

// The first stage of `manifest` whose cohort holds the device (its bucket is
// below the stage's percent and it matches the stage's selectors), or nullopt
// if no stage does. The server credits a device's reports about a rollout to
// this stage only, and counts it as targeted there.
// Requires a manifest that passes manifest::ValidateRolloutManifest.
std::optional<std::size_t> FirstStageOf(const manifest::RolloutManifest& manifest,
                                        const DeviceFacts& device);

// True if the device falls in rollback cohorts `cohorts` of `manifest`.
bool InRollbackCohorts(const manifest::RolloutManifest& manifest,
                       const manifest::RollbackCohorts& cohorts, const DeviceFacts& device);

// When the current stage's soak ends: stage_started_at + min_soak_seconds
// (TimePoint::max() if that is past what the clock can hold).
TimePoint SoakEndsAt(const manifest::RolloutManifest& manifest);

// True if the rollout may move to the next stage at `now`: there is a next
// stage, the rollout is active with no rollback order, and the current
// stage's soak has ended. Device reports (success and error thresholds) are
// the server controller's business, not checked here.
bool NextStageAllowed(const manifest::RolloutManifest& manifest, TimePoint now);

}  // namespace ota::rollout

#endif  // OTA_ROLLOUT_EVALUATE_H_
