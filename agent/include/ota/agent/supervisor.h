// The resident part of the agent on a device (ota-agentd): a small process
// that runs one check (`ota-agent daemon --until-idle`) per interval and
// sleeps in between. The libraries a check needs (HTTP and TLS, SQLite, the
// inference runtime) are loaded only while a check runs; a check that finds
// a confirmation window open stays until the version is committed or rolled
// back. The loop is separated from processes, signals and real time so tests
// can drive it.
#ifndef OTA_AGENT_SUPERVISOR_H_
#define OTA_AGENT_SUPERVISOR_H_

#include <chrono>
#include <functional>
#include <string>

#include "ota/common/env.h"

namespace ota::agent {

struct SupervisorOptions {
  std::chrono::seconds interval{3600};
  // Each wait is interval * (1 ± jitter), uniformly (see NextPollDelay).
  double jitter = 0.2;
  // After a check that did not end normally (the agent crashed, was killed
  // or could not open its state), the next one comes after `retry`, doubled
  // for each further failure in a row, never later than a normal wait.
  std::chrono::seconds retry{30};
  // Stop after this many checks (0 = until told to stop).
  int max_checks = 0;
};

// How one check ended.
struct CheckEnd {
  // The supervisor was told to stop while the check ran (the check was
  // asked to stop too and has ended).
  bool stopped = false;
  int exit_code = 0;  // When it exited.
  int signal = 0;     // When a signal ended it (exit_code then unused).
  // A check was asked for while this one ran (it may have polled before the
  // news): the next one starts at once.
  bool check_again = false;
  // The agent refused its arguments (exit code 2): no retry helps.
  bool usage_error() const { return signal == 0 && exit_code == 2; }
  bool ok() const { return signal == 0 && exit_code == 0; }
};

enum class WakeReason { kElapsed, kCheckNow, kStop };

struct SupervisorSeams {
  // Starts a check and returns once it has ended.
  std::function<CheckEnd()> run_check;
  // Waits up to `d`, or less if told to check now or to stop.
  std::function<WakeReason(std::chrono::milliseconds d)> wait;
  // One line for the log.
  std::function<void(const std::string&)> say;
};

struct SupervisorResult {
  int checks = 0;
  // Set when the agent refused its arguments; the process exits non-zero.
  bool usage_error = false;
};

// Runs checks until told to stop (or max_checks). Never runs two at once.
SupervisorResult RunSupervisor(const SupervisorOptions& options, Random& random,
                               const SupervisorSeams& seams);

// The wait after `failures` (>= 1) checks in a row that did not end
// normally: retry * 2^(failures-1), at most `normal`.
std::chrono::milliseconds RetryDelay(const SupervisorOptions& options, int failures,
                                     std::chrono::milliseconds normal);

}  // namespace ota::agent

#endif  // OTA_AGENT_SUPERVISOR_H_
