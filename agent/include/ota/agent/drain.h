// Drain: the agent's side of session leases (see leases.h for the lock-file
// protocol). Activation waits for sessions on the old version according to a
// per-model policy, and version removal refuses versions that are leased.
//
// These functions never block on a lock: they probe with LOCK_EX|LOCK_NB and
// poll with the injected clock's SleepFor, so tests use a ManualClock.
// Not thread-safe with each other for the same model (the agent drives them
// from one thread); safe against any number of lease holders.
#ifndef OTA_AGENT_DRAIN_H_
#define OTA_AGENT_DRAIN_H_

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota::agent {

enum class DrainPolicy {
  // Switch only at a moment when no session holds the old version. Sessions
  // started meanwhile still get the old version. If that moment does not come
  // before the deadline, do not switch: the activation is deferred and the
  // next update cycle retries.
  kDefer,
  // Switch at once: new sessions get the new version immediately. Sessions on
  // the old version finish on it; the old folder stays until they end.
  kSwitchNewFirst,
};

std::string_view DrainPolicyName(DrainPolicy policy);
// "defer" or "switch-new-first".
std::optional<DrainPolicy> ParseDrainPolicy(std::string_view name);

struct DrainOptions {
  DrainPolicy policy = DrainPolicy::kSwitchNewFirst;
  // How long to wait for sessions on the old version.
  std::chrono::milliseconds deadline{30000};
  // Pause between probes of the old version's lease file.
  std::chrono::milliseconds poll{20};
};

struct DrainReport {
  bool switched = false;     // The pointer now names the new version.
  bool old_released = true;  // No session held the old version at the end.
  std::chrono::milliseconds waited{0};
};

// Switches `model` from `old_id` (nullopt: nothing active) to `new_id` by
// calling `do_switch` (the atomic pointer switch, VersionStore::Activate),
// following `options.policy`:
//   kDefer           switched=false (and no call to do_switch) when the old
//                    version was held throughout the deadline;
//   kSwitchNewFirst  always switches first, then waits up to the deadline for
//                    the old version's sessions; old_released says whether
//                    they ended (if not, the old folder is simply kept: removal
//                    refuses leased versions).
// Errors: do_switch's error; kIo when a lease file cannot be opened.
Result<DrainReport> ActivateWithDrain(const std::string& state_dir, const std::string& model,
                                      const std::optional<std::string>& old_id,
                                      const std::string& new_id, const DrainOptions& options,
                                      Platform& platform, Clock& clock,
                                      const std::function<Status()>& do_switch);

// Whether any session (in any process) holds a lease on the version.
Result<bool> IsHeld(Platform& platform, const std::string& state_dir,
                    const std::string& version_id);

// Runs `remove` (deleting the version folder) only if no session holds the
// version, keeping new leases out while it runs; then deletes the version's
// lease file. Returns false, without calling `remove`, when the version is
// leased. Errors: `remove`'s error; kIo when the lease file cannot be opened.
Result<bool> RemoveIfUnheld(Platform& platform, const std::string& state_dir,
                            const std::string& version_id, const std::function<Status()>& remove);

}  // namespace ota::agent

#endif  // OTA_AGENT_DRAIN_H_
