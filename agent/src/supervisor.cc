#include "ota/agent/supervisor.h"

#include <algorithm>

#include "ota/agent/daemon.h"

namespace ota::agent {

std::chrono::milliseconds RetryDelay(const SupervisorOptions& options, int failures,
                                     std::chrono::milliseconds normal) {
  std::chrono::milliseconds d =
      std::max<std::chrono::milliseconds>(options.retry, std::chrono::seconds(1));
  for (int i = 1; i < failures && d < normal; ++i) d *= 2;
  return std::min(d, normal);
}

namespace {

std::string Describe(const CheckEnd& end) {
  if (end.signal != 0) return "ended by signal " + std::to_string(end.signal);
  return "exit " + std::to_string(end.exit_code);
}

std::string Seconds(std::chrono::milliseconds d) {
  return std::to_string((d.count() + 500) / 1000) + " s";
}

}  // namespace

SupervisorResult RunSupervisor(const SupervisorOptions& options, Random& random,
                               const SupervisorSeams& seams) {
  DaemonOptions polling;
  polling.interval = options.interval;
  polling.jitter = options.jitter;
  SupervisorResult result;
  int failures = 0;
  while (true) {
    const CheckEnd end = seams.run_check();
    ++result.checks;
    const std::string name = "check " + std::to_string(result.checks);
    if (end.stopped) {
      seams.say(name + " stopped (" + Describe(end) + ")");
      break;
    }
    if (end.usage_error()) {
      seams.say(name + ": ota-agent refused its arguments (exit 2); not retrying");
      result.usage_error = true;
      break;
    }
    std::chrono::milliseconds delay = NextPollDelay(polling, random);
    std::string outcome = name + " done";
    if (end.ok()) {
      failures = 0;
    } else {
      ++failures;
      delay = RetryDelay(options, failures, delay);
      outcome = name + " failed (" + Describe(end) + ")";
    }
    // A check asked for while this one ran may bring news it polled before:
    // it starts at once.
    if (end.check_again) {
      seams.say(outcome + "; asked for again meanwhile, checking now");
    } else {
      seams.say(outcome + (end.ok() ? "; next in " : "; retry in ") + Seconds(delay));
    }
    if (options.max_checks > 0 && result.checks >= options.max_checks) break;
    if (end.check_again) continue;
    if (seams.wait(delay) == WakeReason::kStop) break;
  }
  return result;
}

}  // namespace ota::agent
