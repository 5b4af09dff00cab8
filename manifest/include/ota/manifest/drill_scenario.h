// Rollback drill scenarios (docs/drills.md): a simulated fleet, the release
// and staged rollout it receives, the faults the new version brings, how the
// operator responds, and what the drill expects. Parsed once here into
// validated types; `otactl drill run` plays them.
#ifndef OTA_MANIFEST_DRILL_SCENARIO_H_
#define OTA_MANIFEST_DRILL_SCENARIO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"
#include "ota/manifest/version.h"

namespace ota::manifest {

inline constexpr std::string_view kDrillSchema = "modelota.drill/1";
inline constexpr std::uint64_t kDrillMaxDevices = 100000;

// Devices of the fleet that share facts. Groups take their share of the
// fleet in order; devices left over belong to no group.
struct DrillGroup {
  std::string name;               // [a-z0-9._-]{1,64}, unique.
  std::uint32_t percent = 0;      // Share of the fleet, 1..100 (all groups: <= 100).
  std::vector<std::string> tags;  // Device facts the group's devices report.
  std::string region;             // "" when none.
  std::string app_version;        // "" when none; else a semantic version.
};

struct DrillFleet {
  std::uint64_t devices = 0;                 // 1..kDrillMaxDevices.
  std::uint64_t check_interval_seconds = 0;  // 60..604800.
  std::uint64_t jitter_seconds = 0;          // 0..check_interval_seconds.
  std::vector<DrillGroup> groups;
};

struct DrillStage {
  std::uint32_t percent = 0;  // 1..100, increasing; the last one is 100.
  std::uint64_t soak_seconds = 0;
};

enum class DrillFaultKind {
  kShadowFail,            // The new version fails its shadow test.
  kSessionsFail,          // It passes shadow, but the app's sessions on it fail.
  kCrashAfterActivation,  // The app (and the agent with it) keeps restarting on it.
  kLoadFail,              // Its model does not load on the device.
  kPowerLoss,             // The device loses power mid-update and reboots.
};

std::string_view DrillFaultName(DrillFaultKind kind);

// A fault of the new version on the devices of `groups` (every device when
// empty), on `percent` of them (chosen from the scenario's seed).
struct DrillFault {
  DrillFaultKind kind = DrillFaultKind::kShadowFail;
  std::vector<std::string> groups;  // Names of DrillFleet::groups.
  std::uint32_t percent = 100;      // 1..100.
};

// The server unreachable from `at_seconds` (after the rollout is created)
// for `duration_seconds`.
struct DrillOutage {
  std::uint64_t at_seconds = 0;
  std::uint64_t duration_seconds = 0;
};

// What the network does to the fleet.
struct DrillNetwork {
  std::vector<DrillOutage> outages;  // In time order, not overlapping.
  // The first this many downloads of signed targets are cut off after
  // `truncate_after_bytes` body bytes (devices resume them).
  std::uint64_t truncated_downloads = 0;
  std::uint64_t truncate_after_bytes = 4096;
};

// What the operator does when the controller stops the rollout.
struct DrillOperator {
  bool rollback_on_stop = true;        // Order a rollback to the old version.
  std::uint64_t reaction_seconds = 0;  // After the halt or pause, 0..604800.
};

// Pass/fail conditions; absent ones are not checked.
struct DrillExpect {
  // The rollout is halted or paused while its current stage is below this
  // index (1: in the canary, the first stage).
  std::optional<std::uint32_t> stopped_before_stage;
  // No device outside the first stage's cohort ever activates the new version.
  bool canary_only = false;
  // At most this share (percent) of the fleet ever activates it.
  std::optional<std::uint32_t> max_exposed_percent;
  // Every device that activated it is back on the old version this long
  // after the rollback order.
  std::optional<std::uint64_t> all_back_within_seconds;
};

struct DrillScenario {
  std::string name;  // [a-z0-9._-]{1,64}.
  std::string description;
  std::uint64_t seed = 1;
  DrillFleet fleet;
  Version from;  // The version the fleet runs.
  Version to;    // The release the drill rolls out; must be higher.
  std::vector<DrillStage> stages;
  // The controller policy (docs/server-api.md "Controller policy"), passed
  // to the server as it is; the server validates it.
  nlohmann::json policy = nlohmann::json::object();
  std::uint64_t controller_interval_seconds = 300;  // 10..86400.
  std::vector<DrillFault> faults;
  DrillNetwork network;
  DrillOperator response;
  DrillExpect expect;
  std::uint64_t duration_seconds = 0;  // Simulated time, 60..31536000.
};

// Parses and validates a scenario (JSON text, at most 1 MiB). Every field
// is typed, unknown fields are refused, and cross-field rules hold (stages
// increase and end at 100, groups fit the fleet, faults name known groups,
// `to` > `from`). kInvalidArgument naming the field and the rule.
Result<DrillScenario> ParseDrillScenario(std::string_view json_text);

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_DRILL_SCENARIO_H_
