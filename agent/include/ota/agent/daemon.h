// The agent's polling loop, separated from signals and real time so tests
// can drive it.
#ifndef OTA_AGENT_DAEMON_H_
#define OTA_AGENT_DAEMON_H_

#include <chrono>
#include <functional>

#include "ota/agent/agent.h"
#include "ota/common/env.h"

namespace ota::agent {

struct DaemonOptions {
  std::chrono::seconds interval{3600};
  // Each wait is interval * (1 ± jitter), uniformly: a fleet that booted
  // together does not poll together.
  double jitter = 0.2;
  // Stop after this many cycles (0 = until told to stop).
  int max_cycles = 0;
  // While a new version's confirmation window is open, how often the daemon
  // re-checks it (Agent::Resume: local only, no network) between cycles.
  std::chrono::seconds confirm_poll{30};
  // Return after the first cycle (or re-check) that leaves nothing
  // confirming, instead of waiting for the next cycle: one check of a
  // resident supervisor (ota-agentd, see supervisor.h).
  bool until_idle = false;
};

// Waits up to `d`; returns false if the daemon must stop (SIGTERM).
using WaitFn = std::function<bool(std::chrono::milliseconds d)>;
// Called after each cycle with its outcomes or error.
using CycleFn = std::function<void(const Result<std::vector<UpdateOutcome>>&)>;

// The wait before the next cycle, jitter applied. Requires 0 <= jitter < 1.
std::chrono::milliseconds NextPollDelay(const DaemonOptions& options, Random& random);

// Runs Update() cycles until `wait` says stop (or, with until_idle, until
// nothing is confirming). Returns the number of cycles (Update calls;
// confirmation re-checks are not counted). While an outcome is confirming,
// the wait is cut into confirm_poll steps, each followed by Resume();
// `on_cycle` sees a re-check's result once it is no longer confirming.
int RunDaemon(Agent& agent, const DaemonOptions& options, Random& random, const WaitFn& wait,
              const CycleFn& on_cycle);

}  // namespace ota::agent

#endif  // OTA_AGENT_DAEMON_H_
