// ota-agent daemon: poll and update until SIGTERM or SIGINT; with
// --until-idle, one check of ota-agentd (exit once nothing is confirming).
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <vector>

#include "commands.h"
#include "ota/agent/daemon.h"
#include "output.h"

namespace ota::agent::cli {
namespace {

struct DaemonArgs {
  int interval = 3600;
  double jitter = 0.2;
  int confirm_poll = 30;
  bool until_idle = false;
};

// Blocks until `d` passes or SIGTERM/SIGINT arrives (signals are blocked in
// every thread and taken synchronously, so no handler races the agent).
bool WaitOrStop(std::chrono::milliseconds d) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  timespec ts{static_cast<time_t>(d.count() / 1000),
              static_cast<long>((d.count() % 1000) * 1000000)};
  while (true) {
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) return false;
    if (sig < 0 && errno == EINTR) continue;
    return true;  // Timed out: time for the next cycle.
  }
}

void PrintCycle(const Result<std::vector<UpdateOutcome>>& r) {
  if (!r.ok()) {
    std::fprintf(stderr, "ota-agent: cycle failed: %s\n", r.error().ToString().c_str());
    return;
  }
  for (const UpdateOutcome& o : *r) PrintOutcome(o);
  std::fflush(stdout);
}

int RunDaemonCommand(Env& env, Agent& agent, const DaemonArgs& args) {
  DaemonOptions d;
  d.interval = std::chrono::seconds(args.interval);
  d.jitter = args.jitter;
  d.confirm_poll = std::chrono::seconds(args.confirm_poll);
  d.until_idle = args.until_idle;
  if (!args.until_idle) {
    std::fprintf(stderr, "ota-agent: daemon polling every %ds (±%.0f%%)\n", args.interval,
                 args.jitter * 100);
  }
  RunDaemon(agent, d, *env.random, WaitOrStop, PrintCycle);
  if (!args.until_idle) std::fprintf(stderr, "ota-agent: stopped\n");
  return 0;
}

}  // namespace

void RegisterDaemonCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* selected) {
  auto args = std::make_shared<DaemonArgs>();
  auto* daemon = app.add_subcommand("daemon", "Poll and update until SIGTERM");
  daemon->add_option("--interval", args->interval, "Seconds between cycles")
      ->check(CLI::Range(1, 604800));
  daemon->add_option("--jitter", args->jitter, "Fraction of the interval to randomize")
      ->check(CLI::Range(0.0, 0.9));
  daemon
      ->add_option("--confirm-poll", args->confirm_poll,
                   "Seconds between local re-checks while a confirmation window is open")
      ->check(CLI::Range(1, 86400));
  daemon->add_flag("--until-idle", args->until_idle,
                   "Exit once a cycle leaves nothing confirming (one check of ota-agentd)");
  daemon->callback([args, &global, selected] {
    selected->run = OnAgent(global, AgentAccess::kUpdate, [args](Env& env, Agent& agent) {
      return RunDaemonCommand(env, agent, *args);
    });
    selected->takes_stop_signals = true;
  });
}

}  // namespace ota::agent::cli
