#include "ota/agent/daemon.h"

#include <algorithm>

namespace ota::agent {

namespace {

bool Confirming(const Result<std::vector<UpdateOutcome>>& result) {
  if (!result.ok()) return false;
  return std::any_of(result->begin(), result->end(),
                     [](const UpdateOutcome& o) { return o.confirming; });
}

}  // namespace

int RunDaemon(Agent& agent, const DaemonOptions& options, Random& random, const WaitFn& wait,
              const CycleFn& on_cycle) {
  int cycles = 0;
  const std::chrono::milliseconds poll =
      std::max<std::chrono::milliseconds>(options.confirm_poll, std::chrono::seconds(1));
  while (true) {
    auto result = agent.Update(nullptr);
    ++cycles;
    if (on_cycle) on_cycle(result);
    if (options.max_cycles > 0 && cycles >= options.max_cycles) break;
    std::chrono::milliseconds delay = NextPollDelay(options, random);
    // A confirmation window is open: re-check it locally every `poll`
    // within the wait, instead of once per cycle.
    while (Confirming(result) && delay > poll) {
      if (!wait(poll)) return cycles;
      delay -= poll;
      result = agent.Resume();
      if (on_cycle && !Confirming(result)) on_cycle(result);
    }
    if (options.until_idle && !Confirming(result)) break;
    if (!wait(delay)) break;
  }
  return cycles;
}

}  // namespace ota::agent
