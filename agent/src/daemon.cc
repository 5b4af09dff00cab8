#include "ota/agent/daemon.h"

#include <algorithm>
#include <cmath>

namespace ota::agent {

std::chrono::milliseconds NextPollDelay(const DaemonOptions& options, Random& random) {
  const double base = static_cast<double>(options.interval.count()) * 1000.0;
  const double jitter = std::clamp(options.jitter, 0.0, 0.99);
  // A uniform draw in [-1, 1] at millisecond-ish resolution.
  const double u = static_cast<double>(random.Uniform(2'000'001)) / 1'000'000.0 - 1.0;
  const double ms = std::max(1.0, base * (1.0 + jitter * u));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

int RunDaemon(Agent& agent, const DaemonOptions& options, Random& random, const WaitFn& wait,
              const CycleFn& on_cycle) {
  int cycles = 0;
  while (true) {
    auto result = agent.Update(nullptr);
    ++cycles;
    if (on_cycle) on_cycle(result);
    if (options.max_cycles > 0 && cycles >= options.max_cycles) break;
    if (!wait(NextPollDelay(options, random))) break;
  }
  return cycles;
}

}  // namespace ota::agent
