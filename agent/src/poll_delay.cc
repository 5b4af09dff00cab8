// The jittered wait between polls, in an object of its own: ota-agentd uses
// it without linking the agent.
#include <algorithm>
#include <cmath>

#include "ota/agent/daemon.h"

namespace ota::agent {

std::chrono::milliseconds NextPollDelay(const DaemonOptions& options, Random& random) {
  const double base = static_cast<double>(options.interval.count()) * 1000.0;
  const double jitter = std::clamp(options.jitter, 0.0, 0.99);
  // A uniform draw in [-1, 1] at millisecond-ish resolution.
  const double u = static_cast<double>(random.Uniform(2'000'001)) / 1'000'000.0 - 1.0;
  const double ms = std::max(1.0, base * (1.0 + jitter * u));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

}  // namespace ota::agent
