// Rollback drills on a simulated fleet (docs/drills.md): a real ota-server
// on loopback (in process, its controller and publisher included) and one
// real agent-library instance per device, each with its own state folder,
// keys and facts, on an injected clock that jumps from one check-in to the
// next, so hours of rollout pass in seconds. Inference is simulated
// (sim_runtime.h); the scenario's faults decide what the new version does on
// which devices. The run ends with a report measured from what happened.
#ifndef OTA_TOOLS_DRILL_DRILL_H_
#define OTA_TOOLS_DRILL_DRILL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"
#include "ota/manifest/drill_scenario.h"

namespace ota::drill {

// The largest fleet a drill with the real runtime takes: each device loads
// and shadow-tests real models with llama.cpp.
inline constexpr std::uint64_t kRealRuntimeMaxDevices = 20;

struct DrillOptions {
  // Holds the repository, keys, server database and device folders. Created
  // when missing; must be empty when it exists.
  std::string work_dir;
  // The otactl program that builds and signs the releases (keys, repository,
  // models, bundles).
  std::string otactl;
  // Devices run the real llama.cpp runtime (the agent's default registry) on
  // real synthesized models instead of the simulated runtime, so shadow
  // tests and model loads are real; at most kRealRuntimeMaxDevices devices.
  // Faults of the model (shadow-fail, load-fail) are then variants of the
  // new release, broken for real, that only the devices they hit select.
  bool real_runtime = false;
  // Threads that run devices' check-ins side by side (0: one per core; one
  // with the real runtime or truncated downloads). Within one minute of
  // simulated time devices are independent, so their check-ins run
  // together; the server sees them at that minute's first second. The same
  // seed plays the same drill whatever the number.
  unsigned threads = 0;
  // Devices' agents kept open at once (0: as many as the open-file limit
  // allows, each holding about five files). The others are closed between
  // their check-ins and opened again for the next one, as a command (the
  // daemon a device plays does not restart), so a fleet larger than the
  // limit allows still plays the same drill.
  std::size_t max_open_agents = 0;
  // Called with one line per phase of the run; may be empty.
  std::function<void(const std::string&)> progress;
  // Tests: called with a device's state folder right after its power cut,
  // before it starts again (to break what a cut must never break); may be
  // empty.
  std::function<void(const std::string& state_dir)> after_power_cut;
};

// Devices per version at one moment of simulated time.
struct DrillSample {
  std::int64_t t = 0;  // Seconds since the rollout was created.
  std::uint64_t on_from = 0, on_to = 0, other = 0;
};

// A stage change, a stop or a rollback order.
struct DrillMark {
  std::int64_t t = 0;
  std::string what;  // "stage 1", "halted", "paused", "rollback ordered", ...
};

// A device whose power was cut mid-update, and what it ran afterwards.
struct DrillPowerCut {
  std::string device_id;
  std::int64_t t = 0;            // Seconds since the rollout was created.
  std::uint64_t operation = 0;   // The cut came right after this mutating file operation
  std::uint64_t operations = 0;  // of this many in the uninterrupted cycle.
  bool mid_update = true;        // False when the cycle ended first (cut at its end).
  // The verified active version right after the cut and at the end of the
  // drill, or "broken: <why>".
  std::string after_cut;
  std::string at_end;
  bool verified = false;  // Both are the old or the new version, and the agent agrees at the end.
};

struct DrillCheck {
  std::string name;
  bool passed = false;
  std::string detail;
};

struct DrillReport {
  std::string scenario;
  std::uint64_t devices = 0;
  std::int64_t simulated_seconds = 0;
  std::uint64_t device_checks = 0;  // Update cycles run.
  // Seconds since the rollout was created; nullopt when it never happened.
  std::optional<std::int64_t> first_failure_at;  // A device reported a failure.
  std::optional<std::int64_t> stopped_at;        // Halted or paused.
  std::string stopped_state;                     // "halted" or "paused".
  std::optional<std::int64_t> stopped_stage;     // Its current stage then.
  std::optional<std::int64_t> rollback_at;       // The rollback order.
  std::uint64_t max_stage = 0;                   // Highest stage reached.
  // Devices that ever activated the new version, and those of them outside
  // the first stage's cohort.
  std::uint64_t exposed = 0;
  std::uint64_t exposed_outside_canary = 0;
  // Seconds from the rollback order until each exposed device was back.
  std::vector<std::int64_t> back_after;
  // Exposed devices still not back at the end, after a rollback order.
  std::uint64_t never_back = 0;
  std::uint64_t on_to_at_end = 0;
  std::uint64_t on_from_at_end = 0;
  // Devices whose last deployment ended with an error, by its message.
  std::vector<std::pair<std::string, std::uint64_t>> stuck;
  std::uint64_t reports_lost = 0;         // Events still undelivered after a final flush.
  std::vector<DrillPowerCut> power_cuts;  // One per device that lost power.
  // Devices whose agent did not start again after their power cut (they
  // took no further part; their undelivered events are unknown).
  std::uint64_t not_starting = 0;
  std::uint64_t power_lost_verified = 0;  // Of those, the ones with `verified`.
  std::uint64_t bytes_total = 0;          // Downloaded during the drill.
  std::uint64_t bytes_max = 0;            // By one device.
  std::vector<DrillSample> timeline;
  std::vector<DrillMark> marks;
  std::vector<DrillCheck> checks;  // The scenario's expectations.
  bool passed = true;              // Every check passed.

  nlohmann::json ToJson() const;
  // The terminal table.
  std::string Table() const;
  // Devices per version over time, with the marks: a self-contained SVG.
  std::string TimelineSvg() const;
};

// Plays `scenario`. Errors: setup failures (kIo, kInvalidArgument for a
// policy the server refuses or a fleet too large for the real runtime,
// kInternal when otactl fails), never the
// outcome of the drill itself, which the report tells.
Result<DrillReport> RunDrill(const manifest::DrillScenario& scenario, const DrillOptions& options);

// Fills report.checks and report.passed from the scenario's expectations
// and the rules every drill holds to: no report is ever lost, and a device
// that lost power mid-update runs a verified version.
void EvaluateExpectations(const manifest::DrillScenario& s, DrillReport& report);

// The p-th percentile (0..100, nearest rank) of `values`; 0 when empty.
std::int64_t Percentile(std::vector<std::int64_t> values, int p);

}  // namespace ota::drill

#endif  // OTA_TOOLS_DRILL_DRILL_H_
