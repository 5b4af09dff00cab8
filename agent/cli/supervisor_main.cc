// ota-agentd: the resident agent process on a device. It sleeps between
// checks and runs each check as `ota-agent OPTIONS daemon --until-idle`, so
// between checks only this small process stays in memory (see
// docs/operator-guide.md, "Running the agent").
//
//   ota-agentd [--agent PATH] [--interval S] [--jitter F] [--retry S]
//              [--confirm-poll S] -- OTA_AGENT_OPTIONS...
//
// Signals: SIGTERM, SIGINT or SIGHUP stop it (a running check is asked to
// stop with SIGTERM and waited for); SIGUSR1 starts a check now (or right
// after the running one).
// Exit codes: 0 stopped; 1 the agent program cannot be run; 2 usage error
// (its own, or ota-agent refusing the options passed to it); 70 an internal
// error (ota/common/main_guard.h).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ota/agent/supervisor.h"
#include "ota/common/main_guard.h"

extern char** environ;

namespace ota::agent {
namespace {

void Say(const std::string& line) {
  std::printf("ota-agentd: %s\n", line.c_str());
  std::fflush(stdout);
}

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

bool IsStop(int sig) { return sig == SIGTERM || sig == SIGINT || sig == SIGHUP; }

// Every signal this process takes, synchronously.
sigset_t HandledSignals() {
  sigset_t set = StopSignals();
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGCHLD);
  return set;
}

// The ota-agent next to this program.
std::string DefaultAgentPath() {
  std::vector<char> buf(4096);
  const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return "ota-agent";
  std::string self(buf.data(), static_cast<std::size_t>(n));
  const auto slash = self.rfind('/');
  return self.substr(0, slash + 1) + "ota-agent";
}

// Starts the check and waits for it, passing a stop request on.
CheckEnd RunCheck(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  const sigset_t handled = HandledSignals();
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &handled);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], nullptr, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  CheckEnd end;
  if (rc != 0) {
    Say("cannot start " + argv[0] + ": " + std::strerror(rc));
    end.exit_code = 127;
    return end;
  }
  while (true) {
    const int sig = ::sigwaitinfo(&handled, nullptr);
    if (sig < 0) continue;  // EINTR.
    if (IsStop(sig) && !end.stopped) {
      end.stopped = true;
      ::kill(pid, SIGTERM);
    }
    if (sig == SIGUSR1) end.check_again = true;  // Runs once this one ends.
    if (sig != SIGCHLD) continue;
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done != pid) continue;
    if (WIFSIGNALED(status)) {
      end.signal = WTERMSIG(status);
    } else {
      end.exit_code = WEXITSTATUS(status);
    }
    return end;
  }
}

WakeReason Wait(std::chrono::milliseconds d) {
  const sigset_t handled = HandledSignals();
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return WakeReason::kElapsed;
    timespec ts{static_cast<time_t>(left.count() / 1'000'000'000),
                static_cast<long>(left.count() % 1'000'000'000)};
    const int sig = ::sigtimedwait(&handled, nullptr, &ts);
    if (sig == SIGUSR1) return WakeReason::kCheckNow;
    if (sig > 0 && IsStop(sig)) return WakeReason::kStop;
    // Timed out (the loop re-checks the deadline), EINTR, or a stray SIGCHLD.
  }
}

int Main(int argc, char** argv) {
  CLI::App app{"ModelOTA resident agent: runs an ota-agent check every interval"};
  std::string agent_path = DefaultAgentPath();
  int interval = 3600;
  double jitter = 0.2;
  int retry = 30;
  int confirm_poll = 30;
  std::vector<std::string> agent_options;
  app.add_option("--agent", agent_path, "The ota-agent program (default: the one next to this)");
  app.add_option("--interval", interval, "Seconds between checks")->check(CLI::Range(1, 604800));
  app.add_option("--jitter", jitter, "Fraction of the interval to randomize")
      ->check(CLI::Range(0.0, 0.9));
  app.add_option("--retry", retry,
                 "Seconds before the next check after one that failed (doubles per failure)")
      ->check(CLI::Range(1, 86400));
  app.add_option("--confirm-poll", confirm_poll,
                 "Seconds between a check's local re-checks of an open confirmation window")
      ->check(CLI::Range(1, 86400));
  app.add_option("agent-options", agent_options,
                 "After --: ota-agent's own options (e.g. --state-dir DIR)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (::access(agent_path.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "ota-agentd: cannot run %s: %s\n", agent_path.c_str(),
                 std::strerror(errno));
    return 1;
  }
  // Blocked before anything else runs; taken with sigwaitinfo/sigtimedwait.
  // SIGCHLD inherited as ignored would reap checks behind waitpid's back.
  ::signal(SIGCHLD, SIG_DFL);
  const sigset_t handled = HandledSignals();
  ::sigprocmask(SIG_BLOCK, &handled, nullptr);

  std::vector<std::string> check = {agent_path};
  check.insert(check.end(), agent_options.begin(), agent_options.end());
  check.insert(check.end(),
               {"daemon", "--until-idle", "--interval", std::to_string(interval), "--jitter",
                std::to_string(jitter), "--confirm-poll", std::to_string(confirm_poll)});
  SupervisorOptions options;
  options.interval = std::chrono::seconds(interval);
  options.jitter = jitter;
  options.retry = std::chrono::seconds(retry);
  auto random = MakeSecureRandom();
  SupervisorSeams seams;
  seams.run_check = [&check] { return RunCheck(check); };
  seams.wait = Wait;
  seams.say = Say;
  Say("checking every " + std::to_string(interval) + " s with " + agent_path);
  const SupervisorResult r = RunSupervisor(options, *random, seams);
  Say("stopped after " + std::to_string(r.checks) + " check(s)");
  return r.usage_error ? 2 : 0;
}

}  // namespace
}  // namespace ota::agent

int main(int argc, char** argv) {
  return ota::RunGuardedMain("ota-agentd", [&] { return ota::agent::Main(argc, argv); });
}
